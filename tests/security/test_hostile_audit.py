"""Hostile and careless input against a real audit process (SQLite and PostgreSQL).

Each test here reproduces a defect that was found by trying the service as an
attacker would: data that breaks a reader, a number that breaks a batch, a
database file deleted under the service, oversized headers, and SQL parameters
in the logs. The rule they prove: every bad input gets a clear 4xx (or is stored
in a form every reader can read back), and nothing a client stored breaks a read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from audit.queries import EXPORT_PAGE
from common.db import create_engine
from devstack import ServiceProcess
from tests.chaos.rawhttp import connect, read_head, request_head, rss_bytes
from tests.integration.audit.helpers import SseClient, all_items, audit_process

SOURCE = "/security/hostile"
# Deeper than any reader of the read API can be asked to parse (the sink's limit is 256).
TOO_DEEP = b"[" * 1000 + b"\n" + b"]" * 1000


@pytest.fixture
def audit(tmp_path: Path, database_url: str) -> Iterator[ServiceProcess]:
    service = audit_process(tmp_path, database_url).start()
    yield service
    service.stop()


@pytest.fixture
def client(audit: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=audit.url, timeout=30) as http:
        yield http


@pytest.fixture
def sqlite_audit(tmp_path: Path) -> Iterator[ServiceProcess]:
    """For what does not depend on the database: HTTP and codec limits."""
    service = audit_process(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}").start()
    yield service
    service.stop()


@pytest.fixture
def sqlite_client(sqlite_audit: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sqlite_audit.url, timeout=30) as http:
        yield http


def binary_headers(event_id: str, event_type: str = "hostile.test", **extra: str) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": SOURCE,
        "ce-type": event_type,
        "content-type": "application/json",
        **extra,
    }


def run_sql(database_url: str, statement: str, **parameters: Any) -> list[Any]:
    """One statement on audit's own database, from outside the service."""

    async def execute() -> list[Any]:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(statement), parameters)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(execute())


def export_lines(client: httpx.Client) -> list[Any]:
    """Every line of the NDJSON export, parsed as any client would (stdlib json)."""
    with client.stream("GET", "/v1/events/export") as response:
        assert response.status_code == 200
        return [json.loads(line) for line in response.iter_lines() if line]


# --- A stored row must never break a read --------------------------------------------


def test_json_data_nested_deeper_than_readers_parse_is_refused_with_400(
    client: httpx.Client,
) -> None:
    response = client.post("/", headers=binary_headers("deep"), content=TOO_DEEP)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_event_data"
    assert "256" in response.json()["detail"]
    assert all_items(client) == []


def test_json_data_with_line_breaks_within_the_limit_reads_back_the_same(
    client: httpx.Client,
) -> None:
    data = b"[" * 255 + b'\n{"big": 123456789012345678901234567890,\r\n "s": "a\\nb"}' + b"]" * 255

    assert client.post("/", headers=binary_headers("nested"), content=data).status_code == 202

    (item,) = all_items(client)
    assert item["data"] == json.loads(data)
    assert base64.b64decode(item["data_base64"]) == data
    assert export_lines(client)[0]["data"] == json.loads(data)


def test_rows_no_reader_could_parse_are_read_as_bytes_by_every_read(
    audit: ServiceProcess, client: httpx.Client, database_url: str
) -> None:
    """Rows stored before the sink refused such data (or written by other tools)
    are read with `data` null and the exact bytes in `data_base64`."""
    headers = binary_headers("good-1")
    assert client.post("/", headers=headers, content=b'{"n": 1}').status_code == 202
    hostile = {
        "deep-newline": TOO_DEEP,
        "deeper-than-orjson": b"[" * 2000 + b"]" * 2000,
        "infinite": b"1e400",
    }
    for event_id, data in hostile.items():
        run_sql(
            database_url,
            "INSERT INTO events (source, event_id, type, subject, datacontenttype, mode,"
            " received_at, attributes, data, data_json) SELECT source, :event_id, type,"
            " subject, datacontenttype, mode, received_at, attributes, :data, NULL"
            " FROM events WHERE event_id = 'good-1'",
            event_id=event_id,
            data=data,
        )
    assert client.post("/", headers=binary_headers("good-2"), content=b"{}").status_code == 202
    expected = ["good-1", *hostile, "good-2"]

    listed = client.get("/v1/events", params={"order": "asc", "limit": 10})
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == expected
    for item in listed.json()["items"][1:-1]:
        assert item["data"] is None
        assert base64.b64decode(item["data_base64"]) == hostile[item["id"]]
    one = client.get("/v1/events/%2Fsecurity%2Fhostile/deep-newline")
    assert one.status_code == 200, one.text
    assert [line["id"] for line in export_lines(client)] == expected
    stream = SseClient(audit.url, headers={"Last-Event-ID": "0"})
    try:
        assert [frame.json()["id"] for frame in stream.take(len(expected))] == expected
    finally:
        stream.close()


