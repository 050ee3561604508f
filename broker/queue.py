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

from broker.headers import Headers
from common.events.model import AttributeValue, CloudEvent

logger = logging.getLogger(__name__)


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


class UnstorableEvent(ValueError):
    """This event cannot be encoded for the queue file; retrying will not help (400)."""


# After a failed write, completions and retry schedules are tried again this much later.
RETRY_WRITE_DELAY = 1.0


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


def footprint(delivery: Delivery) -> int:
    """Roughly the bytes a delivery holds in memory: its event, data and headers."""
    event = delivery.event
    size = 256 + len(event.data or b"")
    for name, value in event.attributes.items():
        size += len(name) + (len(value) if isinstance(value, str) else 8)
    for name, value in delivery.headers:
        size += len(name) + len(value)
    return size


@dataclass(slots=True)
class _Insert:
    row: tuple[bytes, bytes | None, bytes]  # attributes, data, headers: encoded
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

    @property
    def updates(self) -> bool:
        return bool(self.reschedules or self.completions)


def _encode_attributes(attributes: dict[str, AttributeValue]) -> bytes:
    return orjson.dumps(attributes)


def _encode_row(event: CloudEvent, headers: Headers) -> tuple[bytes, bytes | None, bytes]:
    """The event as stored; raises UnstorableEvent (e.g. an integer beyond 64 bits)."""
    try:
        return _encode_attributes(dict(event.attributes)), event.data, orjson.dumps(headers)
    except (TypeError, ValueError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise UnstorableEvent(f"the event cannot be stored: {exc}") from None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _resolve(insert: _Insert, ids: tuple[int, list[int]]) -> None:
    if not insert.future.done():
        insert.future.set_result(ids)


def _reject(insert: _Insert, error: Exception) -> None:
    if not insert.future.done():
        insert.future.set_exception(error)


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
        delivery ids once the transaction is durable. Raises QueueUnavailable, or
        UnstorableEvent for an event that cannot be encoded."""
        if self._writer is None or self._closing:
            raise QueueUnavailable("the queue is not open")
        # Encoded here, before any transaction: a row that cannot be encoded fails alone.
        row = _encode_row(event, headers)
        future: asyncio.Future[tuple[int, list[int]]] = asyncio.get_running_loop().create_future()
        self._batch.inserts.append(_Insert(row, triggers, future))
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
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._batch = self._batch, _Batch()
            if batch:
                await self._commit(batch)
                for barrier in batch.barriers:
                    if not barrier.done():
                        barrier.set_result(None)
            if self._closing and not self._batch:
                return

    async def _commit(self, batch: _Batch) -> None:
        """Write `batch` as one transaction; if that fails, each part in its own, so one
        bad row cannot fail the others, and keep updates that still fail for later."""
        try:
            stored = await self._run_write(batch)
        except Exception as exc:
            self._failed(exc)
        else:
            self.last_error = None
            for insert, ids in zip(batch.inserts, stored, strict=True):
                _resolve(insert, ids)
            return
        parts = [_Batch(inserts=[insert]) for insert in batch.inserts]
        if batch.updates:
            parts.append(_Batch(reschedules=batch.reschedules, completions=batch.completions))
        for part in parts:
            try:
                stored = await self._run_write(part)
            except Exception as exc:
                self._failed(exc)
                for insert in part.inserts:
                    _reject(insert, QueueUnavailable(self.last_error or _describe(exc)))
                if part.updates:
                    self._retain(part)
            else:
                self.last_error = None
                for insert, ids in zip(part.inserts, stored, strict=True):
                    _resolve(insert, ids)

    async def _run_write(self, batch: _Batch) -> list[tuple[int, list[int]]]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._write, batch)

    def _failed(self, exc: Exception) -> None:
        # Disk full, I/O error: refuse, never pretend.
        self.last_error = _describe(exc)
        logger.error("queue write failed", extra={"error": self.last_error})

    def _retain(self, part: _Batch) -> None:
        """Completions and retry schedules that could not be written are tried again."""
        if self._closing:
            # At-least-once holds: an unwritten completion means one more delivery.
            logger.error(
                "queue updates not written at shutdown",
                extra={"completions": len(part.completions), "reschedules": len(part.reschedules)},
            )
            return
        # Older updates first: a later reschedule or completion of the same row wins.
        self._batch.reschedules[:0] = part.reschedules
        self._batch.completions[:0] = part.completions
        asyncio.get_running_loop().call_later(RETRY_WRITE_DELAY, self._wakeup.set)

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
                    (*insert.row, now),
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

    async def load(
        self, trigger: str, after_id: int, limit: int, max_bytes: int | None = None
    ) -> list[Delivery]:
        """Pending deliveries of `trigger` with an id above `after_id`, oldest first: at
        most `limit` of them and, past the first, at most `max_bytes` of stored event."""
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._load, trigger, after_id, limit, max_bytes
        )

    def _load(
        self, trigger: str, after_id: int, limit: int, max_bytes: int | None
    ) -> list[Delivery]:
        connection = self._connection
        assert connection is not None
        cursor = connection.execute(
            "SELECT d.id, d.event_id, d.attempt, d.next_attempt_at, d.phase, d.error_code, "
            "d.error_data, e.attributes, e.data, e.headers "
            "FROM deliveries d JOIN events e ON e.id = d.event_id "
            "WHERE d.trigger = ? AND d.id > ? ORDER BY d.id LIMIT ?",
            (trigger, after_id, limit),
        )
        deliveries: list[Delivery] = []
        size = 0
        # Row by row, so a page of large events stops at the byte budget.
        for row in cursor:
            size += len(row[7]) + len(row[8] or b"") + len(row[9])
            if max_bytes is not None and deliveries and size > max_bytes:
                break
            deliveries.append(
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
            )
        cursor.close()
        return deliveries

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
