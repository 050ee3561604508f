"""Delivery to subscribers: retriable and final statuses, backoff timing, timeouts,
dead letters with the knativeerror* extensions, format, headers, DeliverySpec rules."""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator

import pytest

from devstack import free_port
from tests.integration.broker.conftest import (
    NAMESPACE,
    BrokerLauncher,
    RunningBroker,
    StartBroker,
    trigger_doc,
)
from tests.support.subscriber import Answer, Received, Subscriber

RETRIABLE = [404, 408, 409, 429, 500, 502, 503, 504]
NOT_RETRIABLE = [400, 401, 403, 410, 413, 422, 301, 302]
RETRY = 2  # three attempts


def _by_path(received: Received) -> Answer:
    # /status/<code> answers <code> with a small body; /dead-letter answers 202.
    if received.path.startswith("/status/"):
        code = int(received.path.rsplit("/", 1)[1])
        headers = {"location": "http://127.0.0.1:1/"} if 300 <= code < 400 else {}
        return Answer(code, f"failed with {code}".encode(), headers)
    return Answer(202)


@pytest.fixture(scope="module")
def statuses(module_launcher: BrokerLauncher) -> Iterator[tuple[RunningBroker, Subscriber]]:
    """One Trigger per status code (filter on type), retry 2 without backoff, one DLS."""
    with Subscriber(answer=_by_path) as subscriber:
        delivery = {"retry": RETRY, "deadLetterSink": {"uri": subscriber.url + "/dead-letter"}}
        triggers = [
            trigger_doc(
                f"status-{code}",
                f"{subscriber.url}/status/{code}",
                filters=[{"exact": {"type": f"status.{code}"}}],
            )
            for code in RETRIABLE + NOT_RETRIABLE
        ]
        triggers.append(
            trigger_doc(
                "refused",
                f"http://127.0.0.1:{free_port()}/nobody-listens",
                filters=[{"exact": {"type": "status.refused"}}],
            )
        )
        broker = module_launcher(triggers, broker_delivery=delivery)
        yield broker, subscriber


@pytest.mark.parametrize("code", RETRIABLE)
def test_retriable_status_is_retried_then_dead_lettered(
    statuses: tuple[RunningBroker, Subscriber], code: int
) -> None:
    broker, subscriber = statuses
    event_id = broker.accept(f"status.{code}", id=f"retriable-{code}")
    attempts = subscriber.wait_on(f"/status/{code}", RETRY + 1)
    assert all(r.ce["id"] == event_id for r in attempts)
    dead = _wait_dead(subscriber, event_id)
    assert dead[0].ce["knativeerrorcode"] == str(code)
    assert base64.b64decode(dead[0].ce["knativeerrordata"]) == f"failed with {code}".encode()
    assert dead[0].ce["knativeerrordest"] == f"{subscriber.url}/status/{code}"
    assert len(subscriber.on(f"/status/{code}")) == RETRY + 1


@pytest.mark.parametrize("code", NOT_RETRIABLE)
def test_final_status_is_not_retried_and_goes_to_the_dead_letter_sink(
    statuses: tuple[RunningBroker, Subscriber], code: int
) -> None:
    broker, subscriber = statuses
    event_id = broker.accept(f"status.{code}", id=f"final-{code}")
    dead = _wait_dead(subscriber, event_id)
    assert dead[0].ce["knativeerrorcode"] == str(code)
    assert len(subscriber.on(f"/status/{code}")) == 1


def test_connection_refused_is_retried_then_dead_lettered(
    statuses: tuple[RunningBroker, Subscriber],
) -> None:
    broker, subscriber = statuses
    event_id = broker.accept("status.refused", id="refused-1")
    dead = _wait_dead(subscriber, event_id)
    assert dead[0].ce["knativeerrordest"].endswith("/nobody-listens")
    # No response, so no status code and no body to report.
    assert "knativeerrorcode" not in dead[0].ce


def _wait_dead(subscriber: Subscriber, event_id: str, timeout: float = 10.0) -> list[Received]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in subscriber.on("/dead-letter") if r.ce.get("id") == event_id]
        if found:
            return found
        subscriber.settle(0.05)
    raise AssertionError(f"{event_id} never reached the dead-letter sink")


