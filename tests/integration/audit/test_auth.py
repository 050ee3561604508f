"""`AUDIT_READ_TOKEN`: the read side needs the bearer token; the sink and health do not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from devstack import ServiceProcess
from tests.integration.audit.helpers import SseClient, audit_process, event, post_binary

TOKEN = "read-" + "x" * 40
READ_PATHS = [
    "/v1/events",
    "/v1/events/stream",
    "/v1/events/export",
    f"/v1/events/{quote('/tests/audit', safe='')}/some-id",
    "/v1/dead-letters",
    "/v1/dead-letters/export",
    "/v1/stats",
]


@pytest.fixture
def protected(tmp_path: Path, database_url: str) -> Iterator[ServiceProcess]:
    service = audit_process(tmp_path, database_url, AUDIT_READ_TOKEN=TOKEN).start()
    yield service
    service.stop()


def test_the_read_side_needs_the_token(protected: ServiceProcess) -> None:
    with httpx.Client(base_url=protected.url, timeout=30) as client:
        for path in READ_PATHS:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                response = client.get(path, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert response.json()["error"] == "unauthorized"
                assert response.headers["www-authenticate"].startswith("Bearer")


def test_the_token_opens_the_read_side(protected: ServiceProcess) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=protected.url, timeout=30, headers=auth) as client:
        ce = event()
        assert post_binary(client, ce).status_code == 202

        assert client.get("/v1/events").json()["items"][0]["id"] == ce.id
        assert client.get(f"/v1/events/{quote(ce.source, safe='')}/{ce.id}").status_code == 200
        assert client.get("/v1/dead-letters").status_code == 200
        assert client.get("/v1/stats").json()["total"] == 1
        assert client.get("/v1/events/export").status_code == 200
    sse = SseClient(protected.url, headers=auth, params={"last_event_id": 0})
    try:
        assert sse.status == 200
        assert sse.next().json()["id"] == ce.id
    finally:
        sse.close()


def test_the_sink_health_page_and_openapi_need_no_token(protected: ServiceProcess) -> None:
    with httpx.Client(base_url=protected.url, timeout=30) as client:
        assert post_binary(client, event()).status_code == 202
        assert post_binary(client, event(), path="/dead-letter").status_code == 202
        for path in ("/healthz", "/readyz", "/metrics", "/", "/openapi.json"):
            assert client.get(path).status_code == 200, path
    log = protected.log_text()
    assert TOKEN not in log
    assert "read API and event data are open" not in log
    assert '"read_api":"token required"' in log


def test_without_a_token_the_service_warns_that_the_read_api_is_open(
    audit: ServiceProcess, client: httpx.Client
) -> None:
    assert client.get("/v1/events").status_code == 200
    assert "AUDIT_READ_TOKEN is not set" in audit.log_text()
