"""Group commit: concurrent writes share transactions; nobody hears "done" for
a write that did not commit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from common.db import create_engine
from user.batching import CommitBatcher

metadata = sa.MetaData()
items = sa.Table("items", metadata, sa.Column("n", sa.Integer, primary_key=True))


def batched_writes() -> float:
    return REGISTRY.get_sample_value("user_write_batch_size_sum") or 0.0


async def fresh(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'batch.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return engine


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(sa.select(sa.func.count()).select_from(items))).scalar_one()
        )


def test_concurrent_writes_share_transactions(tmp_path: Path) -> None:
    async def main() -> None:
        engine = await fresh(tmp_path)
        commits: list[int] = []
        batcher = CommitBatcher(engine, max_batch=50, after_commit=lambda: commits.append(1))
        batcher.start()
        before = batched_writes()
        await asyncio.gather(*(batcher.insert([(items, {"n": n})]) for n in range(200)))
        assert await count(engine) == 200
        assert 4 <= len(commits) < 200  # batched, and never more than 50 at once
        assert batched_writes() - before == 200
        await batcher.stop()
        await engine.dispose()

    asyncio.run(main())


def test_jobs_return_their_results_in_the_shared_transaction(tmp_path: Path) -> None:
    async def main() -> None:
        engine = await fresh(tmp_path)
        batcher = CommitBatcher(engine)
        batcher.start()

        async def job(connection: AsyncConnection) -> int:
            await connection.execute(items.insert().values(n=7))
            return 7

        assert await batcher.run(job) == 7
        assert await count(engine) == 1
        await batcher.stop()
        await engine.dispose()

    asyncio.run(main())


def test_a_failing_batch_fails_every_write_in_it_and_commits_none(tmp_path: Path) -> None:
    async def main() -> None:
        engine = await fresh(tmp_path)
        batcher = CommitBatcher(engine)
        batcher.start()
        # n=1 twice in one batch: the primary key makes the whole transaction fail.
        results = await asyncio.gather(
            batcher.insert([(items, {"n": 1})]),
            batcher.insert([(items, {"n": 2})]),
            batcher.insert([(items, {"n": 1})]),
            return_exceptions=True,
        )
        assert all(isinstance(r, sa.exc.IntegrityError) for r in results)
        assert await count(engine) == 0
        # The batcher goes on.
        await batcher.insert([(items, {"n": 3})])
        assert await count(engine) == 1
        await batcher.stop()
        await engine.dispose()

    asyncio.run(main())


def test_stop_commits_what_is_queued(tmp_path: Path) -> None:
    async def main() -> None:
        engine = await fresh(tmp_path)
        batcher = CommitBatcher(engine, max_batch=3)
        batcher.start()
        writes = [asyncio.ensure_future(batcher.insert([(items, {"n": n})])) for n in range(10)]
        await asyncio.sleep(0)
        await batcher.stop()
        await asyncio.gather(*writes)
        assert await count(engine) == 10
        with pytest.raises(RuntimeError):
            await batcher.insert([(items, {"n": 99})])
        await engine.dispose()

    asyncio.run(main())
