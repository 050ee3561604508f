"""The sending side: new_event, K_CE_OVERRIDES, and encoders refusing invalid
events (items 5-9, 26, 44-50 as a sender)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from common.events import (
    CloudEvent,
    apply_overrides,
    encode_batch,
    encode_binary,
    encode_structured,
    new_event,
    parse_ce_overrides,
    parse_http,
)
from tests.unit.events.support import REQUIRED, as_str_headers


def test_item_01_new_event_has_every_required_attribute() -> None:
    event = new_event(type="user.storeUser", source="/user", data=b'{"id":"1"}')
    assert {"specversion", "id", "source", "type", "time"} <= set(event.attributes)
    assert event.datacontenttype == "application/json"


@pytest.mark.parametrize(
    "changes",
    [{"type": ""}, {"source": "a b"}, {"dataschema": "/relative"}, {"subject": ""}],
)
def test_item_01_new_event_refuses_an_invalid_event(changes: dict[str, str]) -> None:
    arguments = {"type": "t", "source": "/s", **changes}
    with pytest.raises(ValueError, match="not a valid CloudEvent"):
        new_event(**arguments)


@pytest.mark.parametrize("encode", [encode_binary, encode_structured])
def test_item_09_encoders_refuse_invalid_events(
    encode: Callable[[CloudEvent], tuple[list[tuple[str, str]], bytes]],
) -> None:
    for attributes in (
        {**REQUIRED, "id": ""},
        {**REQUIRED, "Bad": "x"},
        {**REQUIRED, "subject": "a\ud800"},
        {**REQUIRED, "n": 2**31},
    ):
        with pytest.raises(ValueError, match="not a valid CloudEvent"):
            encode(CloudEvent(attributes))


def test_item_09_batch_encoder_refuses_invalid_events() -> None:
    with pytest.raises(ValueError, match="not a valid CloudEvent"):
        encode_batch([CloudEvent(REQUIRED), CloudEvent({**REQUIRED, "time": "now"})])


def test_item_26_overrides_are_parsed_and_applied() -> None:
    overrides = parse_ce_overrides('{"extensions": {"cluster": "kind", "n": 3, "on": true}}')
    assert overrides == {"cluster": "kind", "n": 3, "on": True}
    event = apply_overrides(new_event(type="t", source="/s", cluster="other"), overrides)
    assert event.extensions == {"cluster": "kind", "n": 3, "on": True}
    headers, body = encode_binary(event)
    again = parse_http(as_str_headers(headers), body).events[0]
    assert again.extensions == {"cluster": "kind", "n": "3", "on": "true"}


@pytest.mark.parametrize("text", [None, "", "  ", "{}", '{"extensions": null}'])
def test_item_26_no_overrides(text: str | None) -> None:
    assert parse_ce_overrides(text) == {}
    event = new_event(type="t", source="/s")
    assert apply_overrides(event, parse_ce_overrides(text)) is event


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"extensions": []}',
        '{"extensions": "x"}',
        '{"extensions": {"Bad": "x"}}',
        '{"extensions": {"data": "x"}}',
        '{"extensions": {"x": 1.5}}',
        '{"extensions": {"x": 4294967296}}',
        '{"extensions": {"x": "a\\u0000"}}',
        '{"extensions": {"type": "evil"}}',
        '{"extensions": {"id": "fixed"}}',
    ],
)
def test_item_26_invalid_overrides_raise_value_error(text: str) -> None:
    # Regression: a bad name raised InvalidEvent (not a ValueError), and core
    # attributes such as `type` could be overridden.
    with pytest.raises(ValueError, match=r"."):
        parse_ce_overrides(text)


def test_item_44_sent_headers_parse_back_to_the_same_event() -> None:
    event = new_event(
        type="user.storeUser",
        source="https://user.example.com",
        data=b'{"id":"1"}',
        subject='Euro € 😀 "quoted" 100%',
        flag=True,
        count=-3,
    )
    headers, body = encode_binary(event)
    parsed = parse_http(as_str_headers(headers), body).events[0]
    assert parsed.data == event.data
    assert parsed.attributes == {
        **event.attributes,
        "flag": "true",
        "count": "-3",
    }
