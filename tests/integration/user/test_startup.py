"""Starting before PostgreSQL is up, as on a fresh cluster deploy: the user service
waits for its database (serving /healthz, not ready) instead of exiting, and becomes
ready and takes sign-ups once the server starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import ServiceProcess
from tests.integration.user.support import (
    ADMIN_TOKEN,
    FAST_ARGON2,
    FAST_RELAY,
    create_user,
    eventually,
)
from tests.support.postgres import PostgresServer, postgres_available
from tests.support.sink import CloudEventSink


@pytest.fixture
def stopped_postgres() -> Iterator[tuple[PostgresServer, str]]:
    """A private server with a fresh database, stopped: (server, DATABASE_URL)."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer().init()
    server.start()
    url = server.create_database()
    server.stop()
    yield server, url
    server.destroy()


def test_user_waits_for_a_database_that_is_not_up_yet(
    stopped_postgres: tuple[PostgresServer, str], sink: CloudEventSink, tmp_path: Path
) -> None:
    server, database_url = stopped_postgres
    env = {
        "DATABASE_URL": database_url,
        "K_SINK": sink.url,
        "USER_ADMIN_TOKEN": ADMIN_TOKEN,
        **FAST_ARGON2,
        **FAST_RELAY,
    }
    service = ServiceProcess("user", env=env, log_dir=tmp_path)
    service.start(timeout=60)  # /healthz: the server is up, the database is not
    try:
        # Several attempts fail (a few seconds) and the process is still there.
        eventually(
            lambda: service.log_text().count("migrations: not done yet") >= 3,
            timeout=30,
            what="three failed migration attempts",
        )
        assert service.process is not None
        assert service.process.poll() is None, service.tail()
        not_ready = httpx.get(f"{service.url}/readyz", timeout=10)
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["database"] != "ok"
        early = httpx.post(
            f"{service.url}/v1/user", json={"name": "early", "password": "x"}, timeout=30
        )
        assert early.status_code == 503, early.text
        assert early.json()["error"] == "store_unavailable"

        server.start()
        service.ready_path = "/readyz"
        service.wait_ready(timeout=60)
        created = create_user(service.url, "Ozzy Osbourne", "12345")
        events = sink.wait_for_events(1, timeout=30)
        assert events[0].subject == created["id"]
    finally:
        service.stop()
