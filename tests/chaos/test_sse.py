"""Many live-tail (SSE) clients: a hard limit (503 beyond, with Retry-After), a gauge
that counts them and returns to 0 when they leave, memory that stays bounded, and the
sink and read API served throughout -- even when clients never read what they asked for."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from devstack import ServiceProcess, new_token
from tests.chaos import report
from tests.chaos.harness import metric_total
from tests.chaos.rawhttp import close_all, connect, read_head, request_head, rss_bytes
from tests.e2e.polling import wait_until

MAX_SSE_CLIENTS = 25
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceProcess, str]]:
    root = tmp_path_factory.mktemp("sse")
    token = new_token("audit-read")
    process = ServiceProcess(
        "audit",
        env={
            "DATA_DIR": str(root / "data"),
            "DATABASE_URL": "",
            "AUDIT_READ_TOKEN": token,
            "MAX_SSE_CLIENTS": str(MAX_SSE_CLIENTS),
            "SSE_HEARTBEAT_SECONDS": "1",
        },
        log_dir=root,
        ready_path="/readyz",
    )
    process.start()
    try:
        yield process, token
    finally:
        process.stop()


def open_stream(
    port: int, token: str, *, rcvbuf: int | None = None
) -> tuple[int, socket.socket, bytes]:
    sock = connect(port, rcvbuf=rcvbuf)
    sock.sendall(
        request_head(
            "GET",
            "/v1/events/stream",
            {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"},
        )
    )
    status, head = read_head(sock)
    return status, sock, head


def gauge(client: httpx.Client, url: str) -> float:
    return metric_total(client.get(url + "/metrics").text, "audit_sse_clients")


def batch(count: int, pad: int) -> bytes:
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "id": str(uuid.uuid4()),
                "source": "/chaos/sse",
                "type": "chaos.sse",
                "datacontenttype": "application/json",
                "data": {"pad": "x" * pad},
            }
            for _ in range(count)
        ]
    ).encode()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_sse_clients_limited_counted_and_bounded(audit: tuple[ServiceProcess, str]) -> None:
    process, token = audit
    assert process.process is not None
    pid = process.process.pid
    streams: list[socket.socket] = []
    with httpx.Client(timeout=10) as client:
        rss_before = rss_bytes(pid)
        try:
            for _ in range(MAX_SSE_CLIENTS):
                status, sock, _ = open_stream(process.port, token)
                streams.append(sock)
                assert status == 200
            assert gauge(client, process.url) == MAX_SSE_CLIENTS

            # Beyond the limit: refused at once, politely, many times over.
            refused = 0
            for _ in range(200):
                status, sock, head = open_stream(process.port, token)
                close_all([sock])
                assert status == 503, head[:300]
                assert b"retry-after" in head.lower()
                refused += 1
            assert gauge(client, process.url) == MAX_SSE_CLIENTS

            # Everything else is still served.
            response = client.post(
                process.url + "/",
                content=batch(10, 10),
                headers={"content-type": "application/cloudevents-batch+json"},
            )
            assert response.status_code == 202, response.text
            listed = client.get(
                process.url + "/v1/events",
                params={"source": "/chaos/sse"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert listed.status_code == 200
            rss_full = rss_bytes(pid)
        finally:
            close_all(streams)
        wait_until(
            lambda: gauge(client, process.url),
            lambda n: n == 0,
            timeout=15,
            what="audit_sse_clients back to 0 after the clients left",
        )
        # The slots are free again.
        status, sock, _ = open_stream(process.port, token)
        close_all([sock])
        assert status == 200
    growth = (rss_full - rss_before) / MiB
    report.record(
        "chaos",
        "sse_limit",
        {
            "limit": MAX_SSE_CLIENTS,
            "refused_beyond_limit": refused,
            "rss_before_mib": round(rss_before / MiB, 1),
            "rss_growth_mib": round(growth, 1),
        },
    )
    assert growth < 40, f"RSS grew by {growth:.1f} MiB with {MAX_SSE_CLIENTS} streams"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sse_clients_that_never_read_do_not_grow_memory(
    audit: tuple[ServiceProcess, str],
) -> None:
    """Streams whose readers stall hold what they were sending when they got stuck
    (one page of rows each), not everything they have yet to send: memory must not
    grow with the amount of undelivered data."""
    process, token = audit
    assert process.process is not None
    pid = process.process.pid
    stalled: list[socket.socket] = []
    events, pad, readers, per_batch, rounds = 4000, 1000, 10, 500, 3
    with httpx.Client(timeout=30) as client:

        def ingest() -> int:
            for _ in range(events // per_batch):
                response = client.post(
                    process.url + "/",
                    content=batch(per_batch, pad),
                    headers={"content-type": "application/cloudevents-batch+json"},
                )
                assert response.status_code == 202, response.text
            # The streams are woken by the commits and try to send it all; sample
            # memory for a while as they sit stuck.
            peak = 0
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                peak = max(peak, rss_bytes(pid))
                time.sleep(0.1)  # sampling period
            return peak

        ingest()  # once without readers: what the sink and store take by themselves
        rss_before = rss_bytes(pid)
        after_round: list[int] = []
        try:
            for _ in range(readers):
                status, sock, _ = open_stream(process.port, token, rcvbuf=4096)
                assert status == 200
                stalled.append(sock)
            for _ in range(rounds):
                after_round.append(ingest())
            assert client.get(process.url + "/healthz").status_code == 200
            assert gauge(client, process.url) == readers
        finally:
            close_all(stalled)
    undelivered = events * rounds * pad * readers / MiB
    per_reader = (after_round[0] - rss_before) / MiB / readers
    later_growth = (max(after_round) - after_round[0]) / MiB
    report.record(
        "chaos",
        "sse_stalled_readers",
        {
            "readers": readers,
            "undelivered_mib": round(undelivered),
            "rss_per_stalled_reader_mib": round(per_reader, 1),
            "rss_growth_after_first_round_mib": round(later_growth, 1),
        },
    )
    # Rounds 2..n add (rounds-1) x as much undelivered data again; memory must stay put.
    assert later_growth < 16, (
        f"RSS kept growing with undelivered data: +{later_growth:.1f} MiB after round 1"
    )
