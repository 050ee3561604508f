"""The relay's decisions on a real (SQLite) outbox with a scripted sender:
order, backoff without overtaking, parking, leases, and stopping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from common.db import create_engine
from common.events import CloudEvent
from common.migrations import Migrations
from user.app import MIGRATIONS
from user.outbox import EventFactory, OutboxQueue, insert_outbox_row
from user.relay import OutboxRelay, Outcome, RelayTiming, SendResult

TIMING = RelayTiming(
    batch_size=10, backoff_base=0.01, backoff_max=0.02, send_timeout=1.0, lease=10.0
)


class ScriptedSender:
    """Answers from a script (then 202), recording what it was asked to send."""

    def __init__(self, script: Iterable[SendResult] = ()) -> None:
        self.script = list(script)
        self.sent: list[CloudEvent] = []
        self.on_send: Callable[[], None] | None = None

    async def send(self, event: CloudEvent) -> SendResult:
        self.sent.append(event)
        if self.on_send is not None:
            self.on_send()
        await asyncio.sleep(0.001)  # a real send waits for the network
        if self.script:
            return self.script.pop(0)
        return SendResult(Outcome.DELIVERED, 202, "HTTP 202")


def ok() -> SendResult:
    return SendResult(Outcome.DELIVERED, 202, "HTTP 202")


def retry(status: int = 503) -> SendResult:
    return SendResult(Outcome.RETRY, status, f"HTTP {status}")


def park(status: int = 400) -> SendResult:
    return SendResult(Outcome.PARK, status, f"HTTP {status}")


Scenario = Callable[[OutboxQueue, list[str]], Awaitable[None]]


def run(tmp_path: Path, count: int, scenario: Scenario) -> None:
    """Migrate a fresh SQLite outbox, write `count` events, run `scenario`."""

    async def main() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}")
        try:
            await Migrations(MIGRATIONS).upgrade(engine)
            factory = EventFactory("/test", "http://127.0.0.1:3000")
            ids = []
            for index in range(count):
                now = datetime.now(UTC)
                item = factory.build("user.storeUser", f"user-{index}", {"id": str(index)}, now)
                async with engine.begin() as connection:
                    await insert_outbox_row(connection, item, now)
                ids.append(item.id)
            await scenario(OutboxQueue(engine), ids)
        finally:
            await engine.dispose()

    asyncio.run(main())


async def statuses(queue: OutboxQueue) -> list[tuple[str, int, str | None]]:
    async with queue.engine.connect() as connection:
        from sqlalchemy import text

        rows = await connection.execute(
            text("SELECT status, attempts, claimed_by FROM outbox ORDER BY seq")
        )
        return [(r[0], r[1], r[2]) for r in rows]


def test_delivers_in_creation_order(tmp_path: Path) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        sender = ScriptedSender()
        relay = OutboxRelay(queue, sender, "r1", TIMING)
        assert await relay.deliver_due() is None
        assert [e.id for e in sender.sent] == ids
        assert await statuses(queue) == [("delivered", 1, None)] * 5

    run(tmp_path, 5, scenario)


def test_a_retriable_failure_stops_the_batch_and_nothing_overtakes(tmp_path: Path) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        sender = ScriptedSender([ok(), retry()])
        timing = RelayTiming(batch_size=10, backoff_base=1.0, backoff_max=1.0)
        relay = OutboxRelay(queue, sender, "r1", timing)
        delay = await relay.deliver_due()
        assert delay is not None
        assert 0.5 <= delay <= 1.0
        assert [e.id for e in sender.sent] == ids[:2]
        # The failed row waits; the rows after it were handed back, unsent.
        assert (
            await statuses(queue)
            == [("delivered", 1, None), ("pending", 1, None)] + [("pending", 0, None)] * 3
        )
        assert await relay.deliver_due() is None  # not due yet: nothing overtakes it
        assert len(sender.sent) == 2
        await asyncio.sleep(delay)
        assert await relay.deliver_due() is None
        assert [e.id for e in sender.sent[2:]] == ids[1:]
        assert [s for s, _, _ in await statuses(queue)] == ["delivered"] * 5

    run(tmp_path, 5, scenario)


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        sender = ScriptedSender([SendResult(Outcome.RETRY, 429, "HTTP 429", retry_after=3.0)])
        delay = await OutboxRelay(queue, sender, "r1", TIMING).deliver_due()
        assert delay == 3.0

    run(tmp_path, 1, scenario)


def test_a_parked_event_is_kept_as_failed_and_the_next_goes_on(tmp_path: Path) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        sender = ScriptedSender([park(400)])
        relay = OutboxRelay(queue, sender, "r1", TIMING)
        assert await relay.deliver_due() is None
        assert [e.id for e in sender.sent] == ids
        assert await statuses(queue) == [("failed", 1, None), ("delivered", 1, None)]
        stats = await queue.stats()
        assert (stats.pending, stats.failed) == (0, 1)
        assert await relay.deliver_due() is None
        assert len(sender.sent) == 2  # never retried

    run(tmp_path, 2, scenario)


def test_max_attempts_parks_a_row_that_keeps_failing(tmp_path: Path) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        timing = RelayTiming(batch_size=10, backoff_base=0.001, backoff_max=0.001, max_attempts=3)
        sender = ScriptedSender([retry(), retry(), retry()])
        relay = OutboxRelay(queue, sender, "r1", timing)
        for _ in range(3):
            await relay.deliver_due()
            await asyncio.sleep(0.01)
        assert await statuses(queue) == [("failed", 3, None)]

    run(tmp_path, 1, scenario)


def test_a_send_never_starts_when_the_lease_could_run_out(tmp_path: Path) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        moments = iter([datetime.now(UTC)] + [datetime.now(UTC) + timedelta(seconds=9.5)] * 10)
        sender = ScriptedSender()
        relay = OutboxRelay(queue, sender, "r1", TIMING, clock=lambda: next(moments))
        assert await relay.deliver_due() is None
        assert sender.sent == []
        assert await statuses(queue) == [("pending", 0, None)] * 3

    run(tmp_path, 3, scenario)


def test_claims_are_exclusive_until_the_lease_ends(tmp_path: Path) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        now = datetime.now(UTC)
        first = await queue.claim("a", 2, now, timedelta(seconds=10))
        second = await queue.claim("b", 10, now, timedelta(seconds=10))
        assert [c.event.id for c in first] == ids[:2]
        assert [c.event.id for c in second] == ids[2:]
        assert await queue.claim("c", 10, now, timedelta(seconds=10)) == []
        # After the lease, a claim by a dead relay is taken over.
        later = now + timedelta(seconds=11)
        assert [c.event.id for c in await queue.claim("c", 10, later, timedelta(seconds=10))] == ids

    run(tmp_path, 4, scenario)


def test_stopping_finishes_the_current_send_and_hands_back_the_rest(tmp_path: Path) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        sender = ScriptedSender()
        relay = OutboxRelay(queue, sender, "r1", TIMING)
        sender.on_send = lambda: asyncio.get_running_loop().call_soon(
            asyncio.ensure_future, relay.stop()
        )
        relay.start()
        for _ in range(200):
            if not relay.running:
                break
            await asyncio.sleep(0.01)
        assert not relay.running
        assert len(sender.sent) == 1
        assert await statuses(queue) == [("delivered", 1, None)] + [("pending", 0, None)] * 3

    run(tmp_path, 4, scenario)


def test_prune_deletes_only_old_delivered_rows(tmp_path: Path) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        sender = ScriptedSender([ok(), park()])
        relay = OutboxRelay(queue, sender, "r1", TIMING)
        await relay.deliver_due()  # 2 of 3 sent before... all three processed
        now = datetime.now(UTC)
        assert await queue.prune(now - timedelta(hours=1)) == 0
        assert await queue.prune(now + timedelta(seconds=1), chunk=1) == 2
        assert [s for s, _, _ in await statuses(queue)] == ["failed"]

    run(tmp_path, 3, scenario)


@pytest.mark.parametrize("stop_first", [True])
def test_a_relay_without_a_sink_only_maintains(tmp_path: Path, stop_first: bool) -> None:
    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        relay = OutboxRelay(queue, None, "r1", TIMING)
        await relay.maintain(force=True)
        relay.start()
        await relay.stop()
        assert await statuses(queue) == [("pending", 0, None)] * 2

    run(tmp_path, 2, scenario)


class SlowSender(ScriptedSender):
    """Takes a moment per send and records how many sends overlapped."""

    def __init__(self, script: Iterable[SendResult] = ()) -> None:
        super().__init__(script)
        self.active: dict[str, int] = {}
        self.most_at_once = 0
        self.same_subject_overlap = False

    async def send(self, event: CloudEvent) -> SendResult:
        subject = str(event.subject)
        if self.active.get(subject):
            self.same_subject_overlap = True
        self.active[subject] = self.active.get(subject, 0) + 1
        self.most_at_once = max(self.most_at_once, sum(self.active.values()))
        try:
            await asyncio.sleep(0.01)
            return await super().send(event)
        finally:
            self.active[subject] -= 1


def run_subjects(tmp_path: Path, subjects: list[str], scenario: Scenario) -> None:
    """Like `run`, but with the given subject per event."""

    async def main() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}")
        try:
            await Migrations(MIGRATIONS).upgrade(engine)
            factory = EventFactory("/test", "http://127.0.0.1:3000")
            ids = []
            for subject in subjects:
                now = datetime.now(UTC)
                item = factory.build("user.updateUser", subject, {"id": subject}, now)
                async with engine.begin() as connection:
                    await insert_outbox_row(connection, item, now)
                ids.append(item.id)
            await scenario(OutboxQueue(engine), ids)
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_concurrent_relay_keeps_each_subjects_order(tmp_path: Path) -> None:
    subjects = ["a", "b", "a", "c", "d", "a", "b", "e"]

    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        sender = SlowSender()
        timing = RelayTiming(batch_size=20, concurrency=4)
        assert await OutboxRelay(queue, sender, "r1", timing).deliver_due() is None
        assert sorted(e.id for e in sender.sent) == sorted(ids)
        for subject in set(subjects):
            expected = [i for i, s in zip(ids, subjects, strict=True) if s == subject]
            assert [e.id for e in sender.sent if e.subject == subject] == expected
        assert not sender.same_subject_overlap
        assert 1 < sender.most_at_once <= 4
        assert [s for s, _, _ in await statuses(queue)] == ["delivered"] * len(ids)

    run_subjects(tmp_path, subjects, scenario)


def test_concurrent_relay_starts_nothing_new_after_a_retriable_failure(tmp_path: Path) -> None:
    subjects = [f"s{i}" for i in range(12)]

    async def scenario(queue: OutboxQueue, ids: list[str]) -> None:
        sender = SlowSender([retry()])
        timing = RelayTiming(batch_size=20, concurrency=3, backoff_base=1.0, backoff_max=1.0)
        delay = await OutboxRelay(queue, sender, "r1", timing).deliver_due()
        assert delay is not None
        # The first send failed; only the sends already started went on.
        assert len(sender.sent) <= 3
        rows = await statuses(queue)
        assert rows[0] == ("pending", 1, None)
        assert all(claimed is None for _, _, claimed in rows)
        assert sum(1 for s, _, _ in rows if s == "delivered") == len(sender.sent) - 1

    run_subjects(tmp_path, subjects, scenario)