def test_an_export_that_cannot_finish_fails_for_the_client_instead_of_a_clean_200(
    sqlite_audit: ServiceProcess, sqlite_client: httpx.Client, tmp_path: Path
) -> None:
    """A row the service cannot render (here its attributes column was corrupted in
    the database, a fault no request can cause) on the second page of an export: the
    client gets an incomplete chunked response, never a 200 that looks complete."""
    batch = [
        {"specversion": "1.0", "id": f"e-{i}", "source": SOURCE, "type": "t", "data": i}
        for i in range(EXPORT_PAGE + 10)
    ]
    response = sqlite_client.post(
        "/",
        headers={"content-type": "application/cloudevents-batch+json"},
        content=json.dumps(batch),
    )
    assert response.status_code == 202, response.text
    run_sql(
        f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}",
        "UPDATE events SET attributes = '{not json' WHERE event_id = :event_id",
        event_id=f"e-{EXPORT_PAGE + 5}",
    )

    received: list[str] = []

    def read_export() -> None:
        with sqlite_client.stream("GET", "/v1/events/export") as export:
            assert export.status_code == 200
            received.extend(export.iter_lines())

    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        read_export()
    assert EXPORT_PAGE <= len(received) < EXPORT_PAGE + 10


# --- Extreme numbers: stored, and never a shared failure ------------------------------


EXTREME_NUMBERS = {
    "underflow": b'{"x": 1e-20000}',  # orjson reads 0.0; PostgreSQL numeric cannot hold it
    "long-fraction": b'{"x": 0.' + b"0" * 20000 + b"1}",
    "overflow": b'{"x": 1e400}',  # no double holds it
    "huge-int": b'{"x": ' + b"9" * 5000 + b"}",
    "minus-zero": b'{"x": -0, "y": -0.0}',
    "nan-like": b'{"x": "NaN", "y": "-Infinity"}',
}


def test_extreme_numbers_are_stored_and_never_fail_the_events_they_share_a_commit_with(
    audit: ServiceProcess, database_url: str
) -> None:
    good = {f"good-{i}": b'{"i": %d}' % i for i in range(54)}
    sent = {**good, **EXTREME_NUMBERS}

    async def post_all() -> dict[str, int]:
        async with httpx.AsyncClient(base_url=audit.url, timeout=30) as http:
            responses = await asyncio.gather(
                *(http.post("/", headers=binary_headers(i), content=d) for i, d in sent.items())
            )
        return {i: r.status_code for i, r in zip(sent, responses, strict=True)}

    assert asyncio.run(post_all()) == dict.fromkeys(sent, 202)

    with httpx.Client(base_url=audit.url, timeout=30) as client:
        stored = {item["id"]: item for item in all_items(client)}
        assert client.get("/readyz").status_code == 200
    assert set(stored) == set(sent)
    for event_id, data in sent.items():
        assert base64.b64decode(stored[event_id]["data_base64"]) == data
    queryable = dict(run_sql(database_url, "SELECT event_id, data_json IS NOT NULL FROM events"))
    assert all(queryable[event_id] for event_id in good)
    if database_url.startswith("postgresql"):
        assert not queryable["underflow"]
        assert not queryable["long-fraction"]


# --- The database file deleted under a running service ------------------------------


