"""Checklist J, K and L (items 55-71): structured mode and the JSON event format."""

from __future__ import annotations

import base64
import json

import pytest

from common.events import CloudEvent, encode_binary, encode_structured, parse_http
from tests.unit.events.support import (
    REQUIRED,
    as_str_headers,
    event_json,
    raw_binary,
    rejected,
    structured_event,
)

# --- J. Structured content mode ------------------------------------------------------


def test_item_55_structured_content_type_is_the_json_format_media_type() -> None:
    headers, _ = encode_structured(CloudEvent(REQUIRED))
    (content_type,) = [value for name, value in headers if name == "content-type"]
    assert content_type.split(";")[0] == "application/cloudevents+json"
    assert structured_event(event_json(), b"application/cloudevents+json; charset=UTF-8").id


def test_item_56_every_attribute_is_in_the_structured_body() -> None:
    event = CloudEvent({**REQUIRED, "subject": "s", "myext": 1, "datacontenttype": "text/plain"})
    headers, body = encode_structured(event)
    assert all(not name.startswith("ce-") for name, _ in headers)
    member = json.loads(body)
    assert {k: member[k] for k in event.attributes} == dict(event.attributes)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff{}",
        b'{"specversion":"1.0","id":"\xc3"}',
        b"",
        b"{",
        b'{"a":1,}',
        b"{'a':1}",
        b'{"specversion":"1.0","id":"1","source":"/s","type":"t","x":NaN}',
        b'{"specversion":"1.0","id":"1","source":"/s","type":"t","data":Infinity}',
        b"\xef\xbb\xbf{}",
        b"[" * 100000 + b"]" * 100000,
    ],
)
def test_item_57_invalid_utf8_or_json_is_400(body: bytes) -> None:
    with rejected(400):
        structured_event(body)


@pytest.mark.parametrize("body", [b"[]", b'"event"', b"1", b"null", b"true"])
def test_item_57_a_structured_body_must_be_an_object(body: bytes) -> None:
    with rejected(400):
        structured_event(body)


def test_item_57_an_array_sent_as_structured_names_the_batch_media_type() -> None:
    with pytest.raises(Exception, match="cloudevents-batch"):
        structured_event(json.dumps([REQUIRED]).encode())


def test_item_57_out_of_range_numbers_are_rejected_not_turned_into_null() -> None:
    # Regression: 1e400 became float inf, which orjson writes as `null`.
    body = b'{"specversion":"1.0","id":"1","source":"/s","type":"t","data":[1e400]}'
    with rejected(400):
        structured_event(body)


# --- K. JSON format: attributes ------------------------------------------------------


def test_item_58_json_types_map_to_attribute_types() -> None:
    event = CloudEvent({**REQUIRED, "flag": True, "count": 10, "text": "10"})
    member = json.loads(encode_structured(event)[1])
    assert (member["flag"], member["count"], member["text"]) == (True, 10, "10")
    with rejected(400, "id"):
        structured_event(event_json(id=25))
    with rejected(400, "id"):
        structured_event(event_json(id={"a": 1}))
    with rejected(400, "count"):
        structured_event(event_json(count=1.5))


def test_item_58_true_is_a_boolean_not_an_integer() -> None:
    event = structured_event(event_json(flag=True, zero=0))
    assert event.attributes["flag"] is True
    assert event.attributes["zero"] == 0
    assert event.attributes["zero"] is not False


def test_item_59_null_attribute_is_unset() -> None:
    event = structured_event(
        event_json(datacontenttype=None, subject=None)
        | {"datacontenttype": None, "dataschema": None, "subject": None, "time": None, "x": None}
    )
    assert event.attributes == REQUIRED


def test_item_59_null_does_not_excuse_a_bad_name() -> None:
    # Regression: `"Bad-Name": null` was skipped before its name was checked.
    with rejected(400, "Bad-Name"):
        structured_event(event_json() | {"Bad-Name": None})


def test_item_59_null_required_attribute_is_missing() -> None:
    with rejected(400, "id"):
        structured_event(event_json() | {"id": None})


def test_item_60_our_structured_output_omits_unset_attributes() -> None:
    member = json.loads(encode_structured(CloudEvent(REQUIRED))[1])
    assert member == REQUIRED
    assert None not in member.values()


