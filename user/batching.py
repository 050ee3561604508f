"""Group commit: concurrent writes share one transaction, and so one fsync.

A durable commit costs an fsync (about 3 ms on common disks), which caps a
SQLite database at a few hundred commits per second. Here each write is a job;
one worker runs all queued jobs (up to `max_batch`) in a single transaction, and
every caller gets its result only after that transaction committed. Under load,
jobs queue while the previous batch commits, so batches form by themselves; a
lone request is not delayed.

Plain inserts (`insert`) from all jobs of a batch are merged into one
multi-row INSERT per table, which is most of the work saved under load.

A failing batch fails every job in it (nothing of it is committed), which is
what the callers' answers say (503), so no write is acknowledged and lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")
Job = Callable[[AsyncConnection], Awaitable[Any]]
Rows = Sequence[tuple[sa.Table, dict[str, Any]]]

BATCH_SIZE = Histogram(
    "user_write_batch_size",
    "Writes committed together in one transaction (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


class CommitBatcher:
    """Runs write jobs in shared transactions; `after_commit` runs after each one."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 64,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.after_commit = after_commit
        self._queue: list[tuple[Job | Rows, asyncio.Future[Any]]] = []
        self._ready = asyncio.Event()
        self._stopping = False
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._stopping = False
        self._worker = asyncio.create_task(self._run(), name="commit-batcher")

    async def stop(self) -> None:
        """Commit everything queued, then stop."""
        if self._worker is None:
            return
        self._stopping = True
        self._ready.set()
        await self._worker
        self._worker = None

    async def run(self, job: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `job` inside the next batch's transaction; return once it committed."""
        result: T = await self._submit(job)
        return result

    async def insert(self, rows: Rows) -> None:
        """Insert `(table, values)` rows in the next batch; return once committed."""
        await self._submit(rows)

    async def _submit(self, job: Job | Rows) -> Any:
        if self._worker is None or self._worker.done():
            raise RuntimeError("the commit batcher is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        self._ready.set()
        return await future

    async def _run(self) -> None:
        while self._queue or not self._stopping:
            if not self._queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Job | Rows, asyncio.Future[Any]]]) -> None:
        by_table: dict[sa.Table, list[dict[str, Any]]] = {}
        for job, _ in batch:
            if not callable(job):
                for table, values in job:
                    by_table.setdefault(table, []).append(values)
        results: list[Any] = []
        try:
            async with self.engine.begin() as connection:
                for table, rows in by_table.items():
                    await connection.execute(table.insert(), rows)
                for job, _ in batch:
                    results.append(await job(connection) if callable(job) else None)
        except Exception as exc:  # every caller learns its write did not happen
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        BATCH_SIZE.observe(len(batch))
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
        if self.after_commit is not None:
            self.after_commit()