def test_a_deleted_database_file_turns_writes_into_503_and_readiness_off(
    tmp_path: Path,
) -> None:
    database = tmp_path / "audit.db"
    service = audit_process(tmp_path, f"sqlite+aiosqlite:///{database}").start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            assert (
                client.post("/", headers=binary_headers("before"), content=b"{}").status_code == 202
            )
            for path in tmp_path.glob("audit.db*"):
                path.unlink()

            after = client.post("/", headers=binary_headers("after"), content=b"{}")
            ready = client.get("/readyz")

            assert after.status_code == 503, after.text
            assert after.json()["error"] == "store_unavailable"
            assert ready.status_code == 503
            assert "deleted" in ready.json()["checks"]["writer"]
    finally:
        service.stop()


def test_a_deleted_database_file_is_noticed_without_any_write(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    service = audit_process(tmp_path, f"sqlite+aiosqlite:///{database}").start()
    try:
        database.unlink()

        ready = httpx.get(service.url + "/readyz", timeout=10)

        assert ready.status_code == 503
        assert "deleted" in ready.json()["checks"]["writer"]
    finally:
        service.stop()


# --- Header size, attribute length, metric labels -------------------------------------


def test_a_huge_header_gets_431_before_the_server_buffers_it(
    sqlite_audit: ServiceProcess,
) -> None:
    audit = sqlite_audit
    assert audit.process is not None
    rss_before = rss_bytes(audit.process.pid)
    sock = connect(audit.port, timeout=15)
    sent = 0
    try:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nce-type: ")
        chunk = b"a" * 65536
        with contextlib.suppress(OSError):  # the server closes the connection early
            while sent < 64 * 2**20:
                sock.sendall(chunk)
                sent += len(chunk)
        status, _ = read_head(sock)
    finally:
        sock.close()

    assert status == 431
    assert sent < 64 * 2**20, "the server read the whole 64 MiB header"
    assert rss_bytes(audit.process.pid) - rss_before < 16 * 2**20


def test_headers_just_under_the_limit_are_served(sqlite_client: httpx.Client) -> None:
    padding = {f"x-pad-{i}": "p" * 1000 for i in range(60)}  # ~61 KB of 64 KiB

    response = sqlite_client.post(
        "/", headers={**binary_headers("padded"), **padding}, content=b'{"n": 1}'
    )

    assert response.status_code == 202, response.text


def test_the_header_limit_counts_each_request_of_a_kept_alive_connection(
    sqlite_audit: ServiceProcess,
) -> None:
    head = request_head("GET", "/healthz", {f"x-pad-{i}": "p" * 1000 for i in range(40)})
    sock = connect(sqlite_audit.port, timeout=15)
    try:
        statuses = []
        for _ in range(4):  # 160 KB of heads in all, each one under 64 KiB
            sock.sendall(head)
            status, response = read_head(sock)
            statuses.append(status)
            length = int(response.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = response.split(b"\r\n\r\n", 1)[1]
            while len(body) < length:
                body += sock.recv(length - len(body))
    finally:
        sock.close()

    assert statuses == [200, 200, 200, 200]


def test_an_attribute_longer_than_the_limit_is_refused_in_every_mode(
    sqlite_client: httpx.Client,
) -> None:
    long_type = "t" * 8193
    structured = {
        "specversion": "1.0",
        "id": "long",
        "source": SOURCE,
        "type": long_type,
        "data": {"n": 1},
    }

    answers = [
        sqlite_client.post("/", headers=binary_headers("long", long_type), content=b"{}"),
        sqlite_client.post(
            "/",
            headers={"content-type": "application/cloudevents+json"},
            content=json.dumps(structured),
        ),
        sqlite_client.post(
            "/",
            headers={"content-type": "application/cloudevents+json"},
            content=json.dumps({**structured, "type": "t", "myext": "x" * 8193}),
        ),
    ]

    assert [(r.status_code, r.json()["attribute"]) for r in answers] == [
        (400, "type"),
        (400, "type"),
        (400, "myext"),
    ]
    assert all_items(sqlite_client) == []


def test_metric_labels_never_carry_a_long_client_value(sqlite_client: httpx.Client) -> None:
    long_type = "metric.type." + "t" * 4000

    accepted = sqlite_client.post(
        "/", headers=binary_headers("long-type", long_type), content=b"{}"
    )
    metrics = sqlite_client.get("/metrics").text

    assert accepted.status_code == 202
    assert long_type not in metrics
    assert 'audit_events_received_total{mode="binary",type="_other"}' in metrics
    assert max(len(line) for line in metrics.splitlines()) < 1024
