"""The group-commit writer on a real SQLite file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.app import MIGRATIONS
from audit.records import event_row
from audit.tables import events
from audit.writer import GroupCommitWriter, StoreUnavailable
from common.db import DatabaseFileWatch, create_engine
from common.events import new_event
from common.logs import configure_logging
from common.migrations import Migrations

Scenario = Callable[[AsyncEngine, GroupCommitWriter], Awaitable[None]]


def _rows(count: int, **overrides: Any) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    rows = [
        event_row(new_event(type="t", source="/w", data=b"{}"), "binary", now) for _ in range(count)
    ]
    for row in rows:
        row.update(overrides)
    return rows


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(events))).scalar_one()
        )


def _run(tmp_path: Path, scenario: Scenario, **options: Any) -> None:
    async def main() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
        await Migrations(MIGRATIONS).upgrade(engine)
        writer = GroupCommitWriter(
            engine,
            max_batch_rows=options.pop("max_batch_rows", 1000),
            max_pending_rows=options.pop("max_pending_rows", 10_000),
            **options,
        )
        writer.start()
        try:
            await scenario(engine, writer)
        finally:
            await writer.close()
            await engine.dispose()

    asyncio.run(main())


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_concurrent_writes_share_transactions_and_are_committed_when_awaited(
    tmp_path: Path,
) -> None:
    commits: list[int] = []

    async def scenario(engine: AsyncEngine, writer: GroupCommitWriter) -> None:
        async def write_and_count() -> int:
            await writer.submit(events, _rows(2))
            return await _count(engine)

        seen = await asyncio.gather(*(write_and_count() for _ in range(100)))

        assert await _count(engine) == 200
        assert min(seen) >= 2, "a waiter woke before its rows were committed"
        assert 1 <= len(commits) < 100

    _run(tmp_path, scenario, on_commit=lambda: commits.append(1))


def test_duplicates_are_skipped_and_counted(tmp_path: Path) -> None:
    before = _sample("audit_events_duplicate_total", kind="events")

    async def scenario(engine: AsyncEngine, writer: GroupCommitWriter) -> None:
        rows = _rows(3)
        await writer.submit(events, rows)
        await asyncio.gather(writer.submit(events, rows[:2]), writer.submit(events, rows[2:]))

        assert await _count(engine) == 3

    _run(tmp_path, scenario)
    assert _sample("audit_events_duplicate_total", kind="events") - before == 3


def test_a_bad_row_fails_only_its_own_request(tmp_path: Path) -> None:
    async def scenario(engine: AsyncEngine, writer: GroupCommitWriter) -> None:
        good = [writer.submit(events, _rows(2)) for _ in range(5)]
        bad = writer.submit(events, _rows(1, type=None))
        more = [writer.submit(events, _rows(2)) for _ in range(5)]

        results = await asyncio.gather(*good, bad, *more, return_exceptions=True)

        assert [type(r).__name__ for r in results].count("StoreUnavailable") == 1
        assert isinstance(results[5], StoreUnavailable)
        assert await _count(engine) == 20

    _run(tmp_path, scenario)


def test_a_database_failure_fails_every_waiter_of_the_batch(tmp_path: Path) -> None:
    async def scenario(engine: AsyncEngine, writer: GroupCommitWriter) -> None:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TABLE events")
        results = await asyncio.gather(
            *(writer.submit(events, _rows(1)) for _ in range(5)), return_exceptions=True
        )

        assert all(isinstance(r, StoreUnavailable) for r in results)

    _run(tmp_path, scenario)


def test_a_stalled_commit_fails_its_waiters_and_new_writes_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()
    entered = asyncio.Event()
    original = GroupCommitWriter._insert

    async def slow_insert(self: GroupCommitWriter, jobs: Any) -> None:
        entered.set()
        await release.wait()
        await original(self, jobs)

    monkeypatch.setattr(GroupCommitWriter, "_insert", slow_insert)

    async def scenario(engine: AsyncEngine, writer: GroupCommitWriter) -> None:
        first = writer.submit(events, _rows(1))
        await entered.wait()
        queued = [writer.submit(events, _rows(1)) for _ in range(3)]
        with pytest.raises(StoreUnavailable):
            await first
        for future in queued:
            with pytest.raises(StoreUnavailable):
                await future
        with pytest.raises(StoreUnavailable):
            writer.submit(events, _rows(1))

        release.set()
        await asyncio.sleep(0)  # let the slow commit finish
        for _ in range(100):
            try:
                await writer.submit(events, _rows(1))
                break
            except StoreUnavailable:
                await asyncio.sleep(0.01)
        # The stalled commit still landed, late and unacknowledged; the queued
        # rows were dropped (their senders got 503 and will retry).
        assert await _count(engine) == 2

    _run(tmp_path, scenario, stall_timeout=0.2)


def test_too_much_waiting_is_refused_at_once(tmp_path: Path) -> None:
    async def scenario(engine: AsyncEngine, writer: GroupCommitWriter) -> None:
        with pytest.raises(StoreUnavailable):
            writer.submit(events, _rows(11))
        await writer.submit(events, _rows(10))

    _run(tmp_path, scenario, max_pending_rows=10)


def test_close_commits_what_is_queued_then_refuses(tmp_path: Path) -> None:
    async def scenario(engine: AsyncEngine, writer: GroupCommitWriter) -> None:
        futures = [writer.submit(events, _rows(1)) for _ in range(10)]
        await writer.close()

        assert all(f.done() and f.exception() is None for f in futures)
        assert await _count(engine) == 10
        with pytest.raises(StoreUnavailable):
            writer.submit(events, _rows(1))

    _run(tmp_path, scenario)


def test_an_empty_write_needs_no_store(tmp_path: Path) -> None:
    async def scenario(engine: AsyncEngine, writer: GroupCommitWriter) -> None:
        await writer.close()
        await writer.submit(events, [])

    _run(tmp_path, scenario)


def test_a_writer_that_was_never_started_refuses(tmp_path: Path) -> None:
    async def main() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'n.db'}")
        writer = GroupCommitWriter(engine, max_batch_rows=10, max_pending_rows=10)
        with pytest.raises(StoreUnavailable):
            writer.submit(events, _rows(1))
        await engine.dispose()

    asyncio.run(main())


def test_a_database_file_replaced_under_the_writer_fails_writes_and_the_probe(
    tmp_path: Path,
) -> None:
    database = tmp_path / "w.db"

    async def scenario(_: AsyncEngine, writer: GroupCommitWriter) -> None:
        await writer.submit(events, _rows(1))
        (tmp_path / "other.db").write_bytes(database.read_bytes())
        (tmp_path / "other.db").replace(database)

        with pytest.raises(StoreUnavailable, match="replaced"):
            await writer.submit(events, _rows(1))
        assert writer.failing
        assert "replaced" in (await writer.probe() or "")

    _run(tmp_path, scenario, database_file=DatabaseFileWatch(database))


def test_a_failed_write_logs_no_sql_parameter_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = "parameter-value-that-must-not-be-logged"

    async def scenario(_: AsyncEngine, writer: GroupCommitWriter) -> None:
        good = writer.submit(events, _rows(1, subject=marker))
        bad = writer.submit(events, _rows(1, type=None, subject=marker))

        results = await asyncio.gather(good, bad, return_exceptions=True)

        assert isinstance(results[1], StoreUnavailable)

    with caplog.at_level("INFO"):
        _run(tmp_path, scenario)

    assert "INSERT INTO events" in caplog.text  # the statement is named...
    assert marker not in caplog.text  # ...but none of its values


def test_debug_logging_leaves_out_the_driver_log_of_every_statement_value() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("aiosqlite").level
    try:
        configure_logging("test", "debug")

        assert root.isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("aiosqlite").setLevel(saved[2])
