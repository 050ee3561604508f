"""The queue's group commit on a real SQLite file: one row that cannot be written fails
only itself, and completions or retry schedules caught in a failed write are kept and
written later, never dropped."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from broker.queue import Delivery, DeliveryQueue
from common.events import CloudEvent

TRIGGER = "ns/t"


def _event(event_id: str, **extra: str | int) -> CloudEvent:
    attributes = {"specversion": "1.0", "id": event_id, "source": "/q", "type": "q", **extra}
    return CloudEvent(attributes, b"{}")


async def _stored(queue: DeliveryQueue, event_id: str) -> Delivery:
    event = _event(event_id)
    stored_id, (delivery_id,) = await queue.enqueue(event, (), [TRIGGER])
    return Delivery(delivery_id, stored_id, event, ())


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def _with_queue(path: Path, scenario: Callable[[DeliveryQueue], Awaitable[None]]) -> None:
    async def run() -> None:
        queue = DeliveryQueue(path)
        await queue.open()
        try:
            await scenario(queue)
        finally:
            await queue.close()

    asyncio.run(run())


def test_an_event_that_cannot_be_encoded_fails_alone(tmp_path: Path) -> None:
    async def scenario(queue: DeliveryQueue) -> None:
        done = await _stored(queue, "done")
        retried = await _stored(queue, "retried")
        # All in one group commit: the writer runs only after these were handed over.
        queue.complete(done)
        retried.attempt, retried.next_attempt_at = 3, time.time() + 60
        queue.reschedule(retried)
        goods = [queue.enqueue(_event(f"good-{i}"), (), [TRIGGER]) for i in range(5)]
        bad = queue.enqueue(_event("bad", huge=10**30), (), [TRIGGER])
        results = await asyncio.gather(*goods, bad, return_exceptions=True)
        assert not any(isinstance(r, BaseException) for r in results[:-1]), results
        assert isinstance(results[-1], ValueError)
        await queue.flush()
        assert await queue.ping() is None
        assert await queue.pending_counts() == {TRIGGER: 6}
        (row,) = [d for d in await queue.load(TRIGGER, 0, 100) if d.id == retried.id]
        assert row.attempt == 3

    _with_queue(tmp_path / "q.db", scenario)


def _install_sqlite_trigger(path: Path, sql: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.executescript(sql)


def test_a_row_the_database_refuses_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "q.db"

    async def scenario(queue: DeliveryQueue) -> None:
        done = await _stored(queue, "done")
        # A real SQLite error for one row only, raised inside the shared transaction.
        _install_sqlite_trigger(
            path,
            "CREATE TRIGGER poison BEFORE INSERT ON events "
            "WHEN instr(NEW.attributes, 'poison') BEGIN SELECT RAISE(ABORT, 'poisoned'); END;",
        )
        queue.complete(done)
        goods = [queue.enqueue(_event(f"good-{i}"), (), [TRIGGER]) for i in range(5)]
        bad = queue.enqueue(_event("poison"), (), [TRIGGER])
        results = await asyncio.gather(*goods, bad, return_exceptions=True)
        assert not any(isinstance(r, BaseException) for r in results[:-1]), results
        assert isinstance(results[-1], Exception)
        await queue.flush()
        assert await queue.pending_counts() == {TRIGGER: 5}
        # The next write succeeds: the queue reports itself healthy again.
        await _stored(queue, "after")
        assert await queue.ping() is None

    _with_queue(path, scenario)


def test_completions_caught_in_a_failed_write_are_written_later(tmp_path: Path) -> None:
    path = tmp_path / "q.db"

    async def scenario(queue: DeliveryQueue) -> None:
        done = await _stored(queue, "done")
        _install_sqlite_trigger(
            path,
            "CREATE TABLE outage (x); INSERT INTO outage VALUES (1);"
            "CREATE TRIGGER outage BEFORE DELETE ON deliveries "
            "WHEN EXISTS (SELECT 1 FROM outage) BEGIN SELECT RAISE(ABORT, 'disk gone'); END;",
        )
        queue.complete(done)
        await queue.flush()
        assert await queue.ping() is not None  # the failure is reported, not hidden
        assert await queue.pending_counts() == {TRIGGER: 1}
        with sqlite3.connect(path) as connection:
            connection.execute("DELETE FROM outage")

        async def written() -> bool:
            return await queue.pending_counts() == {}

        await _eventually(written)
        assert await queue.ping() is None

    _with_queue(path, scenario)