def _gaps(received: list[Received]) -> list[float]:
    return [round(b.at - a.at, 3) for a, b in itertools.pairwise(received)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # The reference code: exponential delay*2^n, linear delay*n, n = 0 for the first retry.
        ("exponential", [0.2, 0.4, 0.8]),
        ("linear", [0.0, 0.2, 0.4]),
    ],
)
def test_backoff_timing(start_broker: StartBroker, policy: str, expected: list[float]) -> None:
    with Subscriber(default=Answer(503)) as subscriber:
        broker = start_broker(
            [
                trigger_doc(
                    "backoff",
                    subscriber.url,
                    delivery={"retry": 3, "backoffPolicy": policy, "backoffDelay": "PT0.2S"},
                )
            ]
        )
        broker.accept("backoff.test")
        attempts = subscriber.wait_for(4, timeout=15)
        assert len(subscriber.settle(0.5)) == 4
    gaps = _gaps(attempts)
    for gap, want in zip(gaps, expected, strict=True):
        assert want - 0.02 <= gap <= want + 0.15, (gaps, expected)


def test_no_backoff_policy_retries_without_waiting(start_broker: StartBroker) -> None:
    with Subscriber(default=Answer(500)) as subscriber:
        broker = start_broker([trigger_doc("quick", subscriber.url, delivery={"retry": 3})])
        broker.accept("quick")
        attempts = subscriber.wait_for(4)
    assert attempts[-1].at - attempts[0].at < 0.5


def test_timeout_cuts_a_slow_attempt_and_retries(start_broker: StartBroker) -> None:
    script = [Answer(202, delay=3.0), Answer(202)]
    with Subscriber(script) as subscriber:
        broker = start_broker(
            [trigger_doc("slow", subscriber.url, delivery={"retry": 1, "timeout": "PT0.3S"})]
        )
        broker.accept("slow")
        first, second = subscriber.wait_for(2, timeout=5)
    assert 0.25 <= second.at - first.at <= 1.0


def test_dead_letter_data_is_base64_cut_at_1024_characters(start_broker: StartBroker) -> None:
    body = bytes(range(256)) * 8  # 2048 bytes, not text
    with Subscriber(default=Answer(500, body)) as subscriber, Subscriber() as dls:
        broker = start_broker(
            [
                trigger_doc(
                    "big-error",
                    subscriber.url,
                    delivery={"deadLetterSink": {"uri": dls.url + "/dls"}},
                )
            ]
        )
        event_id = broker.accept("big.error", data=b'{"keep": "me"}')
        dead = dls.wait_for(1)[0]
    assert len(subscriber.requests) == 1  # retry unset: one attempt
    assert dead.ce["id"] == event_id
    assert dead.body == b'{"keep": "me"}'  # the original event, data untouched
    assert dead.ce["knativeerrorcode"] == "500"
    assert dead.ce["knativeerrordest"] == subscriber.url
    data = dead.ce["knativeerrordata"]
    assert len(data) == 1024
    assert base64.b64decode(data) == body[:768]
    assert "knativearrivaltime" in dead.ce
    assert "knativebrokerttl" not in dead.ce


def test_non_cloudevent_2xx_body_counts_as_502_and_is_retried(start_broker: StartBroker) -> None:
    text = Answer(200, b"OK", {"content-type": "text/plain"})
    with Subscriber(default=text) as subscriber, Subscriber() as dls:
        broker = start_broker(
            [
                trigger_doc(
                    "flask-style",
                    subscriber.url,
                    delivery={"retry": 1, "deadLetterSink": {"uri": dls.url}},
                )
            ]
        )
        broker.accept("flask")
        dead = dls.wait_for(1)[0]
    assert len(subscriber.requests) == 2
    assert dead.ce["knativeerrorcode"] == "502"
    assert base64.b64decode(dead.ce["knativeerrordata"]) == b"OK"


