"""The audit store's tables, as SQLAlchemy Core objects (the DDL lives in migrations/)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine


class RawJson(TypeDecorator[str]):
    """A JSON column (JSONB on PostgreSQL) written from already-encoded JSON text,
    so the hot path encodes once, with orjson, and never re-encodes."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def bind_processor(self, dialect: Dialect) -> None:
        return None


def _event_columns() -> list[Column[Any]]:
    return [
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("source", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("type", Text, nullable=False),
        Column("subject", Text),
        Column("datacontenttype", Text),
        Column("mode", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
        Column("attributes", RawJson, nullable=False),
        Column("data", LargeBinary),
        Column("data_json", RawJson),
    ]


metadata = MetaData()

events = Table("events", metadata, *_event_columns())

dead_letters = Table(
    "dead_letters",
    metadata,
    *_event_columns(),
    Column("error_dest", Text, nullable=False),
    Column("error_code", Integer),
)
