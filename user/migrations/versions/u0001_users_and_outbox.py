"""users and the transactional outbox

Revision ID: u0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "u0001"
down_revision = None
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
    )
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id"])
    op.create_table(
        "outbox",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(36), nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", _TIMESTAMP, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claimed_until", _TIMESTAMP, nullable=True),
        sa.Column("delivered_at", _TIMESTAMP, nullable=True),
        sa.Column("last_status", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    # Partial indexes: each query of the relay touches only the rows it is about.
    for name, column, condition in (
        ("ix_outbox_pending", "seq", "status = 'pending'"),
        ("ix_outbox_retrying", "seq", "status = 'pending' AND attempts > 0"),
        ("ix_outbox_failed", "seq", "status = 'failed'"),
        ("ix_outbox_delivered_at", "delivered_at", "status = 'delivered'"),
    ):
        where = sa.text(condition)
        op.create_index(name, "outbox", [column], postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("users")
