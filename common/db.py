"""Database engines: SQLite (WAL, fsync on commit) by default, PostgreSQL by URL."""

from __future__ import annotations

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
        engine = create_async_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
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
