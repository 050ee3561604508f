"""Group commit: many concurrent sink requests share one transaction.

Handlers hand their rows to `GroupCommitWriter.submit` and await; one writer task
takes everything queued, inserts it with one INSERT ... ON CONFLICT DO NOTHING
per table, commits, and only then wakes the waiters. So nothing is acknowledged
before it is committed, and a failed commit fails every waiter of that batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Column, Table, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit import metrics
from audit.tables import RawJson
from common.db import STORE_UNAVAILABLE, DatabaseFileWatch

logger = logging.getLogger(__name__)

# Writers of every replica take this lock per transaction, so seq values become
# visible in seq order and a reader resuming after seq N never skips a later commit.
SEQ_ORDER_LOCK = zlib.crc32(b"audit.events.seq")

# Failures one bad row can cause; the batch is then retried request by request to
# confine it. Anything else (connection lost, server stopping) fails the batch whole.
_ROW_ERRORS = (IntegrityError, DataError, ProgrammingError)
# SQLSTATE classes a row's values cause (PostgreSQL, Appendix A): 22 data exception,
# 23 integrity violation. asyncpg's errors reach SQLAlchemy as a generic DBAPIError,
# so the class comes from the code, not from the exception type.
_ROW_SQLSTATE_CLASSES = ("22", "23")


def _sqlstate(exc: Exception) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def _caused_by_rows(exc: Exception) -> bool:
    if isinstance(exc, _ROW_ERRORS) or _sqlstate(exc)[:2] in _ROW_SQLSTATE_CLASSES:
        return True
    # Binding a value failed before the database saw the statement.
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


def _is_data_exception(exc: Exception) -> bool:
    """A value the database refuses to hold, e.g. `1e-20000` in jsonb (22003)."""
    return isinstance(exc, DataError) or _sqlstate(exc).startswith("22")


class StoreUnavailable(Exception):
    """The rows were not committed; the caller must not acknowledge them."""


class EventsRefused(Exception):
    """The database refuses a value of these rows, even with `data_json` left out:
    retrying cannot help, so the caller answers 4xx."""


@dataclass(slots=True)
class _Job:
    table: Table
    rows: Sequence[dict[str, Any]]
    future: asyncio.Future[None] = field(repr=False)


class GroupCommitWriter:
    """One writer task per process; `submit` is safe to call from any request."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch_rows: int,
        max_pending_rows: int,
        stall_timeout: float = 15.0,
        on_commit: Callable[[], None] = lambda: None,
        database_file: DatabaseFileWatch | None = None,
    ) -> None:
        self._engine = engine
        self._database_file = database_file or DatabaseFileWatch(None)
        self._stall_timeout = stall_timeout
        self._stalled = False
        # Set by a failed commit, cleared by the next one that succeeds (or a probe).
        self.failing = False
        self._max_batch_rows = max_batch_rows
        self._max_pending_rows = max_pending_rows
        self._on_commit = on_commit
        self._queue: deque[_Job] = deque()
        self._pending_rows = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._connection: AsyncConnection | None = None
        self._postgres = engine.dialect.name == "postgresql"

    def start(self) -> None:
        """Start the writer task (call from the running event loop)."""
        self._database_file.remember()
        self._task = asyncio.create_task(self._run(), name="audit-group-commit")

    def database_file_problem(self) -> str | None:
        """Why the SQLite file at the configured path is no longer the one written to."""
        return self._database_file.problem()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def submit(self, table: Table, rows: Sequence[dict[str, Any]]) -> asyncio.Future[None]:
        """Queue `rows`; the future completes once they are committed (duplicates
        skipped) and fails with StoreUnavailable when they were not. Raises
        StoreUnavailable at once when stopped, not started, stalled, or too much is waiting."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not rows:
            future.set_result(None)
            return future
        if self._closing or not self.running:
            raise StoreUnavailable("the store is not accepting writes")
        if self._stalled:
            raise StoreUnavailable("the store is not committing")
        if self._pending_rows + len(rows) > self._max_pending_rows:
            raise StoreUnavailable("too many events are waiting for the store")
        self._queue.append(_Job(table, rows, future))
        self._pending_rows += len(rows)
        self._wakeup.set()
        return future

    async def close(self) -> None:
        """Commit what is queued, then stop the writer task (a commit hung for
        longer than the stall timeout is abandoned: it was never acknowledged)."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self._stall_timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self._drop_connection()

    async def probe(self) -> str | None:
        """After a failed commit: None once a real write commits again (readiness).

        A flag alone would keep a pod out of service forever, since no traffic
        reaches an unready pod to clear it; so readiness tries a write itself.
        """
        gone = self._database_file.problem()
        if gone is not None:
            return gone
        try:
            async with self._engine.begin() as connection:
                # Rewrites one row in place: a real write (journal, pages) that changes nothing.
                await connection.execute(
                    text("UPDATE alembic_version SET version_num = version_num")
                )
        except STORE_UNAVAILABLE as exc:
            return f"writes fail: {type(exc).__name__}"
        self.failing = False
        return None

    async def _writer_connection(self) -> AsyncConnection:
        # One connection kept for the writer: no pool checkout and reset per batch.
        if self._connection is None:
            self._connection = await self._engine.connect()
        return self._connection

    async def _drop_connection(self) -> None:
        """After a failure the connection may be broken: the next batch gets a new one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
                await connection.close()

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            jobs = [self._queue.popleft()]
            rows = len(jobs[0].rows)
            while self._queue and rows + len(self._queue[0].rows) <= self._max_batch_rows:
                job = self._queue.popleft()
                jobs.append(job)
                rows += len(job.rows)
            self._pending_rows -= rows
            await self._commit(jobs)

    def _stall(self, jobs: list[_Job]) -> None:
        # One timer per transaction instead of one per request: a commit that hangs
        # fails its waiters and everything queued behind it, and new writes fail
        # fast until it returns. Rows may still commit later; none is acknowledged.
        self._stalled = True
        logger.error("store commit exceeded %.1fs; answering 503", self._stall_timeout)
        failure = StoreUnavailable(f"no commit within {self._stall_timeout:g}s")
        queued = list(self._queue)
        self._queue.clear()
        self._pending_rows = 0
        for job in [*jobs, *queued]:
            if not job.future.done():
                job.future.set_exception(failure)

    async def _commit(self, jobs: list[_Job]) -> None:
        started = time.perf_counter()
        timer = asyncio.get_running_loop().call_later(self._stall_timeout, self._stall, jobs)
        try:
            await self._insert(jobs)
        except Exception as exc:  # the writer must outlive any failure
            failure: Exception | None = exc
        else:
            failure = None
        finally:
            timer.cancel()
            self._stalled = False
        if failure is None:
            self.failing = False
            metrics.STORE_LATENCY.observe(time.perf_counter() - started)
            for job in jobs:
                if not job.future.done():
                    job.future.set_result(None)
            self._on_commit()
        elif len(jobs) > 1 and _caused_by_rows(failure):
            logger.warning("batch failed, retrying request by request: %s", failure)
            for job in jobs:
                await self._commit([job])
        elif _is_data_exception(failure):
            await self._store_as_bytes(jobs[0], failure)
        else:
            self.failing = True
            metrics.STORE_FAILURES.inc()
            logger.error(
                "store write failed: %s: %s",
                type(failure).__name__,
                failure,
                extra={"requests": len(jobs)},
            )
            unavailable = (
                failure
                if isinstance(failure, StoreUnavailable)
                else StoreUnavailable(type(failure).__name__)
            )
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(unavailable)

    async def _store_as_bytes(self, job: _Job, failure: Exception) -> None:
        """One request's data was refused by the database (e.g. jsonb cannot hold a
        number): keep its bytes and leave `data_json` NULL, or refuse the request."""
        if all(row.get("data_json") is None for row in job.rows):
            logger.warning("the database refuses these events: SQLSTATE %s", _sqlstate(failure))
            if not job.future.done():
                job.future.set_exception(EventsRefused(_sqlstate(failure) or "data exception"))
            return
        logger.warning(
            "the database refuses the data as JSON (SQLSTATE %s); storing bytes only",
            _sqlstate(failure),
        )
        metrics.DATA_JSON_REFUSED.inc(len(job.rows))
        rows = [{**row, "data_json": None} for row in job.rows]
        await self._commit([_Job(job.table, rows, job.future)])

    async def _insert(self, jobs: list[_Job]) -> None:
        gone = self._database_file.problem()
        if gone is not None:
            raise StoreUnavailable(gone)
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for job in jobs:
            by_table.setdefault(job.table, []).extend(job.rows)
        connection = await self._writer_connection()
        try:
            async with connection.begin():
                if self._postgres:
                    await connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQ_ORDER_LOCK}
                    )
                stored = {
                    table: await self._insert_rows(connection, table, rows)
                    for table, rows in by_table.items()
                }
        except BaseException:
            await self._drop_connection()
            raise
        for table, rows in by_table.items():
            metrics.BATCH_ROWS.observe(len(rows))
            duplicates = len(rows) - stored[table]
            if duplicates:
                metrics.DUPLICATES.labels(table.name).inc(duplicates)

    async def _insert_rows(
        self, connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]
    ) -> int:
        """Insert, skipping rows whose key is stored already; return how many were new."""
        insert = _INSERTS[self._postgres]
        result = await connection.exec_driver_sql(
            insert.statement(table), insert.parameters(table, rows)
        )
        return int(result.rowcount)


class _BulkInsert:
    """One INSERT ... ON CONFLICT DO NOTHING for many rows, as driver-level SQL:
    the hot path skips SQLAlchemy's per-row bind processing, and the database
    reports how many rows were new (the rest were duplicates)."""

    def __init__(self) -> None:
        self._statements: dict[str, str] = {}

    def statement(self, table: Table) -> str:
        """The SQL for `table`, built once from its columns."""
        if table.name not in self._statements:
            self._statements[table.name] = self._build(table, _insert_columns(table))
        return self._statements[table.name]

    def _build(self, table: Table, columns: list[Column[Any]]) -> str:
        raise NotImplementedError

    def parameters(self, table: Table, rows: list[dict[str, Any]]) -> Any:
        raise NotImplementedError


class _SqliteInsert(_BulkInsert):
    """executemany of one row per event; sqlite3 sums the rows it inserted."""

    def _build(self, table: Table, columns: list[Column[Any]]) -> str:
        names = ", ".join(column.name for column in columns)
        marks = ", ".join("?" for _ in columns)
        # Names come from the table definition, never from a request.
        return f"INSERT INTO {table.name} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"  # noqa: S608

    def parameters(self, table: Table, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        names = [column.name for column in _insert_columns(table)]
        times: dict[datetime, str] = {}
        for row in rows:
            moment = row["received_at"]
            if moment not in times:
                times[moment] = sqlite_datetime(moment)
        return [
            tuple(times[row[name]] if name == "received_at" else row[name] for name in names)
            for row in rows
        ]


class _PostgresInsert(_BulkInsert):
    """One statement whatever the row count: a column per array, zipped by unnest."""

    _ARRAY_TYPES: ClassVar[dict[str, str]] = {
        "received_at": "timestamptz[]",
        "data": "bytea[]",
        "error_code": "int[]",
    }

    def _build(self, table: Table, columns: list[Column[Any]]) -> str:
        names = [column.name for column in columns]
        arrays = ", ".join(
            f"${i}::{self._ARRAY_TYPES.get(name, 'text[]')}" for i, name in enumerate(names, 1)
        )
        values = ", ".join(
            f"{name}::jsonb" if isinstance(column.type, RawJson) else name
            for name, column in zip(names, columns, strict=True)
        )
        # Names come from the table definition, never from a request.
        return (
            f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608
            f"SELECT {values} FROM unnest({arrays}) AS batch({', '.join(names)}) "
            "ON CONFLICT DO NOTHING"
        )

    def parameters(self, table: Table, rows: list[dict[str, Any]]) -> tuple[list[Any], ...]:
        return tuple([row[column.name] for row in rows] for column in _insert_columns(table))


def _insert_columns(table: Table) -> list[Column[Any]]:
    return [column for column in table.columns if column.name != "seq"]


def sqlite_datetime(moment: datetime) -> str:
    """`moment` in UTC as SQLAlchemy's SQLite DateTime stores it (and reads it back)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


_INSERTS: dict[bool, _BulkInsert] = {False: _SqliteInsert(), True: _PostgresInsert()}
