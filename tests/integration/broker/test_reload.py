"""Trigger reloads: file changes take effect, invalid ones are refused, queues survive."""

from __future__ import annotations

import httpx

from devstack import free_port
from tests.integration.broker.conftest import (
    StartBroker,
    broker_doc,
    trigger_doc,
    write_manifest,
)
from tests.support.subscriber import Subscriber

PATIENT = {"retry": 60, "backoffPolicy": "linear", "backoffDelay": "PT0.1S"}


def test_added_trigger_starts_receiving_after_the_file_changes(start_broker: StartBroker) -> None:
    with Subscriber() as subscriber:
        first = trigger_doc("first", subscriber.url + "/first")
        broker = start_broker([first])
        broker.accept("before", id="before")
        subscriber.wait_on("/first", 1)

        write_manifest(
            broker.manifest,
            [broker_doc(), first, trigger_doc("second", subscriber.url + "/second")],
        )
        broker.wait_generation(2)
        broker.accept("after", id="after")
        subscriber.wait_on("/second", 1)
        subscriber.wait_on("/first", 2)
        subscriber.settle(0.3)
    assert [r.ce["id"] for r in subscriber.on("/second")] == ["after"]


def test_invalid_change_keeps_the_previous_triggers(start_broker: StartBroker) -> None:
    with Subscriber() as subscriber:
        good = trigger_doc("good", subscriber.url)
        broker = start_broker([good])
        bad = trigger_doc(
            "bad", subscriber.url, filters=[{"exact": {"type": "a"}, "prefix": {"type": "b"}}]
        )
        write_manifest(broker.manifest, [broker_doc(), good, bad])
        deadline_config = None
        for _ in range(200):
            deadline_config = broker.config()
            if deadline_config["last_error"]:
                break
            subscriber.settle(0.05)
        assert deadline_config is not None
        error = deadline_config["last_error"]
        assert str(broker.manifest) in error
        assert "Trigger test-ns/bad" in error
        assert "spec.filters[0]" in error
        assert "multiple dialects" in error
        assert deadline_config["generation"] == 1
        assert [t["name"] for t in deadline_config["triggers"]] == ["good"]
        broker.accept("still-routed", id="still")
        assert subscriber.wait_for(1)[0].ce["id"] == "still"
        assert "manifest change rejected" in broker.process.log_text()


def test_queued_deliveries_follow_the_trigger_to_its_new_subscriber(
    start_broker: StartBroker,
) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/"
    broker = start_broker([trigger_doc("moving", dead_url, delivery=PATIENT)])
    ids = {broker.accept("queued", id=f"q-{i}") for i in range(20)}
    with Subscriber() as subscriber:
        write_manifest(
            broker.manifest,
            [broker_doc(), trigger_doc("moving", subscriber.url, delivery=PATIENT)],
        )
        broker.wait_generation(2)
        subscriber.wait_for(len(ids), timeout=20)
        assert {r.ce["id"] for r in subscriber.settle(0.3)} == ids


def test_removed_trigger_parks_its_deliveries_until_it_returns(start_broker: StartBroker) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/"
    other = trigger_doc("other", "http://127.0.0.1:9/", filters=[{"exact": {"type": "none"}}])
    broker = start_broker([trigger_doc("parked", dead_url, delivery=PATIENT), other])
    ids = {broker.accept("queued", id=f"p-{i}") for i in range(10)}
    write_manifest(broker.manifest, [broker_doc(), other])
    broker.wait_generation(2)
    with Subscriber() as subscriber:
        write_manifest(
            broker.manifest,
            [broker_doc(), other, trigger_doc("parked", subscriber.url, delivery=PATIENT)],
        )
        broker.wait_generation(3)
        subscriber.wait_for(len(ids), timeout=20)
        assert {r.ce["id"] for r in subscriber.settle(0.3)} >= ids
    assert httpx.get(broker.url + "/readyz").status_code == 200
