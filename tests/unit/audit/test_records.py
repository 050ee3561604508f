"""Rows built from events, and the Event JSON rendered back from rows."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import orjson
import pytest

from audit.records import (
    MAX_JSON_DEPTH,
    dead_letter_row,
    decode_error_data,
    event_row,
    json_too_deep,
    queryable_json,
    render_dead_letter,
    render_event,
)
from common.events import CloudEvent, new_event

NOW = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)


def _row(ce: CloudEvent, **extra: object) -> dict[str, object]:
    return {"seq": 7, **event_row(ce, "binary", NOW), **extra}


def test_a_row_keeps_every_attribute_and_the_data_bytes() -> None:
    ce = new_event(type="t", source="/s", data=b'{"a": 1}', subject="x", traceparent="tp")

    row = event_row(ce, "structured", NOW)

    assert orjson.loads(row["attributes"]) == dict(ce.attributes)
    assert row["data"] == b'{"a": 1}'
    assert row["data_json"] == '{"a": 1}'
    assert (row["source"], row["event_id"], row["type"], row["subject"]) == ("/s", ce.id, "t", "x")
    assert row["mode"] == "structured"
    assert row["received_at"] is NOW


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        (b'{"a": 1}', "application/json", '{"a": 1}'),
        (b"[1, 2]", "application/vnd.x+json; charset=utf-8", "[1, 2]"),
        (b'"text"', None, '"text"'),
        (b"not json", "application/json", None),
        (b'{"a": 1}', "text/plain", None),
        (b'{"nul": "\\u0000"}', "application/json", None),
        (None, "application/json", None),
    ],
    ids=["json", "plus-json", "no-type", "invalid", "text", "nul-escape", "no-data"],
)
def test_only_valid_json_data_is_made_queryable(
    data: bytes | None, content_type: str | None, expected: str | None
) -> None:
    assert queryable_json(data, content_type) == expected


def test_render_embeds_json_data_exactly_including_big_integers() -> None:
    ce = new_event(type="t", source="/s", data=b'{"big":123456789012345678901234567890}')

    rendered = json.loads(orjson.dumps(render_event(_row(ce))))

    assert rendered["data"] == {"big": 123456789012345678901234567890}
    assert rendered["received_at"] == "2026-11-27T10:00:00.123456Z"
    assert rendered["seq"] == 7


def test_multi_line_json_data_renders_on_one_line() -> None:
    ce = new_event(type="t", source="/s", data=b'{\n  "big": 123456789012345678901234567890\n}\n')

    encoded = orjson.dumps(render_event(_row(ce)))

    assert b"\n" not in encoded
    assert json.loads(encoded)["data"] == {"big": 123456789012345678901234567890}
    assert base64.b64decode(orjson.loads(encoded)["data_base64"]) == ce.data


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 1000 + b"\n" + b"]" * 1000,  # orjson reads it, Python's json cannot
        b"[" * 2000 + b"]" * 2000,  # orjson cannot read it either
        b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
        b"1e400",  # no double holds it
    ],
)
def test_data_no_reader_could_parse_renders_as_bytes_only(data: bytes) -> None:
    ce = new_event(type="t", source="/s", data=data)

    encoded = orjson.dumps(render_event({**_row(ce), "data_json": None}))

    assert json.loads(encoded)["data"] is None
    assert base64.b64decode(json.loads(encoded)["data_base64"]) == data
    assert queryable_json(data, "application/json") is None


@pytest.mark.parametrize(
    ("data", "too_deep"),
    [
        (b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, False),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), True),
        (b'{"a": ["' + b"[" * MAX_JSON_DEPTH * 2 + b'"]}', False),  # brackets in a string
        (b'["\\"' + b"[" * MAX_JSON_DEPTH * 2 + b'"]', False),  # after an escaped quote
        (b'["\\\\"' + b"[" * MAX_JSON_DEPTH * 2, True),  # after an escaped backslash
        (b"[]" * MAX_JSON_DEPTH * 2, False),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(data: bytes, too_deep: bool) -> None:
    assert json_too_deep(data) is too_deep


def test_nesting_depth_of_hostile_bytes_takes_linear_time() -> None:
    # An unterminated string full of escaped quotes: a backtracking scan is quadratic.
    hostile = b"[" * (MAX_JSON_DEPTH + 1) + b'"' + b'\\"' * 300_000

    assert json_too_deep(hostile)


def test_non_json_and_non_text_data_renders_as_base64_only() -> None:
    ce = new_event(
        type="t", source="/s", data=b"\xff\x00", datacontenttype="application/octet-stream"
    )

    rendered = render_event(_row(ce))

    assert rendered["data"] is None
    assert rendered["data_text"] is None
    assert rendered["data_base64"] == base64.b64encode(b"\xff\x00").decode()


def test_stored_naive_times_are_utc() -> None:
    ce = new_event(type="t", source="/s")

    rendered = render_event(_row(ce, received_at=NOW.replace(tzinfo=None)))

    assert rendered["received_at"] == "2026-11-27T10:00:00.123456Z"


def test_attributes_read_back_as_text_or_as_a_mapping_render_alike() -> None:
    ce = new_event(type="t", source="/s", data=b"{}")
    as_text = _row(ce)
    as_mapping = _row(ce, attributes=orjson.loads(str(as_text["attributes"])))

    assert orjson.dumps(render_event(as_text)) == orjson.dumps(render_event(as_mapping))
    assert render_event(as_mapping)["attributes"] == dict(ce.attributes)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (base64.b64encode(b"boom").decode(), b"boom"),
        ("Ym9vbQ", b"boom"),  # unpadded
        (base64.b64encode("é".encode() * 10).decode()[:-2], "é".encode() * 9 + b"\xc3"),
        ("plain text, not base64", b"plain text, not base64"),
        ("", b""),
        (None, None),
    ],
    ids=["base64", "unpadded", "cut-mid-character", "raw-text", "empty", "absent"],
)
def test_error_data_is_decoded_when_it_is_base64_text(
    value: str | None, expected: bytes | None
) -> None:
    assert decode_error_data(value) == expected


def test_a_dead_letter_row_and_rendering_carry_the_error() -> None:
    ce = new_event(
        type="t",
        source="/s",
        knativeerrordest="http://sub/",
        knativeerrorcode="502",
        knativeerrordata=base64.b64encode(b"bad gateway").decode(),
    )

    row = {"seq": 1, **dead_letter_row(ce, "binary", NOW)}
    rendered = render_dead_letter(row)

    assert (row["error_dest"], row["error_code"]) == ("http://sub/", 502)
    assert rendered["error"] == {
        "dest": "http://sub/",
        "code": 502,
        "data": "bad gateway",
        "data_base64": base64.b64encode(b"bad gateway").decode(),
    }


@pytest.mark.parametrize(
    ("code", "expected"), [(500, 500), ("404", 404), ("x", None), (True, None)]
)
def test_error_codes_are_integers_when_they_can_be(code: object, expected: int | None) -> None:
    ce = new_event(type="t", source="/s", knativeerrorcode=code)  # type: ignore[arg-type]

    assert dead_letter_row(ce, "binary", NOW)["error_code"] == expected


def test_a_dead_letter_without_error_details_has_an_empty_destination() -> None:
    row = {"seq": 1, **dead_letter_row(new_event(type="t", source="/s"), "binary", NOW)}

    assert row["error_dest"] == ""
    assert render_dead_letter(row)["error"] == {
        "dest": None,
        "code": None,
        "data": None,
        "data_base64": None,
    }
