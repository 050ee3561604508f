"""Several user service replicas on one database: each outbox row is sent by one
relay at a time (row locks with SKIP LOCKED and a lease on PostgreSQL; the
database lock on SQLite), and a dead replica's claims expire."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.integration.user.conftest import StartUser
from tests.integration.user.support import create_user, drained, eventually
from tests.support.sink import CloudEventSink


def test_two_relays_never_send_the_same_event_concurrently(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    sink.delay(0.01)  # widen the window in which a second copy would overlap
    replicas = [start_user(name="user-a"), start_user(name="user-b")]
    count = 150

    def create(index: int) -> str:
        return str(create_user(replicas[index % 2].url, f"user-{index}")["id"])

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(create, range(count)))
    events = sink.wait_for_events(count, timeout=90)
    eventually(lambda: drained(database_url), timeout=30, what="outbox drained")

    assert sorted(str(e.subject) for e in events) == sorted(ids)
    assert sink.overlaps == []
    assert all(n == 1 for n in sink.raw_counts().values()), "an event was sent twice"
    senders = {d.header("user-agent") for d in sink.deliveries}
    assert len(senders) == 2, f"both relays should have sent: {senders}"


def test_a_dead_replicas_claim_expires_and_another_sends(
    start_user: StartUser, sink: CloudEventSink, database_url: str
) -> None:
    doomed = start_user(name="user-doomed")
    sink.hold()
    user = create_user(doomed.url, "claimed-by-the-doomed")
    sink.wait_until(lambda: sink.in_flight == 1, what="a send in flight")
    doomed.kill()
    sink.respond(503, times=1)  # the dead replica's copy is not acknowledged
    sink.release()
    # The row is still claimed by the dead replica; the survivor sends once the lease ends.
    survivor = start_user(name="user-survivor")
    (event,) = sink.wait_for_events(1, timeout=30)
    assert event.subject == user["id"]
    eventually(lambda: drained(database_url), what="outbox drained")
    first, *_, last = sink.deliveries
    assert (first.status, last.status) == (503, 202)
    assert first.header("user-agent") != last.header("user-agent")
    assert sink.overlaps == []
    assert survivor.process is not None
    assert survivor.process.poll() is None
