"""`POST /`: what the sink accepts, rejects, and stores."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from common.events import CloudEvent, encode_binary, new_event
from devstack import ServiceProcess
from tests.integration.audit.helpers import (
    SOURCE,
    all_items,
    audit_process,
    event,
    metric,
    post_batch,
    post_binary,
    post_structured,
)


def _stored(client: httpx.Client, ce_id: str, source: str = SOURCE) -> Any:
    response = client.get(f"/v1/events/{_segment(source)}/{_segment(ce_id)}")
    assert response.status_code == 200, response.text
    return response.json()


def _segment(value: str) -> str:
    return quote(value, safe="")


def test_each_content_mode_is_stored_and_answered_202_with_an_empty_body(
    client: httpx.Client,
) -> None:
    binary, structured = event(subject="u-1"), event("user.updateUser", subject="u-2")
    batch = [event("user.deleteUser", subject=f"u-{i}") for i in range(3)]

    responses = [
        post_binary(client, binary),
        post_structured(client, structured),
        post_batch(client, batch),
    ]

    for response in responses:
        assert response.status_code == 202
        assert response.content == b""
        assert "content-type" not in response.headers
    modes = {item["id"]: item["mode"] for item in all_items(client)}
    assert modes == {
        binary.id: "binary",
        structured.id: "structured",
        **{e.id: "batch" for e in batch},
    }


def test_every_attribute_extensions_included_and_the_data_are_kept_as_received(
    client: httpx.Client,
) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    sent = new_event(
        type="user.storeUser",
        source="https://example.com/users",
        subject="42",
        data=b'{"id": "42",\n "big": 123456789012345678901234567890}',
        dataschema="https://example.com/schemas/user.storeUser.json",
        knativearrivaltime="2026-11-27T10:00:00.5Z",
        traceparent=traceparent,
        requestid="r-1",
    )

    assert post_binary(client, sent).status_code == 202

    stored = _stored(client, sent.id, "https://example.com/users")
    assert stored["attributes"] == dict(sent.attributes)
    assert stored["attributes"]["traceparent"] == traceparent
    assert stored["attributes"]["knativearrivaltime"] == "2026-11-27T10:00:00.5Z"
    assert base64.b64decode(stored["data_base64"]) == sent.data
    assert stored["data_text"] == sent.data.decode()
    assert stored["data"] == {"id": "42", "big": 123456789012345678901234567890}
    assert stored["time"] == sent.attributes["time"]
    assert stored["dataschema"] == "https://example.com/schemas/user.storeUser.json"
    assert stored["received_at"].endswith("Z")
    assert isinstance(stored["seq"], int)


def test_binary_data_that_is_not_text_is_kept_byte_for_byte(client: httpx.Client) -> None:
    raw = bytes(range(256))
    sent = new_event(
        type="blob", source=SOURCE, data=raw, datacontenttype="application/octet-stream"
    )

    assert post_binary(client, sent).status_code == 202

    stored = _stored(client, sent.id)
    assert base64.b64decode(stored["data_base64"]) == raw
    assert stored["data"] is None
    assert stored["data_text"] is None
    assert stored["datacontenttype"] == "application/octet-stream"


def test_an_event_without_data_is_stored_without_data(client: httpx.Client) -> None:
    sent = new_event(type="ping", source=SOURCE, data=None)

    assert post_binary(client, sent).status_code == 202

    stored = _stored(client, sent.id)
    assert stored["data"] is None
    assert stored["data_base64"] is None
    assert stored["datacontenttype"] is None


def test_a_duplicate_is_acknowledged_stored_once_and_counted(client: httpx.Client) -> None:
    original = event(subject="dup")
    retry = original.with_attributes(knativearrivaltime="2026-11-27T11:00:00Z")

    assert post_binary(client, original).status_code == 202
    assert post_binary(client, retry).status_code == 202
    assert post_structured(client, original).status_code == 202
    assert post_batch(client, [original, original]).status_code == 202

    assert len(all_items(client, id=original.id)) == 1
    assert metric(client, "audit_events_duplicate_total", kind="events") == 4
    # The first delivery is the one kept.
    assert "knativearrivaltime" not in _stored(client, original.id)["attributes"]


def test_the_same_id_from_another_source_is_another_event(client: httpx.Client) -> None:
    first = event(id="same")
    second = event(id="same", source="/tests/other")

    assert post_binary(client, first).status_code == 202
    assert post_binary(client, second).status_code == 202

    assert len(all_items(client, id="same")) == 2


@pytest.mark.parametrize(
    ("headers", "body", "error"),
    [
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"}, b"", "invalid_event"),
        (
            {"ce-specversion": "0.3", "ce-id": "1", "ce-source": "/s", "ce-type": "t"},
            b"",
            "invalid_event",
        ),
        ({"content-type": "application/cloudevents+json"}, b"{not json", "invalid_event"),
        ({"content-type": "application/json"}, b'{"id": 1}', "invalid_event"),
        ({"content-type": "application/cloudevents-batch+json"}, b"{}", "invalid_event"),
    ],
    ids=["missing-type", "specversion-0.3", "malformed-json", "plain-json", "batch-not-array"],
)
def test_an_invalid_event_gets_400_with_the_codec_error_and_nothing_is_stored(
    client: httpx.Client, headers: dict[str, str], body: bytes, error: str
) -> None:
    response = client.post("/", headers=headers, content=body)

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["detail"]
    assert all_items(client) == []
    assert metric(client, "audit_events_rejected_total", reason=error) == 1


def test_a_batch_with_one_invalid_event_is_rejected_whole(client: httpx.Client) -> None:
    members = [
        {"specversion": "1.0", "id": "a", "source": SOURCE, "type": "t"},
        {"specversion": "1.0", "id": "b", "source": SOURCE},
    ]
    response = client.post(
        "/",
        headers={"content-type": "application/cloudevents-batch+json"},
        content=orjson.dumps(members),
    )

    assert response.status_code == 400
    assert "batch event 1" in response.json()["detail"]
    assert all_items(client) == []


def test_an_empty_batch_is_accepted(client: httpx.Client) -> None:
    response = client.post(
        "/", headers={"content-type": "application/cloudevents-batch+json"}, content=b"[]"
    )

    assert response.status_code == 202
    assert response.content == b""


def test_an_unsupported_event_format_gets_415(client: httpx.Client) -> None:
    response = client.post(
        "/", headers={"content-type": "application/cloudevents+avro"}, content=b"\x00"
    )

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_format"


def test_oversized_bodies_and_batches_get_413(tmp_path: Path, database_url: str) -> None:
    service = audit_process(
        tmp_path, database_url, MAX_BODY_BYTES="2048", MAX_BATCH_SIZE="3"
    ).start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as client:
            big = post_binary(client, event(data={"id": "big", "pad": "x" * 4096}))
            many = post_batch(client, [event() for _ in range(4)])
            fits = post_batch(client, [event() for _ in range(3)])

            assert big.status_code == 413
            assert big.json()["error"] == "payload_too_large"
            assert many.status_code == 413
            assert many.json()["error"] == "payload_too_large"
            assert fits.status_code == 202
            assert len(all_items(client)) == 3
            assert metric(client, "audit_events_rejected_total", reason="payload_too_large") == 2
    finally:
        service.stop()


def test_other_methods_on_the_sink_get_405_json(client: httpx.Client) -> None:
    response = client.put("/", content=b"")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_received_events_are_counted_by_type_and_mode(client: httpx.Client) -> None:
    post_binary(client, event("user.storeUser"))
    post_batch(client, [event("user.deleteUser"), event("user.deleteUser")])

    assert metric(client, "audit_events_received_total", type="user.storeUser", mode="binary") == 1
    assert metric(client, "audit_events_received_total", type="user.deleteUser", mode="batch") == 2


def test_concurrent_requests_share_transactions_and_all_are_stored(
    client: httpx.Client, audit: ServiceProcess
) -> None:
    events = [event(subject=f"c-{i}") for i in range(300)]

    async def send_all() -> list[int]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=audit.url, timeout=60, limits=limits) as http:

            async def one(ce: CloudEvent) -> int:
                headers, body = encode_binary(ce)
                return (await http.post("/", headers=headers, content=body)).status_code

            return await asyncio.gather(*(one(ce) for ce in events))

    statuses = asyncio.run(send_all())

    assert statuses == [202] * len(events)
    assert {item["id"] for item in all_items(client)} == {ce.id for ce in events}
    commits = metric(client, "audit_store_batch_rows_count")
    rows = metric(client, "audit_store_batch_rows_sum")
    assert rows == len(events)
    assert commits < len(events), "every request had a transaction of its own"
