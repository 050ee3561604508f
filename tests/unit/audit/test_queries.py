"""Cursors and filters, compiled for both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from audit.queries import EventFilter, InvalidCursor, decode_cursor, encode_cursor
from audit.tables import events


def test_a_cursor_round_trips_for_its_order_only() -> None:
    cursor = encode_cursor(42, "desc")

    assert decode_cursor(cursor, "desc") == 42
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, "asc")


@pytest.mark.parametrize(
    "cursor", ["", "!!!", "bm90LW91cnM", encode_cursor(-1, "asc"), "WyJhIiwxZTEwMF0"]
)
def test_a_cursor_we_did_not_issue_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor, "asc")


def _sql(where: EventFilter, dialect: object) -> str:
    query = select(events.c.seq).where(*where.clauses(events))
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": False}))


def test_an_empty_filter_adds_no_condition() -> None:
    assert EventFilter().clauses(events) == []


def test_filters_compile_for_sqlite_and_postgresql() -> None:
    where = EventFilter(
        types=("a",),
        sources=("s1", "s2"),
        subjects=("x",),
        ids=("i",),
        since=datetime(2026, 1, 1, tzinfo=UTC),
        until=datetime(2026, 1, 2, tzinfo=UTC),
        text="needle",
    )

    lite = _sql(where, sqlite.dialect())
    pg = _sql(where, postgresql.dialect())

    assert "instr(events.data" in lite
    assert "position(" in pg
    assert "IN events.data" in pg
    for sql in (lite, pg):
        assert "events.type =" in sql
        assert "events.source IN" in sql
        assert "events.received_at >=" in sql
        assert "events.received_at <" in sql


def test_time_bounds_are_compared_in_utc() -> None:
    local = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    [clause] = EventFilter(since=local).clauses(events)

    assert clause.right.value == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)  # type: ignore[attr-defined]
