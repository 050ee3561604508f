"""Reading the store: filtered, cursor-paginated lists; one event; counts; the
newest seq (for live tails) and constant-memory scans (for exports)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import ColumnElement, RowMapping, Select, Table, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Boolean

from audit.tables import dead_letters, events

Order = Literal["asc", "desc"]
EXPORT_PAGE = 500


class InvalidCursor(ValueError):
    """A cursor this service did not issue (or for the other order)."""


class _DataContains(FunctionElement[bool]):
    """`data` holds these bytes: instr() on SQLite, position() on PostgreSQL."""

    type = Boolean()
    inherit_cache = True


@compiles(_DataContains)
def _data_contains_sqlite(element: _DataContains, compiler: SQLCompiler, **kw: Any) -> str:
    column, needle = list(element.clauses)
    return f"instr({compiler.process(column, **kw)}, {compiler.process(needle, **kw)}) > 0"


@compiles(_DataContains, "postgresql")
def _data_contains_postgres(element: _DataContains, compiler: SQLCompiler, **kw: Any) -> str:
    column, needle = list(element.clauses)
    return f"position({compiler.process(needle, **kw)} IN {compiler.process(column, **kw)}) > 0"


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a reader asks for; every non-empty field must match (values within one
    field are alternatives). `since` is inclusive, `until` exclusive, both on receive time."""

    types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None

    def clauses(self, table: Table) -> list[ColumnElement[bool]]:
        """SQL conditions on `table` (events or dead_letters)."""
        columns = table.c
        found: list[ColumnElement[bool]] = []
        for column, values in (
            (columns.type, self.types),
            (columns.source, self.sources),
            (columns.subject, self.subjects),
            (columns.event_id, self.ids),
        ):
            if len(values) == 1:
                found.append(column == values[0])
            elif values:
                found.append(column.in_(values))
        if self.since is not None:
            found.append(columns.received_at >= _utc(self.since))
        if self.until is not None:
            found.append(columns.received_at < _utc(self.until))
        if self.text:
            found.append(_DataContains(columns.data, self.text.encode("utf-8")))
        return found


def _utc(moment: datetime) -> datetime:
    # Aware UTC binds right on both: SQLite stores the UTC fields, PostgreSQL the instant.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def encode_cursor(seq: int, order: Order) -> str:
    """An opaque cursor: continue after `seq` in `order`."""
    raw = orjson.dumps([order[0], seq])
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, order: Order) -> int:
    """The seq a cursor continues after; InvalidCursor when it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, seq = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is not one this service issued") from exc
    if tag != order[0] or type(seq) is not int or not 0 <= seq < 2**63:
        raise InvalidCursor("cursor belongs to another order or is malformed")
    return seq


def read_columns(table: Table) -> list[Any]:
    """The columns the read API renders (data_json stays in the database)."""
    names = ["seq", "source", "event_id", "type", "mode", "received_at", "attributes", "data"]
    if table is dead_letters:
        names += ["error_dest", "error_code"]
    return [table.c[name] for name in names]


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[RowMapping]
    next_cursor: str | None


class EventStore:
    """Read-only queries over the events and dead_letters tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _select(self, table: Table, where: EventFilter) -> Select[Any]:
        return select(*read_columns(table)).where(*where.clauses(table))

    async def page(
        self,
        table: Table,
        where: EventFilter,
        *,
        limit: int,
        order: Order = "desc",
        after: int | None = None,
    ) -> Page:
        """Up to `limit` rows in seq order, after the cursor's seq; stable under
        inserts because new rows only ever get higher seq values."""
        seq = table.c.seq
        query = self._select(table, where)
        if after is not None:
            query = query.where(seq < after if order == "desc" else seq > after)
        query = query.order_by(seq.desc() if order == "desc" else seq.asc()).limit(limit + 1)
        async with self.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        if len(rows) > limit:
            rows = rows[:limit]
            return Page(rows, encode_cursor(rows[-1]["seq"], order))
        return Page(rows, None)

    async def one(self, table: Table, source: str, event_id: str) -> RowMapping | None:
        """The newest row with this (source, id), or None."""
        query = (
            select(*read_columns(table))
            .where(and_(table.c.source == source, table.c.event_id == event_id))
            .order_by(table.c.seq.desc())
            .limit(1)
        )
        async with self.engine.connect() as connection:
            return (await connection.execute(query)).mappings().first()

    async def max_seq(self, table: Table = events) -> int:
        """The highest committed seq (0 for an empty table)."""
        async with self.engine.connect() as connection:
            value = (await connection.execute(select(func.max(table.c.seq)))).scalar()
        return int(value or 0)

    async def between(
        self, table: Table, where: EventFilter, after: int, upto: int, limit: int
    ) -> Sequence[RowMapping]:
        """Matching rows with after < seq <= upto, oldest first (live tail)."""
        seq = table.c.seq
        query = (
            self._select(table, where)
            .where(seq > after, seq <= upto)
            .order_by(seq.asc())
            .limit(limit)
        )
        async with self.engine.connect() as connection:
            rows: Sequence[RowMapping] = (await connection.execute(query)).mappings().all()
        return rows

    async def scan(
        self, table: Table, where: EventFilter, order: Order = "asc"
    ) -> AsyncIterator[RowMapping]:
        """Every matching row, fetched a page at a time (constant memory; no
        transaction held open between pages)."""
        after: int | None = None
        while True:
            page = await self.page(table, where, limit=EXPORT_PAGE, order=order, after=after)
            for row in page.rows:
                yield row
            if page.next_cursor is None:
                return
            after = page.rows[-1]["seq"]

    async def counts(self) -> dict[str, Any]:
        """Stored events per type, the total, and the number of dead letters."""
        by_type = select(events.c.type, func.count()).group_by(events.c.type)
        async with self.engine.connect() as connection:
            types = {row[0]: int(row[1]) for row in await connection.execute(by_type)}
            dead = (
                await connection.execute(select(func.count()).select_from(dead_letters))
            ).scalar()
        return {"total": sum(types.values()), "types": types, "dead_letters": int(dead or 0)}
