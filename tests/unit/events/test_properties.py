"""Property tests: hostile and near-valid messages only ever give events or a
typed 4xx (items 92, 4, 35, 51-54, 57, 78), and valid events survive every
content mode unchanged (items 39, 43, 48-50, 62-71, 74).

Run size: EXAMPLES per property (tests/unit/events/strategies.py; 2000 by
default, CODEC_HYPOTHESIS_EXAMPLES overrides it). docs/cloudevents-conformance.md
records the size and time of the last full run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.events import (
    CloudEvent,
    CloudEventError,
    ContentMode,
    ParsedMessage,
    encode_batch,
    encode_binary,
    encode_structured,
    format_time,
    parse_http,
    parse_time,
)
from common.events.headers import decode_header_value, encode_header_value
from tests.unit.events.strategies import (
    EXAMPLES,
    STRING_CHARS,
    json_values,
    strings,
    times,
    valid_events,
)
from tests.unit.events.support import as_str_headers

PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Headers = list[tuple[bytes, bytes]]

# --- the receiver's contract ------------------------------------------------------------


def outcome(headers: Headers, body: bytes, max_batch: int = 1000) -> ParsedMessage | None:
    """parse_http's result, having checked it keeps its contract: an event list
    that our own sender accepts, or a CloudEventError with 400, 413 or 415 and a
    body that renders as UTF-8 JSON. Any other exception fails the test."""
    error: CloudEventError | None = None
    try:
        message = parse_http(headers, body, max_batch=max_batch)
    except CloudEventError as exc:
        error = exc
    if error is not None:
        assert error.status in {400, 413, 415}
        json.dumps(error.to_json(), ensure_ascii=False).encode("utf-8")
        return None
    if message.mode == ContentMode.BATCH:
        assert len(message.events) <= max_batch
    else:
        assert len(message.events) == 1
    for event in message.events:
        for encode in (encode_binary, encode_structured):
            again_headers, again_body = encode(event)
            assert parse_http(as_str_headers(again_headers), again_body).events
    return message


HEADER_NAMES = st.one_of(
    st.sampled_from(
        [
            b"ce-id",
            b"ce-source",
            b"ce-type",
            b"ce-specversion",
            b"CE-ID",
            b"Ce-Time",
            b"ce-time",
            b"ce-subject",
            b"ce-dataschema",
            b"ce-datacontenttype",
            b"ce-data",
            b"ce-",
            b"ce-myext",
            b"content-type",
            b"Content-Type",
            b"traceparent",
            b"content-length",
        ]
    ),
    st.binary(max_size=12).map(lambda name: b"ce-" + name),
    st.binary(max_size=12),
)
HEADER_VALUES = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"1.0",
            b"0.3",
            b"",
            b" ",
            b'"',
            b'"a\\"b"',
            b'"%41"',
            b"%",
            b"%4",
            b"%C0%A0",
            b"%00",
            b"%EF%BF%BE",
            b"2018-04-05T17:31:00Z",
            b"2018-02-30T17:31:00Z",
            b"/s",
            b"https://x/y#z",
            b"a b",
        ]
    ),
)
CONTENT_TYPES = st.one_of(
    st.sampled_from(
        [
            b"application/cloudevents+json",
            b"application/cloudevents-batch+json",
            b"APPLICATION/CLOUDEVENTS+JSON; charset=utf-8",
            b"Application/CloudEvents-Batch+Json",
            b"application/cloudevents+avro",
            b"application/cloudevents",
            b"application/cloudevents-batch",
            b"application/json",
            b"text/plain; charset=x-unknown",
            b"text/plain; charset=utf-16",
            b"",
            b";",
            b'a/b; c="',
            b"\xff\xfe",
            b" \t",
        ]
    ),
    st.binary(max_size=30),
)
VALID_BINARY: Headers = [
    (b"ce-specversion", b"1.0"),
    (b"ce-id", b"1"),
    (b"ce-source", b"/s"),
    (b"ce-type", b"t"),
]


def _json_body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


BODIES = st.one_of(
    st.binary(max_size=200),
    json_values().map(_json_body),
    st.lists(st.dictionaries(st.text(max_size=12), json_values(), max_size=6), max_size=4).map(
        _json_body
    ),
)


@PROPERTY
@given(
    base=st.sampled_from([[], VALID_BINARY]),
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8),
    content_type=st.none() | CONTENT_TYPES,
    body=BODIES,
    max_batch=st.sampled_from([0, 1, 3, 1000]),
)
def test_item_92_random_headers_and_bodies_give_an_event_or_a_typed_4xx(
    base: Headers,
    headers: Headers,
    content_type: bytes | None,
    body: bytes,
    max_batch: int,
) -> None:
    all_headers = [*base, *headers]
    if content_type is not None:
        all_headers.append((b"content-type", content_type))
    outcome(all_headers, body, max_batch)


@st.composite
def mutated_binary(draw: st.DrawFn) -> tuple[Headers, bytes]:
    """A valid binary message with one to three small corruptions."""
    event = draw(valid_events())
    str_headers, body = encode_binary(event)
    headers = as_str_headers(str_headers)
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(
            st.sampled_from(["drop", "dup", "value", "upper", "quote", "add", "ctype", "body"])
        )
        index = draw(st.integers(0, max(len(headers) - 1, 0)))
        if operation == "add" or not headers:
            headers.insert(index, (draw(HEADER_NAMES), draw(HEADER_VALUES)))
        elif operation == "drop":
            del headers[index]
        elif operation == "dup":
            headers.append((headers[index][0], draw(HEADER_VALUES)))
        elif operation == "value":
            headers[index] = (headers[index][0], draw(HEADER_VALUES))
        elif operation == "upper":
            headers[index] = (headers[index][0].upper(), headers[index][1])
        elif operation == "quote":
            headers[index] = (headers[index][0], b'"' + headers[index][1] + b'"')
        elif operation == "ctype":
            headers.append((b"content-type", draw(CONTENT_TYPES)))
        else:
            body = draw(st.binary(max_size=50))
    return headers, body


@PROPERTY
@given(message=mutated_binary())
def test_item_92_mutated_binary_messages_give_an_event_or_a_typed_4xx(
    message: tuple[Headers, bytes],
) -> None:
    outcome(*message)


def _mutate_member(draw: st.DrawFn, member: dict[str, Any]) -> Any:
    operation = draw(
        st.sampled_from(["delete", "set", "rename", "data", "nulls", "wrap", "scalar", "spec"])
    )
    keys = sorted(member)
    key = draw(st.sampled_from(keys)) if keys else "id"
    if operation == "delete":
        member.pop(key, None)
    elif operation == "set":
        junk = json_values() | st.just(float("nan")) | st.just(2**31)
        member[draw(st.sampled_from([key, "data", "data_base64", "extensions", "Bad"]))] = draw(
            junk
        )
    elif operation == "rename":
        member[draw(st.text(max_size=8))] = member.pop(key, None)
    elif operation == "data":
        member["data"] = draw(json_values())
        member["data_base64"] = draw(st.none() | st.text(max_size=12))
    elif operation == "nulls":
        member[key] = None
    elif operation == "wrap":
        return [member]
    elif operation == "scalar":
        return draw(json_values())
    else:
        member["specversion"] = draw(st.sampled_from(["0.3", "1", "", 1.0, None, "1.0"]))
    return member


@st.composite
def mutated_structured(draw: st.DrawFn) -> bytes:
    """A valid JSON-format event with structural and byte-level corruptions."""
    member: Any = json.loads(encode_structured(draw(valid_events()))[1])
    for _ in range(draw(st.integers(1, 3))):
        if isinstance(member, dict):
            member = _mutate_member(draw, member)
    body = json.dumps(member, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        position = draw(st.integers(0, len(body)))
        corruption = draw(st.sampled_from(["cut", "insert", "replace"]))
        if corruption == "cut":
            body = body[:position]
        elif corruption == "insert":
            body = body[:position] + draw(st.binary(min_size=1, max_size=3)) + body[position:]
        else:
            body = body[:position] + draw(st.binary(max_size=2)) + body[position + 1 :]
    return body


@PROPERTY
@given(
    body=mutated_structured(),
    content_type=st.sampled_from([b"application/cloudevents+json", b"application/json"]),
)
def test_item_92_mutated_structured_events_give_an_event_or_a_typed_4xx(
    body: bytes, content_type: bytes
) -> None:
    outcome([(b"content-type", content_type), *VALID_BINARY], body)


@PROPERTY
@given(
    members=st.lists(mutated_structured(), max_size=3),
    valid=st.lists(valid_events(), max_size=2),
    max_batch=st.sampled_from([2, 1000]),
)
def test_item_78_mutated_batches_give_events_or_a_typed_4xx(
    members: list[bytes], valid: list[CloudEvent], max_batch: int
) -> None:
    parts = [encode_structured(event)[1] for event in valid] + members
    body = b"[" + b",".join(parts) + b"]"
    message = outcome([(b"content-type", b"application/cloudevents-batch+json")], body, max_batch)
    if message is not None:  # item 78: all or nothing
        assert len(message.events) == len(json.loads(body))


@PROPERTY
@given(raw=st.binary(max_size=30))
def test_item_53_any_header_bytes_decode_to_a_string_or_a_typed_400(raw: bytes) -> None:
    value: str | CloudEventError
    try:
        value = decode_header_value("x", raw)
    except CloudEventError as exc:
        value = exc
    assert isinstance(value, str) or value.status == 400


# --- round trips -------------------------------------------------------------------------


def _canonical(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@PROPERTY
@given(event=valid_events())
def test_item_43_binary_round_trip_keeps_every_attribute_and_byte(event: CloudEvent) -> None:
    headers, body = encode_binary(event)
    (parsed,) = parse_http(as_str_headers(headers), body).events
    # Item 29: binary mode is untyped, so Integer and Boolean come back as strings.
    expected = {k: v if isinstance(v, str) else _canonical(v) for k, v in event.attributes.items()}
    assert parsed.attributes == expected
    assert parsed.data == event.data


@PROPERTY
@given(event=valid_events())
def test_item_56_structured_round_trip_returns_an_equal_event(event: CloudEvent) -> None:
    headers, body = encode_structured(event)
    assert parse_http(as_str_headers(headers), body).events == [event]


@PROPERTY
@given(events=st.lists(valid_events(), max_size=4))
def test_item_74_batch_round_trip_returns_equal_events(events: list[CloudEvent]) -> None:
    headers, body = encode_batch(events)
    assert parse_http(as_str_headers(headers), body).events == events


@PROPERTY
@given(value=st.text(STRING_CHARS))
def test_item_49_header_encoding_round_trips_every_string(value: str) -> None:
    encoded = encode_header_value(value)
    assert all(0x21 <= ord(c) <= 0x7E and c not in '"' for c in encoded)
    assert decode_header_value("x", encoded.encode("ascii")) == value


@PROPERTY
@given(text=times())
def test_item_23_every_rfc3339_spelling_is_accepted(text: str) -> None:
    headers = [*VALID_BINARY, (b"ce-time", text.encode())]
    assert parse_http(headers, b"").events[0].attributes["time"] == text
    assert parse_time(text).tzinfo is not None


@PROPERTY
@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.just(UTC),
    )
)
def test_item_10_format_time_and_parse_time_are_inverse(moment: datetime) -> None:
    assert parse_time(format_time(moment)) == moment


@PROPERTY
@given(subject=strings)
def test_item_09_valid_strings_are_accepted_in_both_modes(subject: str) -> None:
    headers = [*VALID_BINARY, (b"ce-subject", encode_header_value(subject).encode())]
    assert parse_http(headers, b"").events[0].subject == subject
