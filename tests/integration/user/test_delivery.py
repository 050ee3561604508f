"""Event delivery from a real user service to a real (test) CloudEvents sink:
attributes, the outbox under sink outages, parking, crashes and shutdown."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from tests.integration.user.conftest import StartUser
from tests.integration.user.support import (
    ADMIN,
    TRACEPARENT,
    basic,
    create_user,
    drained,
    eventually,
    metric,
    outbox_rows,
)
from tests.support.sink import CloudEventSink

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_one_create_yields_exactly_one_store_user_event(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    service = start_user(EVENT_SOURCE="/apis/v1/namespaces/test/user")
    response = httpx.post(
        f"{service.url}/v1/user",
        content=b'{"name": "John Doe", "password": "secret"}',
        headers={"Content-Type": "application/json", "traceparent": TRACEPARENT},
    )
    assert response.status_code == 201
    user_id = response.json()["id"]
    (event,) = sink.wait_for_events(1)
    eventually(lambda: drained(database_url), what="outbox drained")
    assert len(sink.deliveries) == 1

    attributes = dict(event.attributes)
    assert attributes["specversion"] == "1.0"
    assert attributes["type"] == "user.storeUser"
    assert attributes["source"] == "/apis/v1/namespaces/test/user"
    assert attributes["subject"] == user_id
    assert attributes["datacontenttype"] == "application/json"
    assert UUID4.fullmatch(event.id)
    sent_at = datetime.fromisoformat(str(attributes["time"]).replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)
    assert attributes["traceparent"] == TRACEPARENT
    assert attributes["requestid"] == response.headers["x-request-id"]
    assert orjson.loads(event.data or b"") == {"id": user_id}

    delivery = sink.deliveries[0]
    assert delivery.mode == "binary"
    assert delivery.header("traceparent") == TRACEPARENT
    # dataschema points at a schema the service itself serves.
    schema = httpx.get(str(attributes["dataschema"])).json()
    assert schema["$id"] == attributes["dataschema"]
    assert set(schema["required"]) <= set(orjson.loads(event.data or b""))


def test_update_and_delete_publish_their_events_in_order(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    service = start_user()
    user = create_user(service.url, "kim", "kim-password")
    target = f"{service.url}/v1/users/{user['id']}"
    me = basic(user["id"], "kim-password")
    assert httpx.patch(target, json={"name": "Kim"}, headers=me).status_code == 200
    changed = httpx.patch(target, json={"name": "K", "password": "new-password"}, headers=me)
    assert changed.status_code == 200
    assert httpx.delete(target, headers=ADMIN).status_code == 204
    events = sink.wait_for_events(4)
    assert [e.type for e in events] == [
        "user.storeUser",
        "user.updateUser",
        "user.updateUser",
        "user.deleteUser",
    ]
    assert {e.subject for e in events} == {user["id"]}
    assert [orjson.loads(e.data or b"") for e in events[1:]] == [
        {"id": user["id"], "changed": ["name"]},
        {"id": user["id"], "changed": ["name", "password"]},
        {"id": user["id"]},
    ]
    assert len({e.id for e in events}) == 4
    for event in events:
        assert str(event.attributes["dataschema"]).endswith(f"/v1/schemas/{event.type}.json")
        for secret in (b"kim-password", b"new-password", b"argon2"):
            assert secret not in (event.data or b"")
    # No event for a change that did not happen.
    assert httpx.delete(target, headers=ADMIN).status_code == 404
    assert httpx.patch(target, json={"name": "x"}, headers=ADMIN).status_code == 404
    eventually(lambda: drained(database_url), what="outbox drained")
    assert len(sink.deliveries) == 4


def test_events_survive_a_sink_outage_and_arrive_once_in_order(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    service = start_user()
    create_user(service.url, "before")
    sink.wait_for_events(1)
    sink.down()
    ids = [create_user(service.url, f"during-{i}")["id"] for i in range(20)]
    eventually(lambda: metric(service.url, "user_outbox_pending") == 20, what="20 pending events")
    eventually(
        lambda: metric(service.url, "user_outbox_oldest_pending_age_seconds") > 0,
        what="oldest pending age reported",
    )
    assert metric(service.url, 'user_outbox_sends_total{outcome="retried"}') >= 1
    sink.up()
    events = sink.wait_for_events(21)
    assert [e.subject for e in events[1:]] == ids
    eventually(lambda: drained(database_url), what="outbox drained")
    # Connection errors never reached the sink, so each event was received exactly once.
    assert all(count == 1 for count in sink.raw_counts().values())
    assert len(sink.deliveries) == 21


def test_retriable_answers_are_retried_with_the_same_id(
    start_user: StartUser, sink: CloudEventSink
) -> None:
    service = start_user()
    sink.respond(503, times=1)
    sink.respond(500, times=1)
    sink.respond(408, times=1)
    sink.respond(429, times=1, retry_after="1")
    user = create_user(service.url)
    (event,) = sink.wait_for_events(1)
    assert event.subject == user["id"]
    deliveries = sink.deliveries
    assert [d.status for d in deliveries] == [503, 500, 408, 429, 202]
    assert {d.keys[0] for d in deliveries} == {(event.source, event.id)}
    # Retry-After: 1 was honoured.
    assert deliveries[4].started - deliveries[3].finished >= 0.95


@pytest.mark.parametrize("status", [400, 404, 410, 413, 301])
def test_a_non_retriable_answer_parks_the_event(
    start_user: StartUser, sink: CloudEventSink, database_url: str, status: int
) -> None:
    service = start_user()
    sink.respond(status, times=1)
    parked = create_user(service.url, "parked")
    eventually(lambda: metric(service.url, "user_outbox_failed") == 1, what="one parked event")
    assert metric(service.url, 'user_outbox_sends_total{outcome="parked"}') == 1
    assert "event parked" in service.log_text()
    # Later events still flow, and the parked one is not retried.
    later = create_user(service.url, "later")
    (event,) = sink.wait_for_events(1)
    assert event.subject == later["id"]
    assert [d.status for d in sink.deliveries] == [status, 202]
    eventually(lambda: drained(database_url), what="outbox drained")
    rows = {row["subject"]: row for row in outbox_rows(database_url)}
    assert rows[parked["id"]]["status"] == "failed"
    assert rows[parked["id"]]["last_status"] == status
    assert rows[later["id"]]["status"] == "delivered"


def test_kill_9_before_sending_loses_nothing(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    # No sink: every commit is followed by no send at all when the process dies.
    service = start_user(name="user-unsent", K_SINK="")
    ids = [create_user(service.url, f"unsent-{i}")["id"] for i in range(10)]
    service.kill()
    assert not sink.deliveries
    start_user(name="user-restarted")
    events = sink.wait_for_events(10)
    assert [e.subject for e in events] == ids
    eventually(lambda: drained(database_url), what="outbox drained")
    assert all(count == 1 for count in sink.raw_counts().values())


def test_kill_9_during_a_burst_loses_nothing(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    sink.delay(0.05)
    service = start_user(name="user-burst")
    ids = [create_user(service.url, f"burst-{i}")["id"] for i in range(30)]
    service.kill()  # right after the last 201: most events are not sent yet
    sink.delay(0)
    start_user(name="user-after-burst")
    events = sink.wait_for_events(30, timeout=30)
    assert sorted(e.subject for e in events if e.subject) == sorted(ids)
    eventually(lambda: drained(database_url), timeout=30, what="outbox drained")
    # A send cut off by the kill is repeated (at least once); the sink keeps one copy.
    assert len(events) == 30


def test_kill_9_during_a_send_resends_after_restart(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    service = start_user(name="user-mid-send")
    sink.hold()
    user = create_user(service.url)
    sink.wait_until(lambda: sink.in_flight == 1, what="a send in flight")
    service.kill()
    sink.respond(503, times=1)  # the copy whose sender died is not acknowledged
    sink.release()
    start_user(name="user-resend")
    (event,) = sink.wait_for_events(1)
    assert event.subject == user["id"]
    eventually(lambda: drained(database_url), what="outbox drained")
    assert sink.raw_count(event.source, event.id) == 2


def test_graceful_shutdown_finishes_the_current_send(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    service = start_user(name="user-graceful")
    sink.delay(1.0)
    create_user(service.url)
    sink.wait_until(lambda: sink.in_flight == 1, what="a send in flight")
    stopper = threading.Thread(target=service.stop)
    stopper.start()
    (event,) = sink.wait_for_events(1)
    stopper.join(30)
    assert not stopper.is_alive()
    assert "user service stopped" in service.log_text()
    sink.delay(0)
    restarted = start_user(name="user-after-graceful")
    eventually(lambda: drained(database_url), what="outbox drained")
    # The send finished and was marked before exit: nothing is sent again.
    create_user(restarted.url, "marker")
    sink.wait_for_events(2)
    assert sink.raw_count(event.source, event.id) == 1


def test_structured_mode_and_ce_overrides(start_user: StartUser, sink: CloudEventSink) -> None:
    service = start_user(
        EVENT_MODE="structured",
        K_CE_OVERRIDES='{"extensions": {"origin": "user", "cluster": "kind"}}',
    )
    user = create_user(service.url, traceparent=TRACEPARENT)
    (event,) = sink.wait_for_events(1)
    delivery = sink.deliveries[0]
    assert delivery.mode == "structured"
    assert (delivery.header("content-type") or "").startswith("application/cloudevents+json")
    assert delivery.header("traceparent") == TRACEPARENT
    assert event.attributes["origin"] == "user"
    assert event.attributes["cluster"] == "kind"
    assert event.subject == user["id"]
    assert orjson.loads(event.data or b"") == {"id": user["id"]}


def test_without_k_sink_the_api_works_and_readyz_says_why(
    start_user: StartUser, sink: CloudEventSink
) -> None:
    service = start_user(K_SINK="")
    create_user(service.url)
    ready = httpx.get(f"{service.url}/readyz")
    assert ready.status_code == 503
    assert "K_SINK" in ready.json()["checks"]["sink"]
    assert ready.json()["checks"]["database"] == "ok"
    assert "K_SINK unset" in service.log_text()
    eventually(lambda: metric(service.url, "user_outbox_pending") == 1, what="one pending")
    assert not sink.deliveries


def test_startup_log_names_the_effective_sink(start_user: StartUser, sink: CloudEventSink) -> None:
    service = start_user()
    assert httpx.get(f"{service.url}/readyz").json()["status"] == "ready"
    line = next(
        orjson.loads(line)
        for line in service.log_text().splitlines()
        if "user service starting" in line
    )
    assert line["sink"] == sink.url
    assert line["event_mode"] == "binary"


def test_invalid_ce_overrides_stop_the_start(start_user: StartUser) -> None:
    with pytest.raises(RuntimeError, match="K_CE_OVERRIDES"):
        start_user(K_CE_OVERRIDES='{"extensions": {"Not-Valid": "x"}}')


def test_delivered_rows_are_pruned_after_the_retention(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    service = start_user(OUTBOX_RETENTION="0", OUTBOX_PRUNE_INTERVAL="0.1")
    create_user(service.url)
    sink.wait_for_events(1)
    eventually(lambda: metric(service.url, "user_outbox_pruned_total") >= 1, what="pruned")
    assert outbox_rows(database_url) == []


def test_request_id_travels_in_the_event(start_user: StartUser, sink: CloudEventSink) -> None:
    service = start_user()
    request_id = "req-" + uuid.uuid4().hex
    create_user(service.url, **{"x-request-id": request_id})
    (event,) = sink.wait_for_events(1)
    assert event.attributes["requestid"] == request_id
    assert "traceparent" not in event.attributes
    assert sink.deliveries[0].header("traceparent") is None


def test_graceful_shutdown_finishes_in_flight_requests(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    # A deliberately slow hash keeps the create in flight while SIGTERM arrives.
    service = start_user(name="user-in-flight", ARGON2_TIME_COST="40", ARGON2_MEMORY_KIB="65536")
    answers: list[httpx.Response] = []
    client = threading.Thread(
        target=lambda: answers.append(
            httpx.post(f"{service.url}/v1/user", json={"name": "slow", "password": "x"}, timeout=60)
        )
    )
    client.start()
    eventually(
        lambda: metric(service.url, "user_password_hashes_in_progress") == 1,
        what="a hash in progress",
    )
    service.stop()
    client.join(60)
    assert [a.status_code for a in answers] == [201]
    user_id = answers[0].json()["id"]
    restarted = start_user(name="user-after-in-flight")
    (event,) = sink.wait_for_events(1)
    assert event.subject == user_id
    eventually(lambda: drained(database_url), what="outbox drained")
    assert httpx.get(f"{restarted.url}/v1/users/{user_id}", headers=ADMIN).status_code == 200


def test_concurrent_relay_keeps_each_users_events_in_order(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    sink.delay(0.01)
    service = start_user(RELAY_CONCURRENCY="6")
    sink.down()  # build a backlog, so batches hold many users' events at once
    expected: dict[str, list[str]] = {}
    for index in range(12):
        user = create_user(service.url, f"user-{index}")
        target = f"{service.url}/v1/users/{user['id']}"
        assert httpx.patch(target, json={"name": f"renamed-{index}"}, headers=ADMIN).is_success
        assert httpx.delete(target, headers=ADMIN).status_code == 204
        expected[user["id"]] = ["user.storeUser", "user.updateUser", "user.deleteUser"]
    sink.up()
    events = sink.wait_for_events(36, timeout=60)
    eventually(lambda: drained(database_url), what="outbox drained")
    for user_id, types in expected.items():
        assert [e.type for e in events if e.subject == user_id] == types
    assert all(count == 1 for count in sink.raw_counts().values())