def test_item_61_every_attribute_is_a_member_named_after_it() -> None:
    attributes = {**REQUIRED, "time": "2018-04-05T17:31:00Z", "dataschema": "urn:x", "e1": "v"}
    assert json.loads(encode_structured(CloudEvent(attributes))[1]) == attributes


# --- L. JSON format: data ---------------------------------------------------------------


def test_item_62_binary_data_is_written_as_data_base64() -> None:
    event = CloudEvent({**REQUIRED, "datacontenttype": "image/png"}, b"\x89PNG\x00")
    member = json.loads(encode_structured(event)[1])
    assert member["data_base64"] == base64.b64encode(b"\x89PNG\x00").decode()
    assert member["datacontenttype"] == "image/png"
    assert "data" not in member


def test_item_62_binary_data_without_type_omits_datacontenttype() -> None:
    member = json.loads(encode_structured(CloudEvent(REQUIRED, b"\x00\x01"))[1])
    assert "datacontenttype" not in member
    assert member["data_base64"] == "AAE="


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/vnd.api+json", "text/json; charset=utf-8"]
)
def test_item_63_json_data_is_a_json_value_not_a_string(content_type: str) -> None:
    event = CloudEvent({**REQUIRED, "datacontenttype": content_type}, b'{"a": [1, 2]}')
    assert json.loads(encode_structured(event)[1])["data"] == {"a": [1, 2]}


def test_item_63_json_data_keeps_every_digit() -> None:
    # Regression: a 30-digit integer was refused (orjson's 64-bit limit) on the
    # way in and would have been rounded to a float on the way out.
    body = (
        b'{"specversion":"1.0","id":"1","source":"/s","type":"t",'
        b'"data":123456789012345678901234567890}'
    )
    event = structured_event(body)
    assert event.data == b"123456789012345678901234567890"
    assert b'"data":123456789012345678901234567890' in encode_structured(event)[1]


def test_item_64_text_data_is_a_string_in_its_charset() -> None:
    event = CloudEvent(
        {**REQUIRED, "datacontenttype": "text/plain; charset=iso-8859-1"}, b"caf\xe9"
    )
    assert json.loads(encode_structured(event)[1])["data"] == "café"
    xml = CloudEvent({**REQUIRED, "datacontenttype": "text/xml"}, b"<a>\xe2\x82\xac</a>")
    assert json.loads(encode_structured(xml)[1])["data"] == "<a>€</a>"


def test_item_65_data_and_data_base64_are_mutually_exclusive() -> None:
    with rejected(400, "data_base64"):
        structured_event(event_json(data="x", data_base64="eA=="))
    with rejected(400, "data_base64"):
        structured_event(event_json(data_base64="eA==") | {"data": None})


def test_item_65_a_null_data_base64_is_absent() -> None:
    event = structured_event(
        event_json(datacontenttype="text/plain", data="x") | {"data_base64": None}
    )
    assert event.data == b"x"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (None, b"null"),
        (0, b"0"),
        (False, b"false"),
        ("", b'""'),
        ([], b"[]"),
        ({"nested": {"a": [1, 2.5, None]}}, b'{"nested":{"a":[1,2.5,null]}}'),
        ("\u0000\x1f", b'"\\u0000\\u001f"'),
    ],
)
def test_item_66_data_may_be_any_json_value(value: object, encoded: bytes) -> None:
    event = structured_event(event_json(datacontenttype="application/json") | {"data": value})
    assert event.data == encoded


def test_item_66_explicit_null_data_differs_from_absent_data() -> None:
    assert structured_event(event_json() | {"data": None}).data == b"null"
    assert structured_event(event_json()).data is None


def test_item_66_deeply_nested_data_is_kept() -> None:
    # Regression: orjson refuses nesting deeper than 255; valid data was refused.
    depth = 400
    body = json.dumps(event_json(data=None) | {"data": json.loads("[" * depth + "]" * depth)})
    event = structured_event(body.encode())
    assert event.data == b"[" * depth + b"]" * depth


def test_item_66_string_data_rules_are_json_rules_not_attribute_rules() -> None:
    # Control characters are fine in data (JSON escapes them) but not in attributes.
    event = structured_event(event_json(data="tab\there\x00"))
    assert json.loads(event.data or b"") == "tab\there\x00"
    with rejected(400, "subject"):
        structured_event(event_json(subject="tab\there"))


def test_item_66_lone_surrogate_in_data_stays_an_escape() -> None:
    body = b'{"specversion":"1.0","id":"1","source":"/s","type":"t","data":"a\\ud800"}'
    event = structured_event(body)
    assert event.data == b'"a\\ud800"'
    assert structured_event(encode_structured(event)[1]) == event


