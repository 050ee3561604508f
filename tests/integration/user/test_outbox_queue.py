"""Concurrent claimers on one database (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite:
the database lock) never lease the same row twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from common.db import create_engine
from common.migrations import Migrations
from user.app import MIGRATIONS
from user.outbox import EventFactory, OutboxQueue, insert_outbox_row


def test_concurrent_claims_are_disjoint_and_complete(database_url: str) -> None:
    rows, claimers = 300, 6

    async def main() -> list[list[int]]:
        engines = [create_engine(database_url, pool_size=2) for _ in range(claimers)]
        try:
            await Migrations(MIGRATIONS).upgrade(engines[0])
            factory = EventFactory("/test", "http://127.0.0.1:3000")
            async with engines[0].begin() as connection:
                for index in range(rows):
                    now = datetime.now(UTC)
                    item = factory.build("user.storeUser", str(index), {"id": str(index)}, now)
                    await insert_outbox_row(connection, item, now)

            async def claimer(number: int) -> list[int]:
                queue = OutboxQueue(engines[number])
                mine: list[int] = []
                while True:
                    batch = await queue.claim(
                        f"relay-{number}", 7, datetime.now(UTC), timedelta(seconds=60)
                    )
                    if not batch:
                        return mine
                    mine += [item.seq for item in batch]

            return await asyncio.gather(*(claimer(n) for n in range(claimers)))
        finally:
            for engine in engines:
                await engine.dispose()

    claimed = asyncio.run(main())
    everything = [seq for batch in claimed for seq in batch]
    assert len(everything) == rows
    assert len(set(everything)) == rows, "a row was leased by two claimers"
    assert sum(1 for batch in claimed if batch) >= 2, "claims did not run concurrently"
