"""PostgreSQL going away and coming back: the API answers 503 (never 500 or a
hang), readiness reports it, and the relay resumes on its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import ServiceProcess
from tests.conftest import new_postgres_database
from tests.integration.user.support import ADMIN_TOKEN, FAST_ARGON2, FAST_RELAY, create_user
from tests.support.postgres import PostgresServer
from tests.support.sink import CloudEventSink


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server this test alone may stop and start."""
    from tests.support.postgres import postgres_available

    if not postgres_available():
        pytest.skip("PostgreSQL is not installed")
    server = PostgresServer().init()
    server.start()
    yield server
    server.destroy()


def test_database_outage_is_503_and_the_relay_recovers(
    own_postgres: PostgresServer, sink: CloudEventSink, tmp_path: Path
) -> None:
    database_url = new_postgres_database(own_postgres)
    env = {
        "DATABASE_URL": database_url,
        "K_SINK": sink.url,
        "USER_ADMIN_TOKEN": ADMIN_TOKEN,
        **FAST_ARGON2,
        **FAST_RELAY,
    }
    service = ServiceProcess("user", env=env, log_dir=tmp_path).start(timeout=60)
    try:
        create_user(service.url, "before")
        sink.wait_for_events(1)
        own_postgres.stop()
        response = httpx.post(
            f"{service.url}/v1/user", json={"name": "during", "password": "x"}, timeout=30
        )
        assert response.status_code == 503
        assert response.json()["error"] == "store_unavailable"
        ready = httpx.get(f"{service.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] != "ok"
        own_postgres.start()
        after = create_user(service.url, "after")
        events = sink.wait_for_events(2, timeout=30)
        assert events[-1].subject == after["id"]
        assert httpx.get(f"{service.url}/readyz", timeout=10).status_code == 200
        assert "unhandled error" not in service.log_text()
    finally:
        service.kill()
