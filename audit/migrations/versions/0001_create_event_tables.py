"""Create the events and dead_letters tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _event_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text()),
        sa.Column("datacontenttype", sa.Text()),
        sa.Column("mode", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attributes", _JSON, nullable=False),
        sa.Column("data", sa.LargeBinary()),
        sa.Column("data_json", _JSON),
    ]


def upgrade() -> None:
    # AUTOINCREMENT on SQLite: a seq is never reused, even after deletes (SSE resumes by seq).
    op.create_table(
        "events",
        *_event_columns(),
        sa.UniqueConstraint("source", "event_id", name="uq_events_source_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_type_seq", "events", ["type", "seq"])
    op.create_index("ix_events_subject_seq", "events", ["subject", "seq"])
    op.create_index("ix_events_received_at", "events", ["received_at"])

    op.create_table(
        "dead_letters",
        *_event_columns(),
        sa.Column("error_dest", sa.Text(), nullable=False),
        sa.Column("error_code", sa.Integer()),
        sa.UniqueConstraint(
            "source", "event_id", "error_dest", name="uq_dead_letters_source_id_dest"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_dead_letters_type_seq", "dead_letters", ["type", "seq"])
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("events")
