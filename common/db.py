"""Database engines: SQLite (WAL, fsync on commit) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Errors that mean "the store cannot take this now": answer 503, never 2xx or 500.
STORE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OperationalError,
    DBAPIError,
    SQLAlchemyError,
    OSError,
    TimeoutError,
    sqlite3.Error,
)


def normalize_url(url: str) -> URL:
    """Accept the plain forms people type (`postgresql://`, `sqlite:///`) and pick
    the async drivers this project ships (asyncpg, aiosqlite)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; FULL makes a commit survive power loss.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for `url`; creates the SQLite file's folder if needed."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, hide_parameters=True, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Errors and logs name the statement, never its values (event data, hashes).
        hide_parameters=True,
        pool_timeout=5,
        connect_args={"timeout": 5, "command_timeout": 10},
    )


async def ping(engine: AsyncEngine) -> str | None:
    """None when a trivial query succeeds, else the reason."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except STORE_UNAVAILABLE as exc:
        return f"database unreachable: {type(exc).__name__}"
    return None


def sqlite_path(engine: AsyncEngine) -> Path | None:
    """The database file of a SQLite engine (None for PostgreSQL or `:memory:`)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


class DatabaseFileWatch:
    """Notices that the SQLite file of a running service was deleted or replaced.

    SQLite keeps writing into an unlinked file without an error, so every later
    commit would be lost at the next restart. Comparing the device and inode of
    the path with those seen at start costs one stat() (microseconds)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None

    def remember(self) -> None:
        """Take the file now at the path as the database (after migrations made it)."""
        if self.path is None:
            return
        try:
            found = os.stat(self.path)
        except OSError:  # nothing to watch; problem() then reports nothing either
            self._identity = None
            return
        self._identity = (found.st_dev, found.st_ino)

    def problem(self) -> str | None:
        """None while the path still names the file opened at start, else the reason."""
        if self._identity is None or self.path is None:
            return None
        try:
            found = os.stat(self.path)
        except FileNotFoundError:
            return f"the database file {self.path} was deleted; restore it and restart"
        except OSError as exc:
            return f"the database file {self.path} cannot be checked: {exc.strerror}"
        if (found.st_dev, found.st_ino) != self._identity:
            return f"the database file {self.path} was replaced; restart to use it"
        return None