def test_empty_2xx_is_success(start_broker: StartBroker) -> None:
    with Subscriber(default=Answer(200)) as subscriber:
        broker = start_broker([trigger_doc("ok", subscriber.url, delivery={"retry": 3})])
        broker.accept("ok")
        assert len(subscriber.settle(0.5)) == 1


def test_format_json_sends_structured_mode(start_broker: StartBroker) -> None:
    with Subscriber() as subscriber:
        broker = start_broker(
            [trigger_doc("structured", subscriber.url, delivery={"format": "json"})]
        )
        event_id = broker.accept("fmt", data=b'{"a": 1}')
        received = subscriber.wait_for(1)[0]
    assert received.headers["content-type"].startswith("application/cloudevents+json")
    document = json.loads(received.body)
    assert document["id"] == event_id
    assert document["data"] == {"a": 1}
    assert "knativebrokerttl" not in document


def test_headers_sent_to_subscribers(start_broker: StartBroker) -> None:
    with Subscriber() as subscriber:
        broker = start_broker([trigger_doc("headers", subscriber.url)])
        broker.accept(
            "headers",
            headers={
                "x-request-id": "req-123",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "knative-custom": "kept",
                "x-b3-traceid": "abc",
                "authorization": "Bearer secret",
                "x-private": "dropped",
            },
        )
        received = subscriber.wait_for(1)[0]
    headers = received.headers
    assert headers["prefer"] == "reply"
    assert headers["kn-namespace"] == NAMESPACE
    assert headers["x-request-id"] == "req-123"
    assert headers["traceparent"].startswith("00-0af7651916cd43dd")
    assert headers["knative-custom"] == "kept"
    assert headers["x-b3-traceid"] == "abc"
    assert "authorization" not in headers
    assert "x-private" not in headers


def test_trigger_delivery_replaces_the_brokers_as_a_whole(start_broker: StartBroker) -> None:
    with Subscriber(default=Answer(500)) as subscriber, Subscriber() as dls:
        broker = start_broker(
            [
                # Sets only `retry`: the Broker's dead-letter sink does not apply to it.
                trigger_doc(
                    "own",
                    subscriber.url + "/own",
                    filters=[{"exact": {"type": "own"}}],
                    delivery={"retry": 1},
                ),
                # Sets nothing: gets the Broker's retry 2 and dead-letter sink.
                trigger_doc(
                    "inherits",
                    subscriber.url + "/inherits",
                    filters=[{"exact": {"type": "inherits"}}],
                ),
            ],
            broker_delivery={"retry": 2, "deadLetterSink": {"uri": dls.url}},
        )
        broker.accept("own", id="own-1")
        broker.accept("inherits", id="inherits-1")
        subscriber.wait_on("/own", 2)
        subscriber.wait_on("/inherits", 3)
        dead = dls.wait_for(1)
        subscriber.settle(0.4)
        dls.settle(0.2)
    assert [r.ce["id"] for r in dls.requests] == ["inherits-1"]
    assert len(subscriber.on("/own")) == 2
    assert len(subscriber.on("/inherits")) == 3
    assert dead[0].ce["knativeerrorcode"] == "500"


def test_broker_without_delivery_gets_knatives_default(start_broker: StartBroker) -> None:
    broker = start_broker([trigger_doc("default", "http://127.0.0.1:9/")])
    delivery = broker.config()["triggers"][0]["delivery"]
    assert delivery["retry"] == 10
    assert delivery["backoffPolicy"] == "exponential"
    assert delivery["backoffDelaySeconds"] == 0.2


def test_service_ref_and_relative_uri_resolve_to_local_addresses(
    start_broker: StartBroker,
) -> None:
    with Subscriber(default=Answer(500)) as subscriber:
        ref = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "audit"}}
        broker = start_broker(
            [
                trigger_doc(
                    "by-ref",
                    {**ref, "uri": "/events"},
                    delivery={"deadLetterSink": {**ref, "uri": "/dead-letter"}},
                )
            ],
            services={f"audit.{NAMESPACE}": subscriber.url},
        )
        broker.accept("ref")
        subscriber.wait_on("/dead-letter", 1)
    assert [r.path for r in subscriber.requests] == ["/events", "/dead-letter"]
