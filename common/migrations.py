"""Alembic migrations run from code at start-up (advisory-locked on PostgreSQL),
and a readiness check that the schema is at head."""

from __future__ import annotations

import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import STORE_UNAVAILABLE


class Migrations:
    """The migration scripts of one service (its `migrations/` folder)."""

    def __init__(self, script_location: Path) -> None:
        self.script_location = str(script_location)
        self.script = ScriptDirectory(self.script_location)
        self.head = self.script.get_current_head()
        self.lock_key = zlib.crc32(str(script_location.parent.name).encode())

    def _upgrade(self, connection: Connection) -> None:
        # Alembic's cookbook recipe for sharing a connection: env.py (run_env) picks it up.
        config = Config(attributes={"connection": connection})
        config.set_main_option("script_location", self.script_location)
        command.upgrade(config, "head")

    async def upgrade(self, engine: AsyncEngine) -> None:
        """Bring the schema to head. Replicas serialise on an advisory lock."""
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_lock(:key)"), {"key": self.lock_key}
                )
            try:
                await connection.run_sync(self._upgrade)
                await connection.commit()
            finally:
                if connection.dialect.name == "postgresql":
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": self.lock_key}
                    )

    async def check(self, engine: AsyncEngine) -> str | None:
        """Readiness: None when reachable and at head."""
        try:
            async with engine.connect() as connection:
                current = await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        except STORE_UNAVAILABLE as exc:
            return f"database unreachable: {type(exc).__name__}"
        if current != self.head:
            return f"schema at {current}, expected {self.head}"
        return None


def run_env() -> None:
    """The body of every service's `migrations/env.py`: migrate on the connection that
    `Migrations.upgrade` holds (under its advisory lock), never on one of its own."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise SystemExit("migrations run at start-up: start the service (python -m <service>)")
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
