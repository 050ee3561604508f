"""Helpers for the user service's integration tests: starting it against a sink,
reading its metrics and database, and polling with deadlines."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa

from common.db import create_engine

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

# Cheap argon2id for speed; the defaults (t=3, 64 MiB, p=4) are measured in docs/user.md.
FAST_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024", "ARGON2_PARALLELISM": "1"}
# Quick retries and short leases, so recovery happens within a test's deadline.
FAST_RELAY = {
    "RELAY_BACKOFF_BASE": "0.05",
    "RELAY_BACKOFF_MAX": "0.4",
    "RELAY_POLL_INTERVAL": "0.2",
    "RELAY_SEND_TIMEOUT": "2",
    "RELAY_LEASE": "5",
}

T = TypeVar("T")


def basic(user_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def eventually(probe: Callable[[], T | None], timeout: float = 15.0, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s (last: {value!r})")
        time.sleep(0.02)


def metrics(base_url: str) -> dict[str, float]:
    """Prometheus samples by `name{labels}` (labels as written)."""
    text = httpx.get(base_url + "/metrics", timeout=5).text
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def metric(base_url: str, name: str) -> float:
    return metrics(base_url).get(name, 0.0)


def create_user(
    base_url: str, name: str = "John", password: str = "secret", **headers: str
) -> dict[str, Any]:
    response = httpx.post(
        base_url + "/v1/user",
        json={"name": name, "password": password},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def outbox_rows(database_url: str) -> list[dict[str, Any]]:
    """The outbox table, oldest first (read with the service's own engine code)."""

    async def read() -> list[dict[str, Any]]:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(sa.text("SELECT * FROM outbox ORDER BY seq"))
                return [dict(row._mapping) for row in result]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def users_rows(database_url: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        engine = create_engine(database_url, pool_size=1)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(sa.text("SELECT * FROM users"))
                return [dict(row._mapping) for row in result]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def drained(database_url: str) -> bool:
    """True when no outbox row is pending (every event delivered or parked)."""
    return all(row["status"] != "pending" for row in outbox_rows(database_url))
