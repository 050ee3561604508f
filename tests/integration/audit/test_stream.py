"""`GET /v1/events/stream`: live tail over Server-Sent Events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from devstack import ServiceProcess
from tests.integration.audit.helpers import (
    SseClient,
    all_items,
    audit_process,
    event,
    metric,
    post_batch,
    post_binary,
    wait_until,
)


@pytest.fixture
def stream(audit: ServiceProcess) -> Iterator[SseClient]:
    sse = SseClient(audit.url)
    yield sse
    sse.close()


def test_new_events_appear_in_order_with_their_seq_as_id(
    client: httpx.Client, stream: SseClient
) -> None:
    sent = [event(subject=f"s-{i}") for i in range(3)]
    post_binary(client, sent[0])
    post_batch(client, sent[1:])

    received = stream.take(3)

    assert [frame.json()["id"] for frame in received] == [ce.id for ce in sent]
    assert [frame.id for frame in received] == [str(frame.json()["seq"]) for frame in received]
    assert received[0].json()["data"] == orjson.loads(sent[0].data or b"")


def test_a_stream_without_last_event_id_starts_now(
    audit: ServiceProcess, client: httpx.Client
) -> None:
    old = event(subject="old")
    post_binary(client, old)
    sse = SseClient(audit.url)
    replay = SseClient(audit.url, params={"last_event_id": 0})
    try:
        new = event(subject="new")
        post_binary(client, new)

        assert sse.next().json()["id"] == new.id
        assert [f.json()["id"] for f in replay.take(2)] == [old.id, new.id]
    finally:
        sse.close()
        replay.close()


def test_the_stream_applies_the_list_filters(audit: ServiceProcess, client: httpx.Client) -> None:
    sse = SseClient(audit.url, params={"type": "user.deleteUser", "subject": "keep"})
    try:
        wanted = event("user.deleteUser", subject="keep")
        post_batch(
            client,
            [
                event("user.storeUser", subject="keep"),
                event("user.deleteUser", subject="drop"),
                wanted,
            ],
        )
        last = event("user.deleteUser", subject="keep")
        post_binary(client, last)

        assert [f.json()["id"] for f in sse.take(2)] == [wanted.id, last.id]
    finally:
        sse.close()


def test_resuming_with_last_event_id_after_a_disconnect_misses_nothing(
    audit: ServiceProcess, client: httpx.Client
) -> None:
    stop = threading.Event()
    sent: list[str] = []

    def produce() -> None:
        with httpx.Client(base_url=audit.url, timeout=30) as writer:
            n = 0
            while not stop.is_set():
                batch = [event(subject="resume") for _ in range(1 + n % 5)]
                n += 1
                if n % 2:
                    assert post_batch(writer, batch).status_code == 202
                    sent.extend(ce.id for ce in batch)
                else:
                    assert post_binary(writer, batch[0]).status_code == 202
                    sent.append(batch[0].id)

    received: list[str] = []
    last_id = "0"
    producer = threading.Thread(target=produce)
    producer.start()
    try:
        for _ in range(6):
            sse = SseClient(audit.url, headers={"Last-Event-ID": last_id})
            try:
                for frame in sse.take(15, timeout=30):
                    received.append(frame.json()["id"])
                    last_id = frame.id or last_id
            finally:
                sse.close()  # a disconnect while the producer keeps writing
    finally:
        stop.set()
        producer.join()

    sse = SseClient(audit.url, headers={"Last-Event-ID": last_id})
    try:
        rest = len(sent) - len(received)
        received += [frame.json()["id"] for frame in sse.take(rest, timeout=30)]
    finally:
        sse.close()
    assert received == sent
    assert received == [item["id"] for item in all_items(client, order="asc")]


def test_streams_beyond_the_limit_get_503_and_the_gauge_counts_them(
    tmp_path: Path, database_url: str
) -> None:
    service = audit_process(tmp_path, database_url, MAX_SSE_CLIENTS="2").start()
    first = SseClient(service.url)
    second = SseClient(service.url)
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            assert metric(client, "audit_sse_clients") == 2
            refused = client.get("/v1/events/stream")
            assert refused.status_code == 503
            assert refused.json()["error"] == "too_many_streams"

            first.close()
            wait_until(
                lambda: metric(client, "audit_sse_clients"), lambda n: n == 1, what="slot freed"
            )
            third = SseClient(service.url)
            assert third.status == 200
            third.close()
    finally:
        first.close()
        second.close()
        service.stop()


def test_an_idle_stream_sends_keep_alive_comments(tmp_path: Path, database_url: str) -> None:
    service = audit_process(tmp_path, database_url, SSE_HEARTBEAT_SECONDS="0.2").start()
    sse = SseClient(service.url)
    try:
        wait_until(lambda: list(sse.comments), lambda c: "keep-alive" in c, what="a keep-alive")
    finally:
        sse.close()
        service.stop()


def test_a_bad_last_event_id_gets_400(client: httpx.Client) -> None:
    response = client.get("/v1/events/stream", headers={"Last-Event-ID": "abc"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_parameter"
