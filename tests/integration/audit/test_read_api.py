"""The read API: filters, cursor pagination, one event, counts, export, OpenAPI."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import httpx
import orjson

from common.events import encode_binary
from devstack import ServiceProcess
from tests.integration.audit.helpers import (
    SOURCE,
    all_items,
    event,
    post_batch,
    post_binary,
)


def _ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def test_lists_newest_first_and_filters_by_type_source_subject_and_id(
    client: httpx.Client,
) -> None:
    created = event("user.storeUser", subject="alice")
    updated = event("user.updateUser", subject="alice")
    other = event("user.storeUser", subject="bob", source="/tests/other")
    for ce in (created, updated, other):
        assert post_binary(client, ce).status_code == 202

    assert _ids(all_items(client)) == [other.id, updated.id, created.id]
    assert _ids(all_items(client, order="asc")) == [created.id, updated.id, other.id]
    assert _ids(all_items(client, type="user.storeUser")) == [other.id, created.id]
    assert _ids(all_items(client, subject="alice")) == [updated.id, created.id]
    assert _ids(all_items(client, source="/tests/other")) == [other.id]
    assert _ids(all_items(client, type="user.storeUser", subject="alice")) == [created.id]
    assert _ids(all_items(client, type=["user.updateUser", "nope"])) == [updated.id]
    assert _ids(all_items(client, id=created.id)) == [created.id]
    assert all_items(client, type="user.deleteUser") == []


def test_filters_by_receive_time_range(client: httpx.Client) -> None:
    before = event(subject="before")
    assert post_binary(client, before).status_code == 202
    first = all_items(client)[0]["received_at"]
    time.sleep(0.01)  # two distinct receive instants, not synchronisation
    after = event(subject="after")
    assert post_binary(client, after).status_code == 202
    second = all_items(client, id=after.id)[0]["received_at"]

    assert _ids(all_items(client, since=second)) == [after.id]
    assert _ids(all_items(client, until=second)) == [before.id]
    assert _ids(all_items(client, since=first, until=second)) == [before.id]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert all_items(client, since=later) == []
    # An offset other than Z means the same instant.
    shifted = datetime.fromisoformat(second).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert _ids(all_items(client, since=shifted)) == [after.id]


def test_free_text_search_matches_bytes_of_the_data(client: httpx.Client) -> None:
    needle = event(data={"id": "u-1", "name": "Zoë Needle"})
    hay = event(data={"id": "u-2", "name": "Other"})
    post_binary(client, needle)
    post_binary(client, hay)

    assert _ids(all_items(client, q="Zoë Needle")) == [needle.id]
    assert all_items(client, q="absent") == []


def test_cursor_pages_cover_everything_once_even_while_events_arrive(
    client: httpx.Client,
) -> None:
    first = [event(subject="paged") for _ in range(25)]
    assert post_batch(client, first).status_code == 202

    seen: list[str] = []
    arrived: list[str] = []
    params: dict[str, str | int] = {"limit": 4, "subject": "paged"}
    while True:
        page = client.get("/v1/events", params=params).json()
        seen += _ids(page["items"])
        # New matching events between pages: newer, so never in a later page.
        late = [event(subject="paged") for _ in range(2)]
        assert post_batch(client, late).status_code == 202
        arrived += [ce.id for ce in late]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]

    assert seen == [ce.id for ce in reversed(first)]
    assert set(_ids(all_items(client, subject="paged"))) == set(seen) | set(arrived)


def test_pages_without_filters_stay_stable_under_inserts(
    client: httpx.Client, audit: ServiceProcess
) -> None:
    assert post_batch(client, [event() for _ in range(10)]).status_code == 202
    page1 = client.get("/v1/events", params={"limit": 5}).json()

    assert post_batch(client, [event() for _ in range(10)]).status_code == 202
    page2 = client.get("/v1/events", params={"limit": 5, "cursor": page1["next_cursor"]}).json()

    seqs = [item["seq"] for item in page1["items"] + page2["items"]]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == 10
    assert max(item["seq"] for item in page2["items"]) < min(item["seq"] for item in page1["items"])


def test_bad_parameters_get_400_json(client: httpx.Client) -> None:
    for params in (
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "ten"},
        {"order": "sideways"},
        {"since": "yesterday"},
        {"cursor": "bm90LW91cnM"},
        {"since": ""},
        {"id": "\x00"},
        {"until": "2026-11-27"},
    ):
        response = client.get("/v1/events", params=params)
        assert response.status_code == 400, params
        assert response.json()["error"] == "invalid_parameter", params

    desc = client.get("/v1/events", params={"limit": 1})
    assert desc.status_code == 200
    assert client.get("/v1/events", params={"limit": 1000}).status_code == 200


def test_a_cursor_for_one_order_is_refused_for_the_other(client: httpx.Client) -> None:
    assert post_batch(client, [event() for _ in range(3)]).status_code == 202
    cursor = client.get("/v1/events", params={"limit": 1}).json()["next_cursor"]

    response = client.get("/v1/events", params={"cursor": cursor, "order": "asc"})

    assert response.status_code == 400


def test_one_event_by_url_encoded_source_and_id(client: httpx.Client) -> None:
    ce = event(source="https://example.com/a%20b/users?x=1&y=%2F", id="id/with spaces%")
    assert post_binary(client, ce).status_code == 202

    path = f"/v1/events/{quote(ce.source, safe='')}/{quote(ce.id, safe='')}"
    found = client.get(path)
    missing = client.get(f"/v1/events/{quote(ce.source, safe='')}/nope")
    malformed = client.get("/v1/events/only-one-segment")
    impossible = client.get(f"/v1/events/{quote(ce.source, safe='')}/%00")

    assert found.status_code == 200
    assert found.json()["id"] == ce.id
    assert found.json()["source"] == ce.source
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    assert malformed.status_code == 404
    assert impossible.status_code == 404


def test_stats_count_stored_events_per_type(client: httpx.Client) -> None:
    post_batch(client, [event("a"), event("a"), event("b")])
    post_binary(client, event("a"), path="/dead-letter")

    stats = client.get("/v1/stats").json()

    assert stats == {"total": 3, "types": {"a": 2, "b": 1}, "dead_letters": 1}


def test_export_streams_ndjson_of_the_filtered_range_oldest_first(
    client: httpx.Client,
) -> None:
    wanted = [event("export.me") for _ in range(1200)]
    for start in range(0, len(wanted), 400):
        assert post_batch(client, wanted[start : start + 400]).status_code == 202
    post_binary(client, event("export.not"))

    with client.stream("GET", "/v1/events/export", params={"type": "export.me"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert "attachment" in response.headers["content-disposition"]
        assert "content-length" not in response.headers
        lines = list(response.iter_lines())

    rows = [orjson.loads(line) for line in lines if line]
    assert [row["id"] for row in rows] == [ce.id for ce in wanted]
    assert all(row["type"] == "export.me" for row in rows)


def test_openapi_describes_the_read_api(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()

    assert document["openapi"].startswith("3.")
    for path in (
        "/v1/events",
        "/v1/events/{source}/{id}",
        "/v1/events/stream",
        "/v1/events/export",
        "/v1/dead-letters",
        "/v1/stats",
    ):
        assert "get" in document["paths"][path], path
    names = {p["name"] for p in document["paths"]["/v1/events"]["get"]["parameters"]}
    assert {"type", "source", "subject", "since", "until", "limit", "cursor", "order"} <= names


def test_list_items_have_the_documented_shape(client: httpx.Client) -> None:
    ce = event(subject="shape")
    post_binary(client, ce)

    item = all_items(client)[0]

    assert set(item) == {
        "seq",
        "source",
        "id",
        "type",
        "specversion",
        "subject",
        "time",
        "datacontenttype",
        "dataschema",
        "attributes",
        "data",
        "data_base64",
        "data_text",
        "received_at",
        "mode",
    }
    assert item["source"] == SOURCE
    assert item["subject"] == "shape"


def test_many_concurrent_readers_and_writers(audit: ServiceProcess, client: httpx.Client) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(base_url=audit.url, timeout=60) as http:

            async def write(i: int) -> int:
                headers, body = encode_binary(event(subject=f"rw-{i}"))
                return (await http.post("/", headers=headers, content=body)).status_code

            async def read() -> int:
                return (await http.get("/v1/events", params={"limit": 100})).status_code

            results = await asyncio.gather(
                *(write(i) for i in range(100)), *(read() for _ in range(30))
            )
            assert set(results) == {200, 202}

    asyncio.run(run())

    assert len(all_items(client)) == 100
