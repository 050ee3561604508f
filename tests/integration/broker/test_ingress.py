"""The ingress contract: methods, paths, content modes, extensions, TTL, durability answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.integration.broker.conftest import (
    NAMESPACE,
    BrokerLauncher,
    RunningBroker,
    StartBroker,
    trigger_doc,
)
from tests.support.subscriber import Subscriber


@pytest.fixture(scope="module")
def shared_sink() -> Iterator[Subscriber]:
    with Subscriber() as subscriber:
        yield subscriber


@pytest.fixture
def sink(shared_sink: Subscriber) -> Subscriber:
    shared_sink.reset()
    return shared_sink


@pytest.fixture(scope="module")
def broker(module_launcher: BrokerLauncher, shared_sink: Subscriber) -> RunningBroker:
    return module_launcher([trigger_doc("all", shared_sink.url + "/all")])


def test_options_answers_the_webhook_handshake(broker: RunningBroker) -> None:
    response = httpx.options(broker.ingress)
    assert response.status_code == 200
    assert response.headers["allow"] == "POST, OPTIONS"
    assert response.headers["webhook-allowed-origin"] == "*"
    assert response.headers["webhook-allowed-rate"] == "*"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_methods_other_than_post_get_405(broker: RunningBroker, method: str) -> None:
    response = httpx.request(method, broker.ingress)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 404),
        ("/only-one", 400),
        (f"/{NAMESPACE}/default/extra", 400),
        (f"/{NAMESPACE}/no-such-broker", 404),
        ("/other-namespace/default", 404),
    ],
)
def test_paths(broker: RunningBroker, path: str, status: int) -> None:
    response = httpx.post(
        broker.url + path,
        headers={"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"},
    )
    assert response.status_code == status


def test_trailing_slash_is_the_same_broker(broker: RunningBroker, sink: Subscriber) -> None:
    response = httpx.post(
        broker.ingress + "/",
        headers={"ce-specversion": "1.0", "ce-id": "slash", "ce-source": "/s", "ce-type": "t"},
    )
    assert response.status_code == 202
    assert sink.wait_for(1)[0].ce["id"] == "slash"


def test_binary_event_is_accepted_stamped_and_delivered(
    broker: RunningBroker, sink: Subscriber
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = broker.send("user.storeUser", id="b-1", data=b'{"id": "42"}', subject="42")
    assert response.status_code == 202
    assert response.content == b""
    received = sink.wait_for(1)[0]
    assert received.ce["id"] == "b-1"
    assert received.ce["type"] == "user.storeUser"
    assert received.ce["subject"] == "42"
    assert received.body == b'{"id": "42"}'
    assert received.headers["content-type"] == "application/json"
    arrival = datetime.fromisoformat(received.ce["knativearrivaltime"].replace("Z", "+00:00"))
    assert before <= arrival <= datetime.now(UTC)
    # The hop counter is the broker's business and never reaches a subscriber.
    assert "knativebrokerttl" not in received.ce


def test_structured_event_is_accepted_and_delivered_binary(
    broker: RunningBroker, sink: Subscriber
) -> None:
    event = {
        "specversion": "1.0",
        "id": "s-1",
        "source": "/tests",
        "type": "structured.test",
        "datacontenttype": "application/json",
        "data": {"hello": "world"},
    }
    response = httpx.post(
        broker.ingress,
        headers={"content-type": "application/cloudevents+json"},
        content=json.dumps(event),
    )
    assert response.status_code == 202
    received = sink.wait_for(1)[0]
    assert received.ce["id"] == "s-1"
    assert json.loads(received.body) == {"hello": "world"}


def test_batch_mode_is_refused_with_400(broker: RunningBroker, sink: Subscriber) -> None:
    batch = [{"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}]
    response = httpx.post(
        broker.ingress,
        headers={"content-type": "application/cloudevents-batch+json"},
        content=json.dumps(batch),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "batch_not_supported"
    assert sink.settle(0.3) == []


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"content-type": "application/json"}, b"{}"),  # no ce- headers at all
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"}, b""),  # no type
        ({"ce-specversion": "0.3", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}, b""),
        ({"content-type": "application/cloudevents+json"}, b"{not json"),
        ({"content-type": "application/cloudevents+avro"}, b"\x00"),
    ],
)
def test_invalid_events_get_400(
    broker: RunningBroker, headers: dict[str, str], body: bytes
) -> None:
    response = httpx.post(broker.ingress, headers=headers, content=body)
    assert response.status_code == 400
    assert "error" in response.json()


@pytest.mark.parametrize("ttl", ["0", "-1"])
def test_exhausted_ttl_is_rejected(broker: RunningBroker, sink: Subscriber, ttl: str) -> None:
    response = broker.send("t", knativebrokerttl=ttl)
    assert response.status_code == 400
    assert response.json()["error"] == "ttl_exhausted"
    assert sink.settle(0.3) == []


def test_positive_ttl_is_accepted(broker: RunningBroker, sink: Subscriber) -> None:
    assert broker.send("t", knativebrokerttl="1").status_code == 202
    sink.wait_for(1)


def test_body_over_the_limit_gets_413(start_broker: StartBroker) -> None:
    sink = Subscriber().start()
    broker = start_broker([trigger_doc("all", sink.url)], env={"MAX_BODY_BYTES": "2048"})
    assert broker.send("t", data=b"x" * 4096).status_code == 413
    assert broker.send("t", data=b'"small"').status_code == 202
    sink.wait_for(1)
    sink.stop()


def test_event_matching_no_trigger_is_accepted_and_dropped(start_broker: StartBroker) -> None:
    sink = Subscriber().start()
    broker = start_broker([trigger_doc("only-a", sink.url, filters=[{"exact": {"type": "a"}}])])
    assert broker.send("b").status_code == 202
    assert broker.send("a").status_code == 202
    assert [r.ce["type"] for r in sink.settle(0.3)] == ["a"]
    sink.stop()
