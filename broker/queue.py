"""The durable queue: accepted events and one delivery row per (event, Trigger).

One SQLite file (WAL, fsync on commit) owned by one thread. Writes are group
committed: everything that arrives while a commit is running goes into the next
transaction, so a burst of ingress requests costs one fsync, not one each.
`enqueue` returns only after its transaction is durable, which is what lets the
ingress answer 202. Completions and retry schedules are written in the same
batches without anyone waiting for them: if they are lost in a crash, the
delivery happens again (at-least-once, as on Knative).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from common.events.model import AttributeValue, CloudEvent

logger = logging.getLogger(__name__)

Headers = tuple[tuple[str, str], ...]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    attributes BLOB NOT NULL,
    data BLOB,
    headers BLOB NOT NULL,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    event_id INTEGER NOT NULL REFERENCES events(id),
    trigger TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    phase INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER,
    error_data TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_by_trigger ON deliveries(trigger, id);
CREATE INDEX IF NOT EXISTS deliveries_by_event ON deliveries(event_id);
"""


class Phase(enum.IntEnum):
    """Where a delivery is headed: the subscriber, or (after it failed) the dead-letter sink."""

    SUBSCRIBER = 0
    DEAD_LETTER = 1


class QueueUnavailable(Exception):
    """The queue file could not take the write; the ingress answers 503."""


@dataclass(slots=True)
class Delivery:
    """One event on its way to one Trigger's subscriber (or dead-letter sink)."""

    id: int
    event_id: int
    event: CloudEvent
    headers: Headers
    attempt: int = 0  # failed attempts so far in this phase
    next_attempt_at: float = 0.0  # wall clock (time.time())
    phase: Phase = Phase.SUBSCRIBER
    error_code: int | None = None
    error_data: str | None = None


@dataclass(slots=True)
class _Insert:
    event: CloudEvent
    headers: Headers
    triggers: Sequence[str]
    future: asyncio.Future[tuple[int, list[int]]]


