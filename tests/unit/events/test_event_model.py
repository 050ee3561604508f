"""Checklist A and B (items 1-10): core event model, naming and type system."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from common.events import (
    CloudEvent,
    encode_binary,
    encode_structured,
    format_time,
    new_event,
    parse_http,
    parse_time,
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

# --- A. Core event model -----------------------------------------------------


@pytest.mark.parametrize("missing", ["id", "source", "specversion", "type"])
def test_item_01_missing_required_attribute_is_rejected_in_binary_mode(missing: str) -> None:
    attributes = {k: v for k, v in REQUIRED.items() if k != missing}
    with rejected(400, missing):
        raw_binary(ce_headers(attributes))


@pytest.mark.parametrize("missing", ["id", "source", "specversion", "type"])
def test_item_01_missing_required_attribute_is_rejected_in_structured_mode(missing: str) -> None:
    with rejected(400, missing):
        structured_event(event_json(**{missing: None}))


def test_item_01_optional_and_extension_attributes_are_allowed() -> None:
    event = binary_event({"subject": "s", "time": "2018-04-05T17:31:00Z", "myext": "x"})
    assert event.attributes == {
        **REQUIRED,
        "subject": "s",
        "time": "2018-04-05T17:31:00Z",
        "myext": "x",
    }


def test_item_02_json_event_format_is_supported_both_ways() -> None:
    event = structured_event(event_json(datacontenttype="application/json", data={"a": [1, 2]}))
    assert event.data == b'{"a":[1,2]}'
    _, body = encode_structured(event)
    assert json.loads(body)["data"] == {"a": [1, 2]}


def test_item_03_unknown_extensions_are_kept_for_forwarding() -> None:
    event = binary_event({"someunknownext": "v", "other1": "w"})
    headers, body = encode_binary(event)
    again = raw_binary(as_str_headers(headers), body)
    assert again.extensions == {"someunknownext": "v", "other1": "w"}


def test_item_04_duplicate_ce_header_is_rejected() -> None:
    headers = [*ce_headers(REQUIRED), (b"ce-subject", b"a"), (b"ce-subject", b"b")]
    with rejected(400, "subject"):
        raw_binary(headers)


def test_item_04_duplicate_ce_header_differing_in_case_is_rejected() -> None:
    headers = [*ce_headers(REQUIRED), (b"CE-ID", b"other")]
    with rejected(400, "id"):
        raw_binary(headers)


def test_item_04_duplicate_content_type_is_rejected() -> None:
    headers = [*ce_headers(REQUIRED), (b"content-type", b"text/plain"), (b"Content-Type", b"a/b")]
    with rejected(400, "datacontenttype"):
        raw_binary(headers, b"x")


def test_item_04_repeated_json_member_is_rejected() -> None:
    body = b'{"specversion":"1.0","id":"a","id":"b","source":"/s","type":"t"}'
    with rejected(400):
        structured_event(body)


# --- B. Naming and type system -----------------------------------------------


@pytest.mark.parametrize("name", ["Myext", "my_ext", "my-ext", "my.ext", "\u00e9xt", "ext "])
def test_item_05_names_outside_a_z_0_9_are_rejected_in_json(name: str) -> None:
    with rejected(400):
        structured_event(event_json(**{name: "v"}))


@pytest.mark.parametrize("header", [b"ce-my_ext", b"ce-my.ext", b"ce-\xc3\xa9xt", b"ce-my ext"])
def test_item_05_names_outside_a_z_0_9_are_rejected_in_headers(header: bytes) -> None:
    with rejected(400):
        raw_binary([*ce_headers(REQUIRED), (header, b"v")])


def test_item_05_digits_are_allowed_in_names() -> None:
    assert binary_event({"ext2go": "v", "42": "w"}).extensions == {"ext2go": "v", "42": "w"}


def test_item_06_receiver_accepts_names_longer_than_20() -> None:
    name = "averyveryverylongextensionname"
    assert len(name) > 20
    assert binary_event({name: "v"}).extensions == {name: "v"}


def test_item_06_our_sender_keeps_names_within_20() -> None:
    with pytest.raises(ValueError, match="at most 20"):
        new_event(type="t", source="/s", averyveryverylongextensionname="v")


def test_item_07_empty_name_is_rejected() -> None:
    with rejected(400):
        raw_binary([*ce_headers(REQUIRED), (b"ce-", b"v")])


def test_item_07_data_is_reserved_in_headers() -> None:
    with rejected(400, "data"):
        raw_binary([*ce_headers(REQUIRED), (b"ce-data", b"v")])


def test_item_07_data_base64_is_not_an_attribute_in_binary_mode() -> None:
    with rejected(400):
        raw_binary([*ce_headers(REQUIRED), (b"ce-data_base64", b"AA==")])


def test_item_07_names_starting_with_a_digit_are_accepted_but_not_sent() -> None:
    assert binary_event({"1ext": "v"}).extensions == {"1ext": "v"}
    with pytest.raises(ValueError, match="start with a letter"):
        new_event(type="t", source="/s", **{"1ext": "v"})


@pytest.mark.parametrize("value", [1.5, [1], {"a": 1}, 1e3])
def test_item_08_values_outside_the_type_system_are_rejected(value: object) -> None:
    with rejected(400, "myext"):
        structured_event(event_json(myext=value))


@pytest.mark.parametrize("value", [True, False, 0, -7, "text"])
def test_item_08_boolean_integer_and_string_values_are_accepted(value: object) -> None:
    assert structured_event(event_json(myext=value)).extensions == {"myext": value}


def test_item_09_booleans_are_written_true_false_never_python_form() -> None:
    event = CloudEvent({**REQUIRED, "yes": True, "no": False})
    headers = dict(encode_binary(event)[0])
    assert headers["ce-yes"] == "true"
    assert headers["ce-no"] == "false"
    member = json.loads(encode_structured(event)[1])
    assert member["yes"] is True
    assert member["no"] is False


@pytest.mark.parametrize("value", [-(2**31), 2**31 - 1, 0])
def test_item_09_integers_in_32_bit_range_are_accepted(value: int) -> None:
    event = structured_event(event_json(myint=value))
    assert event.attributes["myint"] == value
    assert dict(encode_binary(event)[0])["ce-myint"] == str(value)


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1, 2**63])
def test_item_09_integers_outside_32_bit_range_are_rejected(value: int) -> None:
    with rejected(400, "myint"):
        structured_event(event_json(myint=value))


@pytest.mark.parametrize(
    "char",
    ["\x00", "\x1f", "\x7f", "\x80", "\x9f", "\ufdd0", "\ufdef", "\ufffe", "\uffff", "\U0010ffff"],
)
def test_item_09_strings_with_forbidden_characters_are_rejected(char: str) -> None:
    with rejected(400, "subject"):
        structured_event(event_json(subject=f"a{char}b"))


def test_item_09_lone_surrogate_in_a_json_string_is_rejected() -> None:
    body = b'{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":"a\\ud800"}'
    with rejected(400, "subject"):
        structured_event(body)


@pytest.mark.parametrize("char", [" ", "\u00a0", "\u20ac", "\U0001f600", "\ufdcf", "\ufff0"])
def test_item_09_other_unicode_is_a_valid_string(char: str) -> None:
    assert structured_event(event_json(subject=f"a{char}b")).subject == f"a{char}b"


def test_item_09_binary_extension_travels_as_base64() -> None:
    event = structured_event(event_json(extbinary="TWE="))
    assert base64.b64decode(str(event.attributes["extbinary"])) == b"Ma"
    assert dict(encode_binary(event)[0])["ce-extbinary"] == "TWE="


def test_item_10_time_converts_both_ways() -> None:
    moment = datetime(2018, 4, 5, 19, 31, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    text = format_time(moment)
    assert text == "2018-04-05T17:31:00.123456Z"
    assert parse_time(text) == moment
    assert parse_time("2018-04-05T18:31:00+01:00") == datetime(2018, 4, 5, 17, 31, tzinfo=UTC)


def test_item_10_time_is_settable_from_an_rfc3339_string() -> None:
    event = new_event(type="t", source="/s", time="2018-04-05T17:31:00Z")
    assert event.attributes["time"] == "2018-04-05T17:31:00Z"
    with pytest.raises(ValueError, match="time"):
        new_event(type="t", source="/s", time="yesterday")


def test_item_10_format_time_pads_the_year_to_four_digits() -> None:
    # Regression: strftime("%Y") gives "999" on glibc, which is not RFC 3339.
    assert format_time(datetime(999, 1, 2, tzinfo=UTC)) == "0999-01-02T00:00:00.000000Z"


def test_item_10_format_time_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2020, 1, 1))


def test_item_10_parse_time_truncates_to_microseconds_and_keeps_leap_seconds() -> None:
    assert parse_time("2018-04-05T17:31:00.123456789Z").microsecond == 123456
    assert parse_time("2016-12-31T23:59:60Z") == datetime(2016, 12, 31, 23, 59, 59, 999999, UTC)


def test_item_10_header_time_is_an_rfc3339_string() -> None:
    event = new_event(type="t", source="/s", time=datetime(2020, 1, 1, tzinfo=UTC))
    headers = dict(encode_binary(event)[0])
    assert headers["ce-time"] == "2020-01-01T00:00:00.000000Z"
    parsed = parse_http(as_str_headers(encode_binary(event)[0]), b"").events[0]
    assert parse_time(str(parsed.attributes["time"])) == datetime(2020, 1, 1, tzinfo=UTC)
