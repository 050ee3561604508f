"""Checklist C, D and E (items 11-29): required, optional and extension attributes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from common.events import encode_binary, encode_structured, new_event
from common.events.attributes import MAX_NAME_LENGTH, MAX_VALUE_LENGTH
from common.events.headers import encode_header_value
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

# --- C. REQUIRED attributes ---------------------------------------------------


def test_item_11_empty_id_is_rejected() -> None:
    with rejected(400, "id"):
        binary_event({"id": ""})
    with rejected(400, "id"):
        structured_event(event_json(id=""))


@pytest.mark.parametrize("value", [25, {"a": 1}, True])
def test_item_11_non_string_id_is_rejected(value: object) -> None:
    with rejected(400, "id"):
        structured_event(event_json(id=value))


def test_item_12_new_events_get_unique_ids_and_a_given_id_is_kept() -> None:
    ids = {new_event(type="t", source="/s").id for _ in range(100)}
    assert len(ids) == 100
    event = new_event(type="t", source="/s", id="retry-me")
    # A retry re-encodes the same event: the id travels unchanged every time.
    assert dict(encode_binary(event)[0])["ce-id"] == dict(encode_binary(event)[0])["ce-id"]
    assert dict(encode_binary(event)[0])["ce-id"] == "retry-me"


def test_item_12_an_empty_id_is_not_silently_replaced() -> None:
    # Regression: `id or uuid4()` turned an explicit "" into a fresh id.
    with pytest.raises(ValueError, match="id"):
        new_event(type="t", source="/s", id="")


def test_item_13_source_and_id_identify_duplicates() -> None:
    first = binary_event({"id": "same", "source": "https://a.example"})
    again = structured_event(event_json(id="same", source="https://a.example"))
    assert (first.source, first.id) == (again.source, again.id)
    assert first == again


@pytest.mark.parametrize(
    "source",
    [
        "https://cloudevents.io",
        "/mycontext/subcontext",
        "#fragment",
        "1-555-123-4567",
        "//authority/path",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "mailto:a@example.com",
        "http://[::1]:8080/x?y=1#z",
        "http://[v1.fe80::a+en1]/",
        "file:///etc/hosts",
        "a/b:c",
        "?query",
        "%41b",
        ".",
    ],
)
def test_item_14_source_accepts_uri_references(source: str) -> None:
    assert binary_event({"source": encode_header_value(source)}).source == source
    assert structured_event(event_json(source=source)).source == source


@pytest.mark.parametrize(
    "source",
    [
        "",
        "a b",
        "a#b#c",
        "http://[::1",
        "http://[zz::1]/",
        "1:x",
        "%zz",
        "a\\b",
        "<x>",
        "a{b}",
        "é",
    ],
)
def test_item_14_source_rejects_what_is_not_a_uri_reference(source: str) -> None:
    with rejected(400, "source"):
        structured_event(event_json(source=source))


@pytest.mark.parametrize("value", ["1.0.2", "1", "1.0 ", "v1.0", "0.3", ""])
def test_item_15_specversion_must_be_exactly_1_0(value: str) -> None:
    with rejected(400, "specversion"):
        structured_event(event_json(specversion=value))
    if value != "1.0 ":  # in a header, surrounding whitespace is not part of the value
        with rejected(400, "specversion"):
            binary_event({"specversion": value})


def test_item_15_specversion_number_is_not_the_string() -> None:
    with rejected(400, "specversion"):
        structured_event(b'{"specversion":1.0,"id":"1","source":"/s","type":"t"}')


def test_item_16_type_must_be_a_non_empty_string() -> None:
    with rejected(400, "type"):
        binary_event({"type": ""})
    with rejected(400, "type"):
        structured_event(event_json(type=7))


# --- D. OPTIONAL attributes ---------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["text/plain", "application/json; charset=utf-8", 'text/plain; charset="utf-8"', "a/b+c"],
)
def test_item_17_datacontenttype_accepts_rfc2046_media_types(value: str) -> None:
    assert structured_event(event_json(datacontenttype=value)).datacontenttype == value


@pytest.mark.parametrize("value", ["", "xyz", "text/", "/plain", "text/plain; charset", "a b/c"])
def test_item_17_datacontenttype_rejects_non_media_types(value: str) -> None:
    with rejected(400, "datacontenttype"):
        structured_event(event_json(datacontenttype=value))


@pytest.mark.parametrize(
    "value",
    ['text/plain; a="\u20ac"', 'text/plain; a="\u00e9"', 'text/plain; a="\x7f"', "t\u00e9xt/plain"],
)
def test_item_17_datacontenttype_is_ascii_so_it_fits_a_content_type_header(value: str) -> None:
    # Regression: a quoted parameter took any character, so such an event was
    # accepted and then could not be forwarded in binary mode (httpx raised).
    with rejected(400, "datacontenttype"):
        structured_event(event_json(datacontenttype=value))
    with rejected(400, "datacontenttype"):
        binary_event(body=b"x", content_type=value.encode("utf-8"))


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("datacontenttype", "a/b" + " " * 200_000 + "x"),
        ("datacontenttype", "a/b" + "; a=b" * 40_000 + ";;"),
        ("datacontenttype", 'a/b; a="' + "\\a" * 100_000),
        ("source", "/" + "a/" * 100_000 + " "),
        ("source", "http://" + "a" * 200_000 + "@@"),
        ("dataschema", "h:" + "?" * 200_000 + "#"),
        ("time", "2018-04-05T17:31:00." + "1" * 200_000 + "X"),
    ],
)
def test_item_17_validation_takes_linear_time(attribute: str, value: str) -> None:
    # Regression: `[ \t]*;?[ \t]*` in the media-type pattern backtracked
    # quadratically; 200 000 spaces took minutes (a 1 MiB body, hours).
    started = time.perf_counter()
    with rejected(400, attribute):
        structured_event(event_json(**{attribute: value}))
    assert time.perf_counter() - started < 2.0


def test_item_18_missing_datacontenttype_is_application_json() -> None:
    implicit = structured_event(event_json(data={"a": 1}))
    explicit = structured_event(event_json(datacontenttype="application/json", data={"a": 1}))
    assert implicit == explicit


def test_item_19_translation_to_binary_sets_the_implied_content_type() -> None:
    # Regression: the binary message had no Content-Type, so its JSON body
    # became opaque bytes for the next receiver (item 47).
    event = structured_event(event_json(data={"a": 1}))
    headers, body = encode_binary(event)
    assert ("content-type", "application/json") in headers
    assert raw_binary(as_str_headers(headers), body).datacontenttype == "application/json"


def test_item_19_data_base64_without_type_stays_without_type() -> None:
    event = structured_event(event_json(data_base64="AAEC"))
    assert event.datacontenttype is None
    assert all(name != "content-type" for name, _ in encode_binary(event)[0])


def test_item_20_media_type_and_parameter_names_are_case_insensitive() -> None:
    event = structured_event(event_json(datacontenttype="TEXT/Plain; CharSet=ISO-8859-1", data="é"))
    assert event.data == b"\xe9"
    assert event.datacontenttype == "TEXT/Plain; CharSet=ISO-8859-1"  # kept as received
    json_event = structured_event(event_json(datacontenttype="Application/JSON", data={"a": 1}))
    assert json_event.data == b'{"a":1}'


def test_item_20_datacontenttype_may_appear_without_data() -> None:
    event = structured_event(event_json(datacontenttype="text/plain"))
    assert event.datacontenttype == "text/plain"
    assert event.data is None


@pytest.mark.parametrize(
    "value", ["https://cloudevents.io/dataschema", "urn:example:schema", "http://[::1]/s?v=2"]
)
def test_item_21_dataschema_accepts_absolute_uris(value: str) -> None:
    assert structured_event(event_json(dataschema=value)).attributes["dataschema"] == value


@pytest.mark.parametrize(
    "value", ["", "/relative", "//host/x", "#frag", "https://x/s.json#/defs/a", "https://a b"]
)
def test_item_21_dataschema_rejects_what_is_not_an_absolute_uri(value: str) -> None:
    # absolute-URI (RFC 3986 §4.3) has no fragment, so `#/defs/a` is refused too.
    with rejected(400, "dataschema"):
        structured_event(event_json(dataschema=value))
    with rejected(400, "dataschema"):
        binary_event({"dataschema": value})


def test_item_22_subject_must_be_a_non_empty_string() -> None:
    with rejected(400, "subject"):
        binary_event({"subject": ""})
    with rejected(400, "subject"):
        structured_event(event_json(subject=5))


@pytest.mark.parametrize(
    "value",
    [
        "2018-04-05T17:31:00Z",
        "2018-04-05t17:31:00z",
        "2018-04-05T17:31:00.000000000Z",
        "2018-04-05T18:31:00+01:00",
        "2018-04-05T16:31:00-01:00",
        "2018-04-05T17:31:00-00:00",
        "2018-04-05T17:31:00+23:59",
        "2016-12-31T23:59:60Z",
        "2024-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_item_23_time_accepts_rfc3339(value: str) -> None:
    assert binary_event({"time": value}).attributes["time"] == value
    assert structured_event(event_json(time=value)).attributes["time"] == value


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "2018-04-05T17:31Z",
        "2018-04-05T17:31:00X",
        "2018-04-05T17:31:00+25:00",
        "2018-04-05T17:31:00+24:00",
        "2018-04-05T17:31:00+01:60",
        "2018-04-05T17:31:00+0a:00",
        "2018-04-05T17:31:00+05",
        "2018-04-05T17:31:00",
        "2018-04-05 17:31:00Z",
        "2018-04-05T24:00:00Z",
        "2018-04-05T17:60:00Z",
        "2018-04-05T17:31:61Z",
        "2018-13-05T17:31:00Z",
        "2018-00-05T17:31:00Z",
        "2018-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2018-04-31T00:00:00Z",
        "2018-04-05T17:31:00.Z",
        "18-04-05T17:31:00Z",
        "+2018-04-05T17:31:00Z",
        "2018-04-05T17:31:00Z\n",
        "\u0662\u0660\u0661\u0668-04-05T17:31:00Z",
        "2018-04-05T17:31:00\uff0b01:00",
    ],
)
def test_item_23_time_rejects_non_rfc3339(value: str) -> None:
    with rejected(400, "time"):
        structured_event(event_json(time=value))


def test_item_23_time_with_non_ascii_digits_is_rejected_in_binary_mode() -> None:
    # Regression: `\d` matched Arabic-Indic digits, so this was accepted.
    with rejected(400, "time"):
        raw_binary([*ce_headers(REQUIRED), (b"ce-time", "٢٠١٨-04-05T17:31:00Z".encode())])


def test_item_23_year_0000_is_valid_rfc3339() -> None:
    # Regression: `datetime` cannot hold year 0, so a valid timestamp was refused.
    assert binary_event({"time": "0000-03-01T00:00:00Z"}).attributes["time"] == (
        "0000-03-01T00:00:00Z"
    )


def test_item_24_our_sender_stamps_time_consistently_in_utc() -> None:
    before = datetime.now(UTC)
    event = new_event(type="t", source="/s")
    time = str(event.attributes["time"])
    assert time.endswith("Z")
    assert before.strftime("%Y-%m-%dT%H") <= time[:13]


def test_item_25_receiver_never_fabricates_id_or_time() -> None:
    event = binary_event()
    assert event.attributes == REQUIRED
    assert "time" not in structured_event(event_json()).attributes
    with rejected(400, "id"):
        structured_event(event_json(id=None))


def test_item_25_null_time_stays_absent() -> None:
    assert "time" not in structured_event(event_json(time=None) | {"time": None}).attributes


# --- E. Extension attributes ----------------------------------------------------


def test_item_26_extensions_follow_the_naming_and_type_rules() -> None:
    with rejected(400, "MyExt"):
        structured_event(event_json(MyExt="v"))
    with rejected(400, "myext"):
        structured_event(event_json(myext=2**40))
    with rejected(400, "myext"):
        structured_event(event_json(myext="a\x00b"))
    with rejected(400, "myext"):
        binary_event({"myext": "a%00b"})


def test_item_27_extensions_are_top_level_json_members() -> None:
    with rejected(400, "extensions"):
        structured_event(event_json(extensions={"myext": "v"}))
    event = binary_event({"myext": "v"})
    member = json.loads(encode_structured(event)[1])
    assert member["myext"] == "v"
    assert "extensions" not in member


def test_item_28_other_http_headers_are_not_attributes() -> None:
    extra = [(b"user-agent", b"foo"), (b"x-request-id", b"r1"), (b"traceparent", b"00-x")]
    event = binary_event(extra=extra)
    assert event.attributes == REQUIRED


def test_item_29_binary_mode_extensions_arrive_as_strings() -> None:
    binary = binary_event({"count": "5", "flag": "true"})
    structured = structured_event(event_json(count=5, flag=True))
    assert binary.extensions == {"count": "5", "flag": "true"}
    assert structured.extensions == {"count": 5, "flag": True}
    # Both encode to the same header text.
    assert dict(encode_binary(binary)[0]) == dict(encode_binary(structured)[0])


# --- Length limits of this receiver (the spec sets none) ------------------------------


@pytest.mark.parametrize("name", ["type", "source", "subject", "id", "myext"])
def test_an_attribute_value_is_at_most_8192_characters_in_every_mode(name: str) -> None:
    value = "/" + "a" * (MAX_VALUE_LENGTH - 1)
    assert binary_event({name: value}).attributes[name] == value
    assert structured_event(event_json(**{name: value})).attributes[name] == value

    longer = value + "a"
    with rejected(400, name):
        binary_event({name: longer})
    with rejected(400, name):
        structured_event(event_json(**{name: longer}))


def test_an_attribute_name_is_at_most_128_characters() -> None:
    assert binary_event({"a" * MAX_NAME_LENGTH: "v"}).attributes["a" * MAX_NAME_LENGTH] == "v"
    with rejected(400):
        binary_event({"a" * (MAX_NAME_LENGTH + 1): "v"})
    with rejected(400):
        structured_event({**REQUIRED, "a" * (MAX_NAME_LENGTH + 1): None})  # even when null


def test_our_sender_refuses_an_attribute_value_no_receiver_of_ours_accepts() -> None:
    with pytest.raises(ValueError, match="8192"):
        encode_binary(new_event(type="t" * (MAX_VALUE_LENGTH + 1), source="/s"))
