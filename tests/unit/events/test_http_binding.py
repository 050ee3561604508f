"""Checklist F, G, H and I (items 30-54): data and size, content modes, binary
mode, and header value encoding."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client import REGISTRY

from common.events import (
    CloudEvent,
    CloudEventError,
    ContentMode,
    encode_binary,
    encode_structured,
    parse_http,
)
from common.events.headers import decode_header_value, encode_header_value
from tests.unit.events.support import (
    BATCH,
    REQUIRED,
    STRUCTURED,
    as_str_headers,
    binary_event,
    ce_headers,
    event_json,
    raw_binary,
    rejected,
    structured_body,
    structured_event,
)

KIB_64 = 64 * 1024

# --- F. Event data and size -----------------------------------------------------


def test_item_30_data_is_optional_and_follows_datacontenttype() -> None:
    assert binary_event().data is None
    event = binary_event({"dataschema": "https://x.example/s"}, b"<a/>", b"application/xml")
    assert (event.data, event.datacontenttype) == (b"<a/>", "application/xml")


def test_item_31_a_64_kib_event_is_accepted_in_every_mode() -> None:
    payload = "x" * (KIB_64 - 200)
    binary = binary_event(body=payload.encode(), content_type=b"text/plain")
    assert binary.data == payload.encode()
    structured = structured_event(event_json(datacontenttype="text/plain", data=payload))
    assert structured.data == payload.encode()
    big_header = binary_event({"bigext": "y" * 8000})
    assert len(str(big_header.attributes["bigext"])) == 8000


def test_item_32_forwarding_keeps_a_64_kib_event_intact() -> None:
    body = bytes(range(256)) * (KIB_64 // 256)
    event = binary_event(body=body, content_type=b"application/octet-stream")
    headers, forwarded = encode_binary(event)
    assert raw_binary(as_str_headers(headers), forwarded) == event
    structured_headers, structured = encode_structured(event)
    assert parse_http(as_str_headers(structured_headers), structured).events == [event]


def test_item_33_errors_do_not_echo_attribute_values() -> None:
    secret = "hunter2-secret"
    for attributes in ({"token": secret + "%FF"}, {"time": secret}, {"token": secret + "%C0%A0"}):
        with pytest.raises(CloudEventError) as caught:
            binary_event(attributes)
        assert secret not in json.dumps(caught.value.to_json())


def test_item_34_too_many_events_in_a_batch_is_413() -> None:
    body = json.dumps([REQUIRED] * 3).encode()
    with rejected(413):
        parse_http([(b"content-type", BATCH)], body, max_batch=2)


# --- G. Content-mode detection ----------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "mode"),
    [
        (b"application/cloudevents-batch+json", ContentMode.BATCH),
        (b"Application/CloudEvents-Batch+JSON; charset=utf-8", ContentMode.BATCH),
        (b"application/cloudevents+json", ContentMode.STRUCTURED),
        (b"APPLICATION/CLOUDEVENTS+JSON ; charset=UTF-8", ContentMode.STRUCTURED),
        (b"  application/cloudevents+json", ContentMode.STRUCTURED),
        (b"application/json", ContentMode.BINARY),
        (b"text/plain", ContentMode.BINARY),
        (None, ContentMode.BINARY),
    ],
)
def test_item_35_mode_comes_from_content_type_only(
    content_type: bytes | None, mode: ContentMode
) -> None:
    member = [REQUIRED] if mode is ContentMode.BATCH else REQUIRED
    headers = ce_headers(REQUIRED)  # present in every case; they decide nothing
    if content_type is not None:
        headers.append((b"content-type", content_type))
    assert parse_http(headers, structured_body(member) if mode != "binary" else b"").mode == mode


def test_item_36_ce_headers_do_not_make_a_structured_message_binary() -> None:
    headers = [*ce_headers({**REQUIRED, "id": "from-header"}), (b"content-type", STRUCTURED)]
    message = parse_http(headers, structured_body(event_json(id="from-body")))
    assert message.mode == ContentMode.STRUCTURED
    assert message.events[0].id == "from-body"


def test_item_36_body_is_authoritative_even_when_headers_carry_the_attribute() -> None:
    headers = [*ce_headers(REQUIRED), (b"content-type", STRUCTURED)]
    with rejected(400, "id"):
        parse_http(headers, structured_body(event_json(id=None)))


def test_item_36_datacontenttype_member_wins_over_the_content_type_header() -> None:
    event = structured_event(
        event_json(datacontenttype="text/plain", data="hi"),
        content_type=b"application/cloudevents+json; charset=utf-8",
    )
    assert event.datacontenttype == "text/plain"
    assert structured_event(event_json()).datacontenttype is None


@pytest.mark.parametrize(
    "content_type",
    [
        b"application/cloudevents+avro",
        b"application/cloudevents+protobuf",
        b"application/cloudevents-batch+avro",
        b"application/cloudevents",
        b"application/cloudevents-batch",
        b"application/cloudeventsx+json",
    ],
)
def test_item_37_unsupported_cloudevents_format_is_415(content_type: bytes) -> None:
    with rejected(415):
        parse_http([(b"content-type", content_type)], b"{}")


def test_item_38_binary_without_cloudevents_type_needs_every_required_header() -> None:
    assert binary_event(body=b"{}", content_type=b"application/json").id == "evt-1"
    with rejected(400, "type"):
        raw_binary(ce_headers({k: v for k, v in REQUIRED.items() if k != "type"}), b"{}")


def test_item_38_no_ce_headers_and_no_cloudevents_type_is_not_an_event() -> None:
    with rejected(400):
        parse_http([(b"content-type", b"application/json")], b'{"a":1}')
    with rejected(400):
        parse_http([], b"")


def test_item_39_both_structured_and_binary_modes_round_trip() -> None:
    event = CloudEvent({**REQUIRED, "datacontenttype": "application/json"}, b'{"a":1}')
    for encode in (encode_binary, encode_structured):
        headers, body = encode(event)
        assert parse_http(as_str_headers(headers), body).events == [event]


def test_item_40_a_response_parses_like_a_request() -> None:
    event = CloudEvent({**REQUIRED, "datacontenttype": "text/plain"}, b"reply")
    headers, body = encode_binary(event)
    response = httpx.Response(200, headers=headers, content=body)
    assert parse_http(response.headers.raw, response.content).events == [event]


# --- H. Binary content mode ---------------------------------------------------------


def test_item_41_content_type_is_datacontenttype_both_ways() -> None:
    event = binary_event(body=b"hi", content_type=b"text/plain; charset=us-ascii")
    assert event.datacontenttype == "text/plain; charset=us-ascii"
    headers, _ = encode_binary(event)
    assert ("content-type", "text/plain; charset=us-ascii") in headers


def test_item_41_an_empty_content_type_is_an_empty_datacontenttype() -> None:
    # Regression: an empty header was treated like a missing one.
    with rejected(400, "datacontenttype"):
        binary_event(body=b"x", content_type=b"")


def test_item_41_invalid_content_type_is_rejected_in_binary_mode() -> None:
    with rejected(400, "datacontenttype"):
        binary_event(body=b"x", content_type=b"xyz")
    # Regression: str.strip() removed U+0085 (NEL), so this was accepted.
    with rejected(400, "datacontenttype"):
        binary_event(body=b"x", content_type=b"text/plain\x85")


def test_item_42_ce_datacontenttype_header_is_rejected() -> None:
    with rejected(400, "datacontenttype"):
        binary_event({"datacontenttype": "text/plain"}, b"x", b"text/plain")


def test_item_42_encoder_never_writes_ce_datacontenttype() -> None:
    event = CloudEvent({**REQUIRED, "datacontenttype": "text/plain"}, b"x")
    names = [name for name, _ in encode_binary(event)[0]]
    assert "ce-datacontenttype" not in names
    assert names.count("content-type") == 1


@pytest.mark.parametrize(
    "body", [b"\xff\xfe\x00binary", b'{ "a" : 1 }\n', b"\xef\xbb\xbf{}", b"  ", b"\x00"]
)
def test_item_43_body_is_the_data_byte_sequence_exactly(body: bytes) -> None:
    event = binary_event(body=body, content_type=b"application/json")
    assert event.data == body
    assert encode_binary(event)[1] == body


def test_item_44_every_attribute_gets_its_own_ce_header() -> None:
    attributes = {**REQUIRED, "subject": "s", "time": "2018-04-05T17:31:00Z", "myext": 3}
    headers = dict(encode_binary(CloudEvent(attributes))[0])
    assert headers == {f"ce-{k}": str(v) for k, v in attributes.items()}


@pytest.mark.parametrize("name", [b"CE-ID", b"Ce-Id", b"ce-ID", b"cE-iD"])
def test_item_45_header_names_are_case_insensitive(name: bytes) -> None:
    others = ce_headers({k: v for k, v in REQUIRED.items() if k != "id"})
    assert raw_binary([*others, (name, b"abc")]).id == "abc"


def test_item_45_extension_names_are_lower_cased() -> None:
    assert binary_event(extra=[(b"CE-MyExt", b"v")]).extensions == {"myext": "v"}


def test_item_46_traceparent_extension_is_also_a_ce_header() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    event = CloudEvent({**REQUIRED, "traceparent": traceparent})
    assert ("ce-traceparent", traceparent) in encode_binary(event)[0]


def test_item_47_no_content_type_and_no_body_means_no_data() -> None:
    event = binary_event()
    assert (event.data, event.datacontenttype) == (None, None)


def test_item_47_no_content_type_with_a_body_is_opaque_bytes() -> None:
    event = binary_event(body=b'{"looks": "like json"}')
    assert (event.data, event.datacontenttype) == (b'{"looks": "like json"}', None)
    assert all(name != "content-type" for name, _ in encode_binary(event)[0])


def test_item_47_opaque_bytes_go_as_data_base64_without_a_type() -> None:
    # Regression: JSON-looking opaque bytes were written as a JSON `data` value,
    # which tells the next receiver they are JSON (item 18).
    event = binary_event(body=b'{"looks":"like json"}')
    member = json.loads(encode_structured(event)[1])
    assert "data" not in member
    assert "datacontenttype" not in member
    assert member["data_base64"] == "eyJsb29rcyI6Imxpa2UganNvbiJ9"
    assert structured_event(member) == event


# --- I. Header value encoding ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"), [(True, "true"), (False, "false"), (-5, "-5"), (0, "0"), ("s", "s")]
)
def test_item_48_header_value_is_the_canonical_string(value: str | int | bool, text: str) -> None:
    assert encode_header_value(value) == text


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("a b", "a%20b"),
        ('a"b', "a%22b"),
        ("100%", "100%25"),
        ("tab\there", "tab%09here"),
        ("é", "%C3%A9"),
        ("\x7f", "%7F"),
        ("!#$&'()*+,/:;=?@[]~", "!#$&'()*+,/:;=?@[]~"),
    ],
)
def test_item_49_required_characters_are_percent_encoded(value: str, encoded: str) -> None:
    assert encode_header_value(value) == encoded
    assert decode_header_value("x", encoded.encode()) == value


def test_item_50_upper_case_hex_and_the_spec_example() -> None:
    assert encode_header_value("Euro € 😀") == "Euro%20%E2%82%AC%20%F0%9F%98%80"
    event = CloudEvent({**REQUIRED, "subject": "Euro € 😀"})
    headers, _ = encode_binary(event)
    assert raw_binary(as_str_headers(headers)).subject == "Euro € 😀"


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b'"a b"', "a b"),
        (b'"a\\"b"', 'a"b'),
        (b'"a\\\\b"', "a\\b"),
        (b'"%41"', "A"),
        (b'""', ""),
        (b'"Euro%20%E2%82%AC"', "Euro €"),
    ],
)
def test_item_51_quoted_strings_are_unquoted_then_percent_decoded(raw: bytes, value: str) -> None:
    assert decode_header_value("x", raw) == value


@pytest.mark.parametrize("raw", [b'"abc\\"', b'"a"b"', b'"abc', b'"\\', b'"a\x01b"', b'"'])
def test_item_51_malformed_quoted_strings_are_rejected(raw: bytes) -> None:
    # Regression: these were stripped of their outer quotes and accepted.
    with rejected(400, "subject"):
        raw_binary([*ce_headers(REQUIRED), (b"ce-subject", raw)])


def test_item_51_surrounding_whitespace_is_not_part_of_the_value() -> None:
    # Regression: " abc " kept its spaces (RFC 7230 §3.2 excludes OWS).
    assert binary_event(extra=[(b"ce-myext", b" \tabc ")]).extensions == {"myext": "abc"}
    assert binary_event(extra=[(b"ce-myext", b' "a b" ')]).extensions == {"myext": "a b"}


@pytest.mark.parametrize(
    ("raw", "value"), [(b"%c3%a9", "é"), (b"%41%42C", "ABC"), (b"%2d", "-"), (b"%e2%82%AC", "€")]
)
def test_item_52_lower_case_and_unnecessary_encoding_are_accepted(raw: bytes, value: str) -> None:
    assert decode_header_value("x", raw) == value


@pytest.mark.parametrize(
    "raw",
    [b"%C0%A0", b"%ED%A0%80", b"%FF", b"%E2%82", b"\xc3", b"\xc0\xa0", b"%F4%90%80%80"],
)
def test_item_53_invalid_utf8_is_rejected(raw: bytes) -> None:
    with rejected(400, "subject"):
        raw_binary([*ce_headers(REQUIRED), (b"ce-subject", raw)])


def test_item_53_raw_utf8_is_accepted_from_lenient_senders() -> None:
    assert binary_event(extra=[(b"ce-subject", "é".encode())]).subject == "é"


@pytest.mark.parametrize("raw", [b"%00", b"a%0Ab", b"%7F", b"%C2%80", b"%EF%BF%BE", b"%EF%B7%90"])
def test_item_54_decoded_values_follow_the_string_rules(raw: bytes) -> None:
    with rejected(400, "subject"):
        raw_binary([*ce_headers(REQUIRED), (b"ce-subject", raw)])


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"%4", "%4"),
        (b"%ZZ", "%ZZ"),
        (b"%", "%"),
        (b"a%", "a%"),
        (b"%%41", "%A"),
        (b"%G0", "%G0"),
        (b"a b%c", "a b%c"),  # what the JavaScript SDK 10 sends for `a b%c`
        (b"100%", "100%"),
    ],
)
def test_item_54_a_percent_without_two_hex_digits_is_kept_as_text_and_counted(
    raw: bytes, value: str
) -> None:
    before = REGISTRY.get_sample_value("cloudevents_header_literal_percent_total") or 0.0

    assert raw_binary([*ce_headers(REQUIRED), (b"ce-subject", raw)]).subject == value
    assert REGISTRY.get_sample_value("cloudevents_header_literal_percent_total") == before + 1


@pytest.mark.parametrize("raw", [b"%C0%A0", b"a%zz%FF", b"%ED%A0%80%", b"%4%00"])
def test_item_54_what_the_spec_defines_stays_strict_beside_a_literal_percent(
    raw: bytes,
) -> None:
    with rejected(400, "subject"):
        raw_binary([*ce_headers(REQUIRED), (b"ce-subject", raw)])


def test_item_54_exactly_one_round_of_decoding() -> None:
    assert decode_header_value("x", b"%2541") == "%41"
    assert binary_event(extra=[(b"ce-subject", b"%2541")]).subject == "%41"
