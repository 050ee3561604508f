"""Group commit: many concurrent sink requests share one transaction.

Handlers hand their rows to `GroupCommitWriter.submit` and await; one writer task
takes everything queued, inserts it with one INSERT ... ON CONFLICT DO NOTHING
per table, commits, and only then wakes the waiters. So nothing is acknowledged
before it is committed, and a failed commit fails every waiter of that batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit import metrics

logger = logging.getLogger(__name__)

# Writers of every replica take this lock per transaction, so seq values become
# visible in seq order and a reader resuming after seq N never skips a later commit.
SEQ_ORDER_LOCK = zlib.crc32(b"audit.events.seq")

# Failures one bad row can cause; the batch is then retried request by request to
# confine it. Anything else (connection lost, server stopping) fails the batch whole.
_ROW_ERRORS = (IntegrityError, DataError, ProgrammingError)


def _caused_by_rows(exc: Exception) -> bool:
    if isinstance(exc, _ROW_ERRORS):
        return True
    # Binding a value failed before the database saw the statement.
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


class StoreUnavailable(Exception):
    """The rows were not committed; the caller must not acknowledge them."""


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
    ) -> None:
        self._engine = engine
        self._stall_timeout = stall_timeout
        self._stalled = False
        self._max_batch_rows = max_batch_rows
        self._max_pending_rows = max_pending_rows
        self._on_commit = on_commit
        self._queue: deque[_Job] = deque()
        self._pending_rows = 0
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._postgres = engine.dialect.name == "postgresql"

    def start(self) -> None:
        """Start the writer task (call from the running event loop)."""
        self._task = asyncio.create_task(self._run(), name="audit-group-commit")

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
        """Commit what is queued, then stop the writer task."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

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
            metrics.STORE_LATENCY.observe(time.perf_counter() - started)
            for job in jobs:
                if not job.future.done():
                    job.future.set_result(None)
            self._on_commit()
        elif len(jobs) > 1 and _caused_by_rows(failure):
            logger.warning("batch failed, retrying request by request: %s", failure)
            for job in jobs:
                await self._commit([job])
        else:
            metrics.STORE_FAILURES.inc()
            logger.error(
                "store write failed: %s: %s",
                type(failure).__name__,
                failure,
                extra={"requests": len(jobs)},
            )
            unavailable = StoreUnavailable(type(failure).__name__)
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(unavailable)

    async def _insert(self, jobs: list[_Job]) -> None:
        by_table: dict[Table, list[dict[str, Any]]] = {}
        for job in jobs:
            by_table.setdefault(job.table, []).extend(job.rows)
        async with self._engine.begin() as connection:
            if self._postgres:
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQ_ORDER_LOCK}
                )
            stored = {
                table: await self._insert_rows(connection, table, rows)
                for table, rows in by_table.items()
            }
        for table, rows in by_table.items():
            metrics.BATCH_ROWS.observe(len(rows))
            duplicates = len(rows) - stored[table]
            if duplicates:
                metrics.DUPLICATES.labels(table.name).inc(duplicates)

    async def _insert_rows(
        self, connection: AsyncConnection, table: Table, rows: list[dict[str, Any]]
    ) -> int:
        """Insert, skipping rows whose key is stored already; return how many were new."""
        dialect = postgresql if self._postgres else sqlite
        statement = dialect.insert(table).on_conflict_do_nothing().returning(table.c.seq)
        result = await connection.execute(statement, rows)
        return len(result.all())
