"""Slow and hostile HTTP clients against the public user service.

- Many slowloris clients (headers a byte at a time) and slow-body clients (a declared
  body sent a byte at a time) must not starve normal clients: while they hang on,
  ordinary requests keep being answered promptly.
- Each slow client should be cut off within the server's timeouts.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from devstack import FAST_HASHING, ServiceProcess
from tests.chaos import report
from tests.chaos.rawhttp import close_all, connect, request_head, wait_closed

SLOW_HEADER_CLIENTS = 150
SLOW_BODY_CLIENTS = 50
#: How long a slow client may keep a connection: the header/body read timeout the
#: services should enforce, plus slack for a loaded 2-core machine.
CUT_OFF_WITHIN = 15.0


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("slow")
    process = ServiceProcess(
        "user",
        env={"DATA_DIR": str(root / "data"), "DATABASE_URL": "", "K_SINK": "", **FAST_HASHING},
        log_dir=root,
        ready_path="/healthz",  # no K_SINK: the relay idles, so /readyz says not ready
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def slow_header(port: int) -> socket.socket:
    """A request line and part of the headers; the rest never comes in time."""
    sock = connect(port)
    sock.sendall(b"POST /v1/user HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return sock


def slow_body(port: int) -> socket.socket:
    """Complete headers that promise a body, then a few bytes of it."""
    sock = connect(port)
    head = request_head(
        "POST", "/v1/user", {"Content-Type": "application/json", "Content-Length": "4096"}
    )
    sock.sendall(head + b'{"name": "')
    return sock


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_slow_clients_do_not_starve_others(user: ServiceProcess) -> None:
    hostile: list[socket.socket] = []
    latencies: list[float] = []
    try:
        hostile += [slow_header(user.port) for _ in range(SLOW_HEADER_CLIENTS)]
        hostile += [slow_body(user.port) for _ in range(SLOW_BODY_CLIENTS)]
        with httpx.Client(timeout=5) as client:
            deadline = time.monotonic() + 5
            n = 0
            while time.monotonic() < deadline:
                for sock in hostile[n % 10 :: 10]:  # keep them trickling
                    sock.send(b"a")
                started = time.monotonic()
                response = client.post(
                    user.url + "/v1/user",
                    json={"name": f"patient-{n}", "password": "a-password-for-slow-test"},
                )
                assert response.status_code == 201, response.text
                assert client.get(user.url + "/healthz").status_code == 200
                latencies.append(time.monotonic() - started)
                n += 1
    finally:
        close_all(hostile)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    report.record(
        "chaos",
        "slow_clients_no_starvation",
        {
            "slow_header_clients": SLOW_HEADER_CLIENTS,
            "slow_body_clients": SLOW_BODY_CLIENTS,
            "normal_requests": len(latencies),
            "normal_p95_ms": round(p95 * 1000, 1),
        },
    )
    assert len(latencies) >= 20
    assert p95 < 1.0, f"normal requests slowed to p95 {p95:.2f}s"


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_slow_clients_are_cut_off(user: ServiceProcess) -> None:
    idle = connect(user.port)  # connects, then sends nothing at all
    header = slow_header(user.port)
    body = slow_body(user.port)
    sockets = [idle, header, body]
    started = time.monotonic()
    try:
        cut = wait_closed(sockets, started + CUT_OFF_WITHIN, [b"", b"abcdefgh", b"abcdefgh"])
    finally:
        close_all(sockets)
    report.record(
        "chaos",
        "slow_clients_cut_off",
        {"idle": cut[0], "slow_header": cut[1], "slow_body": cut[2], "within_s": CUT_OFF_WITHIN},
    )
    assert cut == [True, True, True], f"still connected after {CUT_OFF_WITHIN}s: " + ", ".join(
        n for n, c in zip(("idle", "slow header", "slow body"), cut, strict=True) if not c
    )
