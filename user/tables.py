"""The schema: users, and the outbox of events waiting to be delivered.

The migrations in `user/migrations/` create exactly these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        # SQLite compares the stored text, so store one canonical form without offset.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Index("ix_users_created_at_id", "created_at", "id"),
)

# Outbox status values.
PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

outbox = sa.Table(
    "outbox",
    metadata,
    # Creation order; the relay delivers in this order.
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(36), nullable=False),
    # The event's context attributes as JSON, fixed when the row is written.
    sa.Column("attributes", sa.Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    # A relay's claim; it expires so that a crashed replica's rows are sent by another.
    sa.Column("claimed_by", sa.String(128), nullable=True),
    sa.Column("claimed_until", UtcDateTime, nullable=True),
    sa.Column("delivered_at", UtcDateTime, nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Index(
        "ix_outbox_pending",
        "seq",
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    ),
    sa.Index(
        "ix_outbox_retrying",
        "seq",
        postgresql_where=sa.text("status = 'pending' AND attempts > 0"),
        sqlite_where=sa.text("status = 'pending' AND attempts > 0"),
    ),
    sa.Index(
        "ix_outbox_failed",
        "seq",
        postgresql_where=sa.text("status = 'failed'"),
        sqlite_where=sa.text("status = 'failed'"),
    ),
    sa.Index(
        "ix_outbox_delivered_at",
        "delivered_at",
        postgresql_where=sa.text("status = 'delivered'"),
        sqlite_where=sa.text("status = 'delivered'"),
    ),
)