@dataclass(slots=True)
class _Batch:
    inserts: list[_Insert] = field(default_factory=list)
    reschedules: list[tuple[int, float, int, int | None, str | None, int]] = field(
        default_factory=list
    )
    completions: list[tuple[int, int]] = field(default_factory=list)
    barriers: list[asyncio.Future[None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.reschedules or self.completions or self.barriers)


def _encode_attributes(attributes: dict[str, AttributeValue]) -> bytes:
    return orjson.dumps(attributes)


class DeliveryQueue:
    """Async facade over the SQLite queue; all SQL runs on one dedicated thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-queue")
        self._connection: sqlite3.Connection | None = None
        self._batch = _Batch()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self.last_error: str | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open)
        self._writer = asyncio.create_task(self._write_loop(), name="broker-queue-writer")

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed enqueue survives power loss, not only a process crash.
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA busy_timeout=30000")
        connection.executescript(_SCHEMA)
        self._connection = connection

    async def close(self) -> None:
        """Write what is pending, then close the file."""
        if self._writer is None:
            return
        await self.flush()
        self._closing = True
        self._wakeup.set()
        await self._writer
        self._writer = None
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # -- writes --------------------------------------------------------------------

    async def enqueue(
        self, event: CloudEvent, headers: Headers, triggers: Sequence[str]
    ) -> tuple[int, list[int]]:
        """Store the event and a delivery row per Trigger; return the event id and the
        delivery ids once the transaction is durable. Raises QueueUnavailable."""
        if self._writer is None or self._closing:
            raise QueueUnavailable("the queue is not open")
        future: asyncio.Future[tuple[int, list[int]]] = asyncio.get_running_loop().create_future()
        self._batch.inserts.append(_Insert(event, headers, triggers, future))
        self._wakeup.set()
        return await future

    def reschedule(self, delivery: Delivery) -> None:
        """Record the next attempt (retry count, time, phase); not awaited."""
        self._batch.reschedules.append(
            (
                delivery.attempt,
                delivery.next_attempt_at,
                int(delivery.phase),
                delivery.error_code,
                delivery.error_data,
                delivery.id,
            )
        )
        self._wakeup.set()

    def complete(self, delivery: Delivery) -> None:
        """Forget a finished delivery (and its event once no delivery needs it); not awaited."""
        self._batch.completions.append((delivery.id, delivery.event_id))
        self._wakeup.set()

    async def flush(self) -> None:
        """Wait until everything handed over so far is written."""
        if self._writer is None:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.barriers.append(future)
        self._wakeup.set()
        await future

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._batch = self._batch, _Batch()
            if batch:
                try:
                    ids = await loop.run_in_executor(self._executor, self._write, batch)
                except Exception as exc:  # disk full, I/O error: refuse, never pretend
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    logger.error("queue write failed", extra={"error": self.last_error})
                    for insert in batch.inserts:
                        if not insert.future.done():
                            insert.future.set_exception(QueueUnavailable(self.last_error))
                else:
                    self.last_error = None
                    for insert, stored in zip(batch.inserts, ids, strict=True):
                        if not insert.future.done():
                            insert.future.set_result(stored)
                for barrier in batch.barriers:
                    if not barrier.done():
                        barrier.set_result(None)
            if self._closing and not self._batch:
                return

    def _write(self, batch: _Batch) -> list[tuple[int, list[int]]]:
        connection = self._connection
        assert connection is not None
        now = time.time()
        result: list[tuple[int, list[int]]] = []
        connection.execute("BEGIN IMMEDIATE")
        try:
            for insert in batch.inserts:
                cursor = connection.execute(
                    "INSERT INTO events (attributes, data, headers, received_at) "
                    "VALUES (?, ?, ?, ?)",
                    (
                        _encode_attributes(dict(insert.event.attributes)),
                        insert.event.data,
                        orjson.dumps(insert.headers),
                        now,
                    ),
                )
                event_id = cursor.lastrowid
                assert event_id is not None
                delivery_ids = []
                for trigger in insert.triggers:
                    cursor = connection.execute(
                        "INSERT INTO deliveries (event_id, trigger) VALUES (?, ?)",
                        (event_id, trigger),
                    )
                    assert cursor.lastrowid is not None
                    delivery_ids.append(cursor.lastrowid)
                result.append((event_id, delivery_ids))
            if batch.reschedules:
                connection.executemany(
                    "UPDATE deliveries SET attempt = ?, next_attempt_at = ?, phase = ?, "
                    "error_code = ?, error_data = ? WHERE id = ?",
                    batch.reschedules,
                )
            if batch.completions:
                connection.executemany(
                    "DELETE FROM deliveries WHERE id = ?", [(d,) for d, _ in batch.completions]
                )
                connection.executemany(
                    "DELETE FROM events WHERE id = ? AND NOT EXISTS "
                    "(SELECT 1 FROM deliveries WHERE event_id = ?)",
                    [(e, e) for _, e in batch.completions],
                )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result

    # -- reads ---------------------------------------------------------------------

    async def load(self, trigger: str, after_id: int, limit: int) -> list[Delivery]:
        """Pending deliveries of `trigger` with an id above `after_id`, oldest first."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._load, trigger, after_id, limit
        )

    def _load(self, trigger: str, after_id: int, limit: int) -> list[Delivery]:
        connection = self._connection
        assert connection is not None
        rows = connection.execute(
            "SELECT d.id, d.event_id, d.attempt, d.next_attempt_at, d.phase, d.error_code, "
            "d.error_data, e.attributes, e.data, e.headers "
            "FROM deliveries d JOIN events e ON e.id = d.event_id "
            "WHERE d.trigger = ? AND d.id > ? ORDER BY d.id LIMIT ?",
            (trigger, after_id, limit),
        ).fetchall()
        return [
            Delivery(
                id=row[0],
                event_id=row[1],
                attempt=row[2],
                next_attempt_at=row[3],
                phase=Phase(row[4]),
                error_code=row[5],
                error_data=row[6],
                event=CloudEvent(orjson.loads(row[7]), row[8]),
                headers=tuple((str(k), str(v)) for k, v in orjson.loads(row[9])),
            )
            for row in rows
        ]

    async def pending_counts(self) -> dict[str, int]:
        """Pending deliveries per Trigger key (including Triggers no longer configured)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._counts)

    def _counts(self) -> dict[str, int]:
        connection = self._connection
        assert connection is not None
        rows = connection.execute(
            "SELECT trigger, COUNT(*) FROM deliveries GROUP BY trigger"
        ).fetchall()
        return {str(trigger): int(count) for trigger, count in rows}

    async def ping(self) -> str | None:
        """None when the queue file answers and the last write succeeded."""
        if self._connection is None or self._writer is None:
            return "queue not open"
        if self.last_error:
            return f"last write failed: {self.last_error}"
        return None
