"""Alembic migrations run from code at start-up (advisory-locked on PostgreSQL),
and a readiness check that the schema is at head."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import STORE_UNAVAILABLE


class Migrations:
    """The migration scripts of one service (its `migrations/` folder)."""

    def __init__(self, script_location: Path) -> None:
        self.config = Config()
        self.config.set_main_option("script_location", str(script_location))
        self.script = ScriptDirectory.from_config(self.config)
        self.head = self.script.get_current_head()
        self.lock_key = zlib.crc32(str(script_location.parent.name).encode())

    def _upgrade(self, connection: Connection) -> None:
        def steps(revision: Any, _: Any) -> Any:
            return self.script._upgrade_revs("head", revision)

        with EnvironmentContext(
            self.config, self.script, fn=steps, destination_rev="head"
        ) as environment:
            environment.configure(connection=connection, target_metadata=None)
            with environment.begin_transaction():
                environment.run_migrations()

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
