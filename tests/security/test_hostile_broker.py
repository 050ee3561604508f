"""The local broker against hostile and careless input, black box (`python -m broker`).

Every bad input gets a clear answer and nothing sticks: a header value the broker
could never forward, an absurd TTL, oversized headers and attributes, huge or slow
subscriber answers. Whatever goes wrong inside a delivery attempt is a failed attempt
that counts against `retry` and ends in the dead-letter sink.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.chaos import rawhttp
from tests.integration.broker.conftest import (
    NAMESPACE,
    BrokerLauncher,
    RunningBroker,
    trigger_doc,
)
from tests.support.subscriber import Answer, Received, Subscriber

QUICK_DLS = {"retry": 1}


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[BrokerLauncher]:
    launcher = BrokerLauncher(tmp_path)
    yield launcher
    launcher.close()


@pytest.fixture
def subscriber() -> Iterator[Subscriber]:
    with Subscriber() as running:
        yield running


def _start(
    launcher: BrokerLauncher,
    subscriber: Subscriber,
    delivery: dict[str, object] | None = None,
    env: dict[str, str] | None = None,
    filters: list[object] | None = None,
) -> RunningBroker:
    spec = {**QUICK_DLS, **(delivery or {})}
    spec["deadLetterSink"] = {"uri": subscriber.url + "/dead-letter"}
    trigger = trigger_doc("t", subscriber.url + "/sub", delivery=spec, filters=filters)
    return launcher([trigger], env=env)


def _headers(event_id: str, **extra: str | bytes) -> dict[str, Any]:
    return {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/hostile",
        "ce-type": "hostile.test",
        "content-type": "application/json",
        **extra,
    }


def _post(broker: RunningBroker, event_id: str, **extra: str | bytes) -> httpx.Response:
    return httpx.post(
        broker.ingress, headers=_headers(event_id, **extra), content=b"{}", timeout=10
    )


def _queue_depth(broker: RunningBroker) -> float:
    match = re.search(
        rf'broker_queue_depth{{trigger="{NAMESPACE}/t"}} ([0-9.e+-]+)', broker.metrics()
    )
    return float(match.group(1)) if match else 0.0


def _wait_queue_empty(broker: RunningBroker, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while _queue_depth(broker) != 0:
        assert time.monotonic() < deadline, f"queue depth stays {_queue_depth(broker)}"
        time.sleep(0.05)


def _dead_letters(subscriber: Subscriber, event_id: str, timeout: float = 20.0) -> Received:
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in subscriber.on("/dead-letter") if r.ce.get("id") == event_id]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"{event_id} never reached the dead-letter sink"
        subscriber.settle(0.05)


# -- header values the broker could never forward --------------------------------------


@pytest.mark.parametrize(
    "name", ["knative-hop", "traceparent", "x-request-id", "tracestate", "x-b3-traceid"]
)
def test_a_non_ascii_passthrough_header_is_refused_with_400(
    launcher: BrokerLauncher, subscriber: Subscriber, name: str
) -> None:
    broker = _start(launcher, subscriber)
    refused = _post(broker, "non-ascii", **{name: "caf\u00e9".encode()})
    assert refused.status_code == 400, refused.text
    assert name in refused.json()["detail"]

    good = str(uuid.uuid4())
    assert _post(broker, good).status_code == 202
    assert subscriber.wait_on("/sub", 1)[0].ce["id"] == good
    _wait_queue_empty(broker)
    assert all(r.ce.get("id") != "non-ascii" for r in subscriber.settle(0.3))
    # Delivered once: neither dead-lettered nor dropped afterwards.
    assert not subscriber.on("/dead-letter")
    assert "event dropped" not in broker.process.log_text()


def _poison_queue(data_dir: Path, trigger: str, event_id: str) -> None:
    """A row as the ingress stored it before non-ASCII pass-through values were refused."""
    attributes = {
        "specversion": "1.0",
        "id": event_id,
        "source": "/hostile",
        "type": "hostile.test",
        "knativebrokerttl": 255,
        "knativearrivaltime": "2026-01-01T00:00:00Z",
    }
    headers = [["knative-hop", "caf\u00c3\u00a9"], ["x-request-id", "req-\u00ff"]]
    with sqlite3.connect(data_dir / "broker.db") as connection:
        cursor = connection.execute(
            "INSERT INTO events (attributes, data, headers, received_at) VALUES (?, ?, ?, ?)",
            (json.dumps(attributes).encode(), b"{}", json.dumps(headers).encode(), time.time()),
        )
        connection.execute(
            "INSERT INTO deliveries (event_id, trigger) VALUES (?, ?)", (cursor.lastrowid, trigger)
        )


def test_a_queued_row_that_cannot_be_sent_is_dead_lettered_after_a_restart(
    launcher: BrokerLauncher, subscriber: Subscriber, tmp_path: Path
) -> None:
    broker = _start(launcher, subscriber, delivery={"retry": 2})
    assert broker.process.stop() in (0, -15)
    _poison_queue(tmp_path / "data", f"{NAMESPACE}/t", "poisoned")
    broker.process.start()

    dead = _dead_letters(subscriber, "poisoned")
    assert dead.ce["knativeerrordest"] == subscriber.url + "/sub"
    # No response was ever received: no code, no data (as for a refused connection).
    assert "knativeerrorcode" not in dead.ce
    _wait_queue_empty(broker)
    assert not subscriber.on("/sub")
    log = broker.process.log_text()
    assert "delivery attempt crashed" not in log
    assert log.count('"msg":"delivery failed; retrying"') == 2  # retry: 2, then the sink


# -- TTL -------------------------------------------------------------------------------


@pytest.mark.parametrize("ttl", ["99999999999999999999999", "2147483648", "9" * 5000, "1_0"])
def test_a_ttl_outside_int32_is_refused_with_400_and_the_broker_stays_ready(
    launcher: BrokerLauncher, subscriber: Subscriber, ttl: str
) -> None:
    broker = _start(launcher, subscriber)
    refused = _post(broker, "absurd-ttl", **{"ce-knativebrokerttl": ttl})
    assert refused.status_code == 400, refused.text
    assert httpx.get(broker.url + "/readyz", timeout=5).status_code == 200
    assert _post(broker, "max-ttl", **{"ce-knativebrokerttl": "2147483647"}).status_code == 202
    assert subscriber.wait_on("/sub", 1)[0].ce["id"] == "max-ttl"


def test_absurd_ttls_among_concurrent_events_fail_only_themselves(
    launcher: BrokerLauncher, subscriber: Subscriber
) -> None:
    broker = _start(launcher, subscriber)
    good = [f"good-{i}" for i in range(30)]
    bad = [f"bad-{i}" for i in range(5)]

    def send(event_id: str) -> int:
        extra = {"ce-knativebrokerttl": "9" * 23} if event_id.startswith("bad") else {}
        return _post(broker, event_id, **extra).status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = dict(zip(good + bad, pool.map(send, good + bad), strict=True))
    assert {statuses[i] for i in good} == {202}
    assert {statuses[i] for i in bad} == {400}
    assert httpx.get(broker.url + "/readyz", timeout=5).status_code == 200
    subscriber.wait_on("/sub", len(good))
    _wait_queue_empty(broker)
    assert {r.ce["id"] for r in subscriber.on("/sub")} == set(good)


# -- sizes: headers, attributes, metric labels -----------------------------------------


def _broker_peak_rss_kib(broker: RunningBroker) -> int:
    assert broker.process.process is not None
    status = Path(f"/proc/{broker.process.process.pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match is not None
    return int(match.group(1))


def test_request_headers_over_64_kib_get_431(
    launcher: BrokerLauncher, subscriber: Subscriber
) -> None:
    broker = _start(launcher, subscriber)
    head = rawhttp.request_head(
        "POST",
        f"/{NAMESPACE}/default",
        {**_headers("big-head"), "x-filler": "a" * 70_000, "content-length": "2"},
    )
    with rawhttp.connect(broker.process.port) as sock:
        sock.sendall(head + b"{}")
        status, _ = rawhttp.read_head(sock)
    assert status == 431
    # The same on a kept-alive connection, after a first request (no body) was served.
    with rawhttp.connect(broker.process.port) as sock:
        sock.sendall(rawhttp.request_head("OPTIONS", f"/{NAMESPACE}/default", {}))
        status, _ = rawhttp.read_head(sock)
        assert status == 200
        sock.sendall(head + b"{}")
        status, _ = rawhttp.read_head(sock)
    assert status == 431

    # 16 MiB of header: cut off early, without holding it in memory.
    before = _broker_peak_rss_kib(broker)
    with rawhttp.connect(broker.process.port) as sock:
        try:
            sock.sendall(b"POST /%s/default HTTP/1.1\r\nHost: x\r\nx-filler: " % NAMESPACE.encode())
            for _ in range(256):
                sock.sendall(b"a" * 65536)
        except OSError:
            pass  # the server answered 431 and closed while we were still sending
    assert _broker_peak_rss_kib(broker) - before < 8 * 1024
    assert httpx.get(broker.url + "/readyz", timeout=5).status_code == 200


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_an_attribute_over_the_limit_is_refused_with_400(
    launcher: BrokerLauncher, subscriber: Subscriber, mode: str
) -> None:
    broker = _start(launcher, subscriber, env={"BROKER_MAX_ATTRIBUTE_BYTES": "1024"})
    long_type = "t" * 1025
    if mode == "binary":
        refused = _post(broker, "long-type", **{"ce-type": long_type})
    else:
        event = {"specversion": "1.0", "id": "long-type", "source": "/s", "type": long_type}
        refused = httpx.post(
            broker.ingress,
            content=json.dumps(event),
            headers={"content-type": "application/cloudevents+json"},
            timeout=10,
        )
    assert refused.status_code == 400, refused.text
    assert "type" in refused.json()["detail"]
    assert _post(broker, "ok", **{"ce-type": "t" * 1024}).status_code == 202
    assert long_type not in broker.metrics()


def test_event_type_metric_labels_are_bounded(
    launcher: BrokerLauncher, subscriber: Subscriber
) -> None:
    broker = _start(launcher, subscriber, filters=[{"exact": {"type": "nothing.matches"}}])
    with httpx.Client(timeout=10) as client:
        for i in range(300):
            response = client.post(
                broker.ingress,
                headers=_headers(f"e-{i}", **{"ce-type": f"random.{i}"}),
                content=b"{}",
            )
            assert response.status_code == 202
    types = set(
        re.findall(r'broker_events_received_total\{[^}]*event_type="([^"]*)"', broker.metrics())
    )
    assert 200 <= len(types) <= 257
    assert "(other)" in types


# -- subscriber answers bounded in bytes and time --------------------------------------


def test_a_reply_larger_than_the_body_limit_is_a_failed_attempt(
    launcher: BrokerLauncher,
) -> None:
    reply = b'"' + b"x" * (2 * 1024 * 1024) + b'"'
    reply_headers = {
        "ce-specversion": "1.0",
        "ce-id": "huge-reply",
        "ce-source": "/reply",
        "ce-type": "hostile.reply",
        "content-type": "application/json",
    }

    def answer(received: Received) -> Answer:
        if received.path == "/sub":
            return Answer(200, reply, reply_headers)
        return Answer(202)

    with Subscriber(answer=answer) as subscriber:
        broker = _start(launcher, subscriber, filters=[{"exact": {"type": "hostile.test"}}])
        assert _post(broker, "asks-for-huge-reply").status_code == 202
        dead = _dead_letters(subscriber, "asks-for-huge-reply")
        assert dead.ce["knativeerrorcode"] == "502"
        _wait_queue_empty(broker)
    assert 'result="accepted"' not in broker.metrics()


def test_a_huge_error_body_is_not_read_into_memory(launcher: BrokerLauncher) -> None:
    body = b"e" * (64 * 1024 * 1024)

    def answer(received: Received) -> Answer:
        return Answer(500, body) if received.path == "/sub" else Answer(202)

    with Subscriber(answer=answer) as subscriber:
        broker = _start(launcher, subscriber, delivery={"retry": 0})
        before = _broker_peak_rss_kib(broker)
        assert _post(broker, "huge-error").status_code == 202
        dead = _dead_letters(subscriber, "huge-error")
        assert dead.ce["knativeerrorcode"] == "500"
        growth = _broker_peak_rss_kib(broker) - before
    assert growth < 16 * 1024, f"broker peak RSS grew by {growth} KiB"


def test_a_trigger_without_timeout_gets_the_default_delivery_timeout(
    launcher: BrokerLauncher,
) -> None:
    def answer(received: Received) -> Answer:
        return Answer(202, delay=30) if received.path == "/sub" else Answer(202)

    with Subscriber(answer=answer) as subscriber:
        broker = _start(
            launcher, subscriber, delivery={"retry": 0}, env={"BROKER_DELIVERY_TIMEOUT": "1"}
        )
        started = time.monotonic()
        assert _post(broker, "hangs").status_code == 202
        dead = _dead_letters(subscriber, "hangs", timeout=15)
        assert time.monotonic() - started < 15
        assert "knativeerrorcode" not in dead.ce
        assert broker.config()["triggers"][0]["delivery"]["timeoutSeconds"] is None
        _wait_queue_empty(broker)


def test_the_in_memory_backlog_is_bounded_in_bytes(launcher: BrokerLauncher) -> None:
    # Every first attempt fails, then waits 60 s in memory for its retry, unless spilled.
    with Subscriber(default=Answer(503)) as subscriber:
        broker = _start(
            launcher,
            subscriber,
            delivery={"retry": 1, "backoffPolicy": "exponential", "backoffDelay": "PT60S"},
            env={"BROKER_BACKLOG_BYTES": str(1024 * 1024), "MAX_BODY_BYTES": str(512 * 1024)},
        )
        payload = json.dumps("x" * 200_000).encode()
        for i in range(20):
            response = httpx.post(
                broker.ingress, headers=_headers(f"big-{i}"), content=payload, timeout=10
            )
            assert response.status_code == 202
        deadline = time.monotonic() + 10
        while True:
            lane = broker.config()["triggers"][0]["lane"]
            held = lane["ready"] + lane["waiting_retry"] + lane["in_flight"]
            if held and lane["ready"] == 0 and lane["in_flight"] == 0:
                break
            assert time.monotonic() < deadline, lane
            time.sleep(0.05)
        # 1 MiB holds five 200 KB events, plus the one that crosses the line.
        assert held <= 6, lane
        assert _queue_depth(broker) == 20
