"""The official SDK (cloudevents 2.x, `cloudevents.core`) as an independent peer:
whatever we send parses with `from_http_event` to the same attributes and data,
and whatever the SDK sends (`to_binary_event`, `to_structured_event`) parses with
ours. Items 2, 9, 39, 41, 44, 48-50, 55, 62-64 between two implementations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.bindings.http import (
    HTTPMessage,
    from_http_event,
    to_binary_event,
    to_structured_event,
)
from cloudevents.core.v1.event import CloudEvent as SdkEvent
from hypothesis import HealthCheck, given, settings

from common.events import (
    CloudEvent,
    ContentMode,
    encode_binary,
    encode_structured,
    parse_http,
    parse_time,
)
from tests.unit.events.strategies import valid_events
from tests.unit.events.support import REQUIRED

TIME = "2018-04-05T17:31:00Z"

OUR_EVENTS = {
    "json": CloudEvent(
        {**REQUIRED, "time": TIME, "datacontenttype": "application/json", "subject": "s"},
        b'{"name":"Ada","n":[1,2.5,null]}',
    ),
    "json-string": CloudEvent(
        {**REQUIRED, "time": TIME, "datacontenttype": "application/json"}, b'"just a string"'
    ),
    "text": CloudEvent(
        {**REQUIRED, "time": TIME, "datacontenttype": "text/plain; charset=utf-8"},
        "Euro € 😀".encode(),
    ),
    "bytes": CloudEvent(
        {**REQUIRED, "time": TIME, "datacontenttype": "application/octet-stream"},
        b"\x00\xff\xfe binary",
    ),
    "no-data": CloudEvent({**REQUIRED, "time": TIME, "dataschema": "https://x.example/s.json"}),
    "extensions": CloudEvent(
        {
            **REQUIRED,
            "time": "2018-04-05T19:31:00.123456+02:00",
            "subject": 'Euro € 😀 "quoted" 100% a b',
            "flag": True,
            "count": -42,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "datacontenttype": "application/vnd.example+json",
        },
        b'{"a":1}',
    ),
}


def _sdk_parse(headers: list[tuple[str, str]], body: bytes) -> Any:
    return from_http_event(HTTPMessage(dict(headers), body))


def _is_json(content_type: str | None) -> bool:
    return (content_type or "application/json").split(";")[0].strip().endswith("json")


def _charset(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            return value.strip()
    return "utf-8"


def _assert_sdk_data(sdk_data: object, event: CloudEvent, *, binary: bool) -> None:
    """The SDK's data equals ours, under the SDK's own typing of data."""
    if event.data is None:
        assert sdk_data is None
        return
    if binary:
        # JSONFormat.read_data: JSON types are parsed, then UTF-8 text, else bytes.
        if _is_json(event.datacontenttype):
            try:
                assert sdk_data == json.loads(event.data)
                return
            except ValueError:
                pass
        try:
            assert sdk_data == event.data.decode("utf-8")
        except UnicodeDecodeError:
            assert sdk_data == event.data
        return
    # Structured: a JSON value, a text string, or bytes from data_base64.
    if isinstance(sdk_data, bytes):
        assert sdk_data == event.data
    elif event.datacontenttype is not None and not _is_json(event.datacontenttype):
        assert isinstance(sdk_data, str)
        assert sdk_data.encode(_charset(event.datacontenttype)) == event.data
    else:
        assert sdk_data == json.loads(event.data)


def _assert_sdk_sees(sdk: Any, event: CloudEvent, *, binary: bool) -> None:
    attributes = dict(sdk.get_attributes())
    time = attributes.pop("time")
    assert time == parse_time(str(event.attributes["time"]))
    expected = {k: v for k, v in event.attributes.items() if k != "time"}
    if binary:  # item 29: typed values arrive as their canonical strings
        expected = {
            k: ("true" if v is True else "false" if v is False else str(v))
            for k, v in expected.items()
        }
    assert attributes == expected
    _assert_sdk_data(sdk.get_data(), event, binary=binary)


@pytest.mark.parametrize("name", sorted(OUR_EVENTS))
def test_item_39_our_binary_output_parses_with_the_sdk(name: str) -> None:
    event = OUR_EVENTS[name]
    headers, body = encode_binary(event)
    _assert_sdk_sees(_sdk_parse(headers, body), event, binary=True)


@pytest.mark.parametrize("name", sorted(OUR_EVENTS))
def test_item_39_our_structured_output_parses_with_the_sdk(name: str) -> None:
    event = OUR_EVENTS[name]
    headers, body = encode_structured(event)
    sdk = _sdk_parse(headers, body)
    _assert_sdk_sees(sdk, event, binary=False)


def _sdk_events() -> dict[str, SdkEvent]:
    moment = datetime(2018, 4, 5, 17, 31, 0, 123456, tzinfo=UTC)
    base = {**REQUIRED, "time": moment}
    return {
        "dict": SdkEvent({**base, "datacontenttype": "application/json"}, {"a": [1, "é"]}),
        "implicit-json": SdkEvent(dict(base), {"a": 1}),
        "text": SdkEvent({**base, "datacontenttype": "text/plain"}, "Euro € 😀"),
        "bytes": SdkEvent(
            {**base, "datacontenttype": "application/octet-stream"}, b"\x00\xff binary"
        ),
        "no-data": SdkEvent({**base, "subject": "s", "dataschema": "https://x.example/s"}),
        "extensions": SdkEvent(
            {**base, "subject": "a b %", "count": 7, "traceparent": "00-ab-cd-01"}, None
        ),
    }


def _raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


@pytest.mark.parametrize("name", sorted(_sdk_events()))
def test_item_39_sdk_binary_output_parses_with_ours(name: str) -> None:
    sdk = _sdk_events()[name]
    message = to_binary_event(sdk)
    parsed = parse_http(_raw(message.headers), message.body)
    assert parsed.mode == ContentMode.BINARY
    (event,) = parsed.events
    _assert_same_event(event, sdk, message.body, binary=True)


@pytest.mark.parametrize("name", sorted(_sdk_events()))
def test_item_39_sdk_structured_output_parses_with_ours(name: str) -> None:
    sdk = _sdk_events()[name]
    message = to_structured_event(sdk)
    parsed = parse_http(_raw(message.headers), message.body)
    assert parsed.mode == ContentMode.STRUCTURED
    (event,) = parsed.events
    _assert_same_event(event, sdk, message.body, binary=False)


def _assert_same_event(event: CloudEvent, sdk: SdkEvent, body: bytes, *, binary: bool) -> None:
    sdk_attributes = dict(sdk.get_attributes())
    assert parse_time(str(event.attributes["time"])) == sdk_attributes.pop("time")
    ours = {k: v for k, v in event.attributes.items() if k != "time"}
    data = sdk.get_data()
    if not binary and data is not None and "datacontenttype" not in sdk_attributes:
        # Item 18/19: JSON `data` without a type is application/json, explicitly.
        sdk_attributes["datacontenttype"] = "application/json"
    expected = {k: str(v) if binary else v for k, v in sdk_attributes.items()}
    assert ours == expected
    if data is None:
        assert event.data is None
    elif isinstance(data, bytes):
        assert event.data == data
    elif isinstance(data, str):
        assert event.data == data.encode("utf-8")
    else:
        assert event.data is not None
        assert json.loads(event.data) == data
        if binary:
            assert event.data == body  # item 43: the body exactly


def test_item_09_sdk_booleans_in_headers_are_python_text() -> None:
    # A known SDK deviation from item 9: str(True) gives "True" in a header.
    # Binary mode is untyped (item 29), so ours keeps it as the String "True".
    message = to_binary_event(SdkEvent({**REQUIRED, "time": TIME_DT, "flag": True}))
    assert message.headers["ce-flag"] == "True"
    assert parse_http(_raw(message.headers), b"").events[0].attributes["flag"] == "True"
    ours = encode_binary(CloudEvent({**REQUIRED, "flag": True}))[0]
    assert ("ce-flag", "true") in ours


TIME_DT = datetime(2018, 4, 5, 17, 31, tzinfo=UTC)


def test_item_25_the_sdk_fabricates_time_and_we_do_not() -> None:
    headers = {f"ce-{k}": v for k, v in REQUIRED.items()}
    assert "time" in from_http_event(HTTPMessage(headers, b"")).get_attributes()
    assert "time" not in parse_http(_raw(headers), b"").events[0].attributes


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=valid_events(sdk_compatible=True))
def test_item_39_random_events_we_send_parse_with_the_sdk(event: CloudEvent) -> None:
    for encode, binary in ((encode_binary, True), (encode_structured, False)):
        headers, body = encode(event)
        _assert_sdk_sees(_sdk_parse(headers, body), event, binary=binary)
