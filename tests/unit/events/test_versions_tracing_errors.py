"""Checklist N, O and P (items 79-94): specversion, distributed tracing, and
the errors a receiver answers with."""

from __future__ import annotations

import json

import pytest

from common.events import (
    CloudEvent,
    CloudEventError,
    InvalidEvent,
    PayloadTooLarge,
    UnsupportedFormat,
    encode_binary,
    encode_structured,
    new_event,
    parse_http,
)
from tests.unit.events.support import (
    REQUIRED,
    as_str_headers,
    binary_event,
    ce_headers,
    event_json,
    raw_binary,
    rejected,
    structured_event,
)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HOP = "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01"

# --- N. Unknown or unsupported specversion ---------------------------------------------


@pytest.mark.parametrize("value", ["0.9", "", "1", "1.0.2", "1.1", "2.0", "1.0\x00"])
def test_item_79_only_specversion_1_0_is_accepted(value: str) -> None:
    with rejected(400, "specversion"):
        structured_event(event_json(specversion=value))


@pytest.mark.parametrize("value", [1.0, 1, True, ["1.0"]])
def test_item_79_specversion_must_be_the_string(value: object) -> None:
    with rejected(400, "specversion"):
        structured_event(event_json(specversion=value))


def test_item_79_missing_specversion_is_not_defaulted() -> None:
    with rejected(400, "specversion"):
        structured_event(event_json(specversion=None))
    with rejected(400, "specversion"):
        raw_binary(ce_headers({k: v for k, v in REQUIRED.items() if k != "specversion"}))


def test_item_80_specversion_0_3_is_rejected_in_every_mode() -> None:
    with rejected(400, "specversion"):
        binary_event({"specversion": "0.3"})
    with rejected(400, "specversion"):
        structured_event(event_json(specversion="0.3", datacontentencoding="base64"))


# --- O. Distributed Tracing extension ----------------------------------------------------


def test_item_81_traceparent_and_tracestate_are_string_extensions() -> None:
    event = binary_event({"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"})
    assert event.extensions == {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"}
    structured = structured_event(event_json(traceparent=TRACEPARENT))
    assert structured.extensions == {"traceparent": TRACEPARENT}


def test_item_82_the_extension_is_carried_alongside_protocol_headers() -> None:
    # The codec writes the extension; the HTTP client adds the hop's own header.
    event = new_event(type="t", source="/s", traceparent=TRACEPARENT)
    headers = dict(encode_binary(event)[0])
    assert headers["ce-traceparent"] == TRACEPARENT
    assert "traceparent" not in headers


def test_item_83_forwarding_never_updates_the_extension() -> None:
    received = binary_event({"traceparent": TRACEPARENT}, extra=[(b"traceparent", HOP.encode())])
    headers, body = encode_binary(received)
    forwarded = raw_binary([*as_str_headers(headers), (b"traceparent", b"00-new-hop")], body)
    assert forwarded.attributes["traceparent"] == TRACEPARENT


def test_item_84_ce_traceparent_and_traceparent_are_kept_apart() -> None:
    event = binary_event(extra=[(b"traceparent", HOP.encode())])
    assert "traceparent" not in event.attributes
    event = binary_event({"traceparent": TRACEPARENT}, extra=[(b"traceparent", HOP.encode())])
    assert event.attributes["traceparent"] == TRACEPARENT


# --- P. Receiver HTTP responses ----------------------------------------------------------


def test_item_88_unsupported_format_maps_to_415_with_a_json_body() -> None:
    with pytest.raises(UnsupportedFormat) as caught:
        parse_http([(b"content-type", b"application/cloudevents+avro")], b"\x00")
    assert caught.value.status == 415
    assert caught.value.to_json()["error"] == "unsupported_format"


def test_item_92_invalid_events_map_to_400_naming_the_attribute() -> None:
    with pytest.raises(InvalidEvent) as caught:
        binary_event({"time": "yesterday"})
    assert caught.value.status == 400
    assert caught.value.to_json() == {
        "error": "invalid_event",
        "detail": caught.value.detail,
        "attribute": "time",
    }


def test_item_92_errors_without_an_attribute_omit_it() -> None:
    with pytest.raises(InvalidEvent) as caught:
        structured_event(b"{")
    assert "attribute" not in caught.value.to_json()


def test_item_92_too_large_maps_to_413() -> None:
    assert PayloadTooLarge("x").status == 413
    assert PayloadTooLarge("x").to_json()["error"] == "payload_too_large"


def test_item_92_error_bodies_always_encode_as_utf8_json() -> None:
    # Regression: a member name holding a lone surrogate went into `attribute`
    # unchanged, and rendering the 400 body raised UnicodeEncodeError (a 500).
    body = b'{"specversion":"1.0","id":"1","source":"/s","type":"t","\\ud800x":1}'
    with pytest.raises(CloudEventError) as caught:
        structured_event(body)
    rendered = json.dumps(caught.value.to_json(), ensure_ascii=False).encode("utf-8")
    assert b"\\\\ud800x" in rendered


def test_item_92_error_bodies_stay_small() -> None:
    name = "X" * 100_000
    with pytest.raises(CloudEventError) as caught:
        structured_event(event_json(**{name: 1}))
    assert len(json.dumps(caught.value.to_json())) < 2000


def test_item_93_events_we_send_have_a_non_empty_payload() -> None:
    event = new_event(type="t", source="/s", data=b'{"id":"1"}')
    assert encode_binary(event)[1]
    assert encode_structured(CloudEvent(REQUIRED))[1]


def test_item_94_a_retry_re_encodes_the_same_id() -> None:
    event = new_event(type="t", source="/s", data=b"{}")
    first, second = encode_binary(event), encode_binary(event)
    assert first == second
    assert dict(first[0])["ce-id"] == event.id