def test_item_67_data_base64_is_decoded() -> None:
    event = structured_event(
        event_json(datacontenttype="application/octet-stream", data_base64="TWE=")
    )
    assert event.data == b"Ma"


@pytest.mark.parametrize(
    "value", ["TWE", "TW=E", "T WE=", "TWE=\n", "-_8=", "TWE==", "@@@@", "TWF=", 5, ["TWE="]]
)
def test_item_67_invalid_base64_is_400(value: object) -> None:
    with rejected(400, "data_base64"):
        structured_event(event_json(data_base64=value))


def test_item_67_non_canonical_padding_bits_are_rejected() -> None:
    # Regression: "TWF=" decoded to b"Ma" like the canonical "TWE=".
    with rejected(400, "data_base64"):
        structured_event(event_json(data_base64="TWF="))


def test_item_67_data_base64_without_type_is_not_assumed_json() -> None:
    event = structured_event(event_json(data_base64=base64.b64encode(b'{"a":1}').decode()))
    assert event.datacontenttype is None
    assert event.data == b'{"a":1}'


def test_item_68_string_data_is_never_parsed_again() -> None:
    event = structured_event(event_json(datacontenttype="application/json", data='{"a":1}'))
    assert event.data == b'"{\\"a\\":1}"'
    assert json.loads(event.data) == '{"a":1}'


def test_item_69_non_json_type_needs_string_data() -> None:
    with rejected(400, "data"):
        structured_event(event_json(datacontenttype="text/plain", data={"a": 1}))
    with rejected(400, "data"):
        structured_event(event_json(datacontenttype="application/xml", data=5))


def test_item_69_unknown_charset_for_string_data_is_rejected() -> None:
    # Regression: an unknown charset was silently replaced by UTF-8.
    with rejected(400, "datacontenttype"):
        structured_event(event_json(datacontenttype="text/plain; charset=x-nope", data="hi"))


def test_item_69_string_data_not_encodable_in_charset_is_rejected() -> None:
    with rejected(400, "data"):
        structured_event(event_json(datacontenttype="text/plain; charset=us-ascii", data="é"))


def test_item_70_json_string_data_becomes_a_quoted_binary_body() -> None:
    event = structured_event(event_json(data="I'm just a string"))
    headers, body = encode_binary(event)
    assert body == b'"I\'m just a string"'
    assert ("content-type", "application/json") in headers


def test_item_71_structured_to_binary_conversions() -> None:
    as_json = structured_event(event_json(datacontenttype="application/json", data={"a": 1}))
    assert encode_binary(as_json)[1] == b'{"a":1}'
    as_base64 = structured_event(event_json(datacontenttype="image/png", data_base64="AAE="))
    assert encode_binary(as_base64)[1] == b"\x00\x01"
    as_text = structured_event(event_json(datacontenttype="text/plain; charset=latin-1", data="é"))
    assert encode_binary(as_text)[1] == b"\xe9"


def test_item_71_text_is_never_transcoded_on_the_way_through() -> None:
    # Regression: UTF-16 with a big-endian BOM decoded to text and came back
    # little-endian (Python's utf-16 encoder writes the native byte order).
    data = b"\xfe\xff\x00h\x00i"
    event = CloudEvent({**REQUIRED, "datacontenttype": "text/plain; charset=utf-16"}, data)
    headers, body = encode_structured(event)
    assert parse_http(as_str_headers(headers), body).events == [event]
    binary_headers, binary_body = encode_binary(event)
    assert raw_binary(as_str_headers(binary_headers), binary_body).data == data


def test_item_71_invalid_json_bytes_under_a_json_type_go_as_base64() -> None:
    event = CloudEvent({**REQUIRED, "datacontenttype": "application/json"}, b"{not json")
    member = json.loads(encode_structured(event)[1])
    assert member["data_base64"] == base64.b64encode(b"{not json").decode()
    assert structured_event(member) == event


def test_item_71_json_bytes_our_receiver_would_refuse_go_as_base64() -> None:
    # Repeated member names are valid for orjson but refused by our receiver.
    event = CloudEvent({**REQUIRED, "datacontenttype": "application/json"}, b'{"a":1,"a":2}')
    member = json.loads(encode_structured(event)[1])
    assert "data_base64" in member
    assert structured_event(member) == event
