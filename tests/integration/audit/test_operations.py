"""Operations: readiness, metrics, a database that stops or stalls, graceful shutdown."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from common.events import CloudEvent, encode_binary
from devstack import ServiceProcess
from tests.integration.audit.helpers import (
    SseClient,
    WriteLock,
    all_items,
    audit_process,
    event,
    metric,
    post_batch,
    post_binary,
    wait_until,
)
from tests.support.postgres import PostgresServer, postgres_available

STOPPED_BY_SIGTERM = (0, -signal.SIGTERM)


def test_readyz_checks_the_database_schema_and_writer(client: httpx.Client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "writer": "ok"},
    }
    assert client.get("/healthz").status_code == 200


def test_metrics_cover_receiving_duplicates_rejects_latency_batches_dead_letters_and_streams(
    client: httpx.Client, audit: ServiceProcess
) -> None:
    ce = event()
    post_binary(client, ce)
    post_binary(client, ce)
    client.post("/", content=b"nope")
    post_binary(client, event(), path="/dead-letter")
    sse = SseClient(audit.url)
    try:
        assert metric(client, "audit_events_received_total", type=ce.type, mode="binary") == 2
        assert metric(client, "audit_events_duplicate_total", kind="events") == 1
        assert metric(client, "audit_events_rejected_total", reason="invalid_event") == 1
        assert metric(client, "audit_dead_letters_received_total") == 1
        assert metric(client, "audit_store_commit_seconds_count") >= 2
        assert metric(client, "audit_store_batch_rows_sum") == 3
        assert metric(client, "audit_sse_clients") == 1
    finally:
        sse.close()


def test_a_stalled_database_gets_503_and_no_acknowledgement(
    tmp_path: Path, database_url: str
) -> None:
    service = audit_process(tmp_path, database_url, STORE_TIMEOUT_SECONDS="1").start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            post_binary(client, event())  # tables exist, connection pooled
            stalled = event(subject="stalled")
            with WriteLock(database_url):
                started = time.monotonic()
                response = post_binary(client, stalled)
                waited = time.monotonic() - started
                fast = post_binary(client, event(subject="while-stalled"))

            assert response.status_code == 503
            assert response.json()["error"] == "store_unavailable"
            assert response.headers["retry-after"] == "1"
            assert 0.9 < waited < 10
            assert fast.status_code == 503
            # The broker retries; the retry is stored exactly once.
            wait_until(lambda: post_binary(client, stalled).status_code, lambda s: s == 202)
            assert len(all_items(client, id=stalled.id)) == 1
            assert metric(client, "audit_events_rejected_total", reason="store_unavailable") >= 2
    finally:
        service.stop()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server this test alone may stop and start."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer().init()
    server.start()
    yield server
    server.destroy()


def _send_while(url: str, stop: threading.Event, outcomes: list[tuple[CloudEvent, int]]) -> None:
    """Post events on 20 connections until `stop`, appending each (event, status)."""

    async def run() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:

            async def worker() -> None:
                while not stop.is_set():
                    ce = event(subject="outage")
                    headers, body = encode_binary(ce)
                    try:
                        status = (await http.post("/", headers=headers, content=body)).status_code
                    except httpx.TransportError:
                        status = 0
                    outcomes.append((ce, status))
                    if status != 202:
                        await asyncio.sleep(0.02)  # pace retries of a failing store

            await asyncio.gather(*(worker() for _ in range(20)))

    asyncio.run(run())


def test_database_down_answers_503_and_acknowledges_only_what_is_stored(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    url = own_postgres.create_database()
    service = audit_process(tmp_path, url).start()
    client = httpx.Client(base_url=service.url, timeout=30)
    stop = threading.Event()
    results: list[tuple[CloudEvent, int]] = []
    load = threading.Thread(target=_send_while, args=(service.url, stop, results))
    try:
        load.start()
        wait_until(
            lambda: sum(1 for _, status in results if status == 202),
            lambda n: n >= 50,
            what="load flowing",
        )
        own_postgres.stop()

        down = wait_until(
            lambda: client.get("/readyz"), lambda r: r.status_code == 503, what="not ready"
        )
        assert "unreachable" in down.json()["checks"]["database"]
        refused = post_binary(client, event())
        assert refused.status_code == 503
        assert refused.json()["error"] == "store_unavailable"
        assert refused.headers["retry-after"]
        assert client.get("/healthz").status_code == 200
        unreadable = client.get("/v1/events")
        assert unreadable.status_code == 503
        assert unreadable.json()["error"] == "store_unavailable"
        assert client.get("/v1/events/stream").status_code == 503

        own_postgres.start()
        wait_until(
            lambda: client.get("/readyz").status_code,
            lambda s: s == 200,
            timeout=30,
            what="ready again",
        )
        wait_until(
            lambda: post_binary(client, event()).status_code,
            lambda s: s == 202,
            timeout=30,
            what="writes again",
        )
    finally:
        stop.set()
        load.join()

    statuses = {status for _, status in results}
    assert statuses <= {202, 503}, statuses
    assert 503 in statuses
    acknowledged = {ce.id for ce, status in results if status == 202}
    stored = {item["id"] for item in all_items(client, subject="outage")}
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged but not stored"
    client.close()
    service.stop()


def test_starting_while_the_database_is_down_waits_for_it(
    tmp_path: Path, own_postgres: PostgresServer
) -> None:
    url = own_postgres.create_database()
    own_postgres.stop()
    service = audit_process(tmp_path, url)
    service.ready_path = "/healthz"
    service.start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["checks"]["writer"] != "ok"
            assert post_binary(client, event()).status_code == 503

            own_postgres.start()
            wait_until(
                lambda: client.get("/readyz").status_code,
                lambda s: s == 200,
                timeout=60,
                what="migrated and ready",
            )
            assert post_binary(client, event()).status_code == 202
        assert "migrations: not done yet" in service.log_text()
    finally:
        service.stop()


def test_sigterm_finishes_in_flight_requests_and_commits_ends_streams_and_exits(
    tmp_path: Path, database_url: str
) -> None:
    service = audit_process(tmp_path, database_url).start()
    sse = SseClient(service.url)
    stop = threading.Event()
    results: list[tuple[CloudEvent, int]] = []
    load = threading.Thread(target=_send_while, args=(service.url, stop, results))
    load.start()
    try:
        wait_until(
            lambda: sum(1 for _, s in results if s == 202),
            lambda n: n >= 100,
            what="requests flowing",
        )
        assert service.process is not None
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        code = service.process.wait(15)
        took = time.monotonic() - started
    finally:
        stop.set()
        load.join()

    assert code in STOPPED_BY_SIGTERM, service.tail()
    assert took < 10, f"shutdown took {took:.1f}s: the open stream held it up"
    assert sse.ended(5), "the live stream was not closed at shutdown"
    sse.close()
    log = service.log_text()
    assert "audit stopped" in log
    assert "Traceback" not in log
    acknowledged = {ce.id for ce, status in results if status == 202}
    assert {status for _, status in results} <= {202, 503, 0}

    service.start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            stored = {item["id"] for item in all_items(client, subject="outage")}
    finally:
        service.stop()
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged but not stored"


def test_batches_survive_a_restart(tmp_path: Path, database_url: str) -> None:
    service = audit_process(tmp_path, database_url).start()
    sent = [event() for _ in range(50)]
    with httpx.Client(base_url=service.url, timeout=30) as client:
        assert post_batch(client, sent).status_code == 202
    service.kill()

    service.start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            assert {item["id"] for item in all_items(client)} == {ce.id for ce in sent}
    finally:
        service.stop()
