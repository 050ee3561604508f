"""The CloudEvents JSON event format and JSON batch format (items 57-78)."""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import math
from typing import Any

import orjson

from common.events.attributes import check_attributes, check_name
from common.events.errors import InvalidEvent
from common.events.model import AttributeValue, CloudEvent

_JSON_MEMBERS_NOT_ATTRIBUTES = frozenset({"data", "data_base64"})
IMPLIED_JSON = "application/json"


def media_type(content_type: str) -> str:
    """The `type/subtype` part, lower-cased (item 20: case-insensitive)."""
    return content_type.split(";", 1)[0].strip(" \t").lower()


def is_json_content_type(content_type: str | None) -> bool:
    """Item 63: absent, `*/json` or `*/*+json` means the data is a JSON value."""
    if content_type is None:
        return True
    mtype = media_type(content_type)
    return mtype.endswith("/json") or mtype.endswith("+json")


def charset_of(content_type: str) -> str | None:
    """The `charset` parameter (default UTF-8) as a Python codec name; None when
    Python does not know the charset. Parameter names are case-insensitive (item 20)."""
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                return None
    return "utf-8"


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Item 4: an attribute appears at most once; a JSON object with a repeated
    # member name is ambiguous, so it is rejected wherever it occurs.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise InvalidEvent("JSON object has a repeated member name")
    return result


def _reject_constant(name: str) -> None:
    raise InvalidEvent(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # `1e400` is valid JSON syntax but no double holds it; Python would make it
    # `inf`, which serializes back as `null` (orjson) or `Infinity` (not JSON).
    value = float(text)
    if not math.isfinite(value):
        raise InvalidEvent(f"number {text[:40]} is out of range")
    return value


# One decoder for every call: json.loads with hooks would build a new one each time.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_members,
    parse_constant=_reject_constant,
    parse_float=_finite_float,
)


def loads_strict(body: bytes) -> Any:
    """Item 57: strict UTF-8 JSON, no NaN/Infinity, no repeated member names."""
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidEvent("body is not valid UTF-8") from exc
    except RecursionError as exc:
        raise InvalidEvent("JSON nested too deeply") from exc
    except ValueError as exc:
        raise InvalidEvent(f"body is not valid JSON: {exc}") from exc


def dumps_json_value(value: Any) -> bytes:
    """The compact JSON serialization of a parsed JSON value.

    orjson is fast but refuses integers beyond 64 bits and nesting deeper than
    255; any JSON number is valid data (item 66), so those take the slow path.
    A lone surrogate (a JSON `\\ud800` escape) stays an escape."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        pass
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidEvent(f"data cannot be encoded as JSON: {exc}", "data") from exc


def _data_bytes(value: Any, content_type: str | None) -> bytes:
    if is_json_content_type(content_type):
        # Item 68: the value is used as is; a string is never parsed again.
        return dumps_json_value(value)
    if not isinstance(value, str):
        # Item 69: for a non-JSON type the data must be an encoded content string.
        raise InvalidEvent("data must be a string when datacontenttype is not JSON", "data")
    assert content_type is not None
    charset = charset_of(content_type)
    if charset is None:
        raise InvalidEvent("datacontenttype names an unknown charset", "datacontenttype")
    try:
        return value.encode(charset)
    except UnicodeEncodeError as exc:
        raise InvalidEvent("data cannot be encoded in the declared charset", "data") from exc


def _decode_base64(encoded: Any) -> bytes:
    """Item 67 (policy): strict RFC 4648 base64, canonical padding bits included."""
    if not isinstance(encoded, str):
        raise InvalidEvent("data_base64 must be a string", "data_base64")
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidEvent("data_base64 is not valid base64", "data_base64") from exc
    # b64decode accepts non-zero pad bits ("TWF=" decodes like "TWE="); RFC 4648
    # §3.5 lets a decoder reject them, and a strict one does.
    if base64.b64encode(decoded) != encoded.encode("ascii"):
        raise InvalidEvent("data_base64 is not canonical base64", "data_base64")
    return decoded


def event_from_json(member: Any) -> CloudEvent:
    """Items 58-69: one event in the JSON format (an already-parsed JSON value).

    A JSON `data` member without `datacontenttype` is exactly equivalent to
    `application/json` (item 18); the returned event says so explicitly (item
    19), because its data is then JSON bytes and must stay labelled as such in
    binary mode, where an absent Content-Type means opaque bytes (item 47)."""
    if not isinstance(member, dict):
        hint = " (an array is a batch: use application/cloudevents-batch+json)"
        raise InvalidEvent(
            "a structured event must be a JSON object" + (hint if isinstance(member, list) else "")
        )
    attributes: dict[str, AttributeValue] = {}
    for name, value in member.items():
        if name in _JSON_MEMBERS_NOT_ATTRIBUTES:
            continue
        check_name(name)  # items 5, 26: even when the value is null
        if value is None:
            continue  # item 59: null means unset
        kind = type(value)  # JSON gives exactly str, int, bool, float, list or dict
        if kind is not str and kind is not int and kind is not bool:
            raise InvalidEvent(f"{name} must be a string, an integer or a boolean", name)
        attributes[name] = value
    check_attributes(attributes)
    content_type = attributes.get("datacontenttype")
    assert content_type is None or isinstance(content_type, str)
    encoded = member.get("data_base64")
    if "data" in member and encoded is not None:
        raise InvalidEvent("data and data_base64 are mutually exclusive", "data_base64")
    if encoded is not None:
        return CloudEvent(attributes, _decode_base64(encoded))
    if "data" not in member:
        return CloudEvent(attributes, None)
    value = member["data"]
    if value is None and not is_json_content_type(content_type):
        return CloudEvent(attributes, None)
    data = _data_bytes(value, content_type)
    if content_type is None:
        attributes["datacontenttype"] = IMPLIED_JSON
    return CloudEvent(attributes, data)


def _is_json_text(data: bytes) -> bool:
    """Whether `data` is JSON text that loads_strict accepts (so that whatever we
    send in structured mode, our own receiver takes back)."""
    try:
        loads_strict(data)
    except InvalidEvent:
        return False
    return True


def event_to_json(event: CloudEvent) -> dict[str, Any]:
    """Items 61-64: a JSON value for `data` when the type is JSON, text for
    text that round-trips in its charset, `data_base64` otherwise.

    JSON data is embedded as the exact bytes (orjson.Fragment) after a strict
    validity check, so no number loses precision on the way. Data without a
    `datacontenttype` is opaque bytes (item 47), so it goes as `data_base64`
    and the type stays omitted (items 62, 67: 1.0.3-wip)."""
    member: dict[str, Any] = dict(event.attributes)
    data = event.data
    if data is None:
        return member
    content_type = event.datacontenttype
    if content_type is not None:
        if is_json_content_type(content_type):
            if _is_json_text(data):
                member["data"] = orjson.Fragment(data)
                return member
        elif media_type(content_type).startswith("text/"):
            charset = charset_of(content_type)
            if charset is not None:
                try:
                    text = data.decode(charset)
                    if text.encode(charset) == data:  # item 43: never transcode
                        member["data"] = text
                        return member
                except (UnicodeDecodeError, UnicodeEncodeError):
                    pass
    member["data_base64"] = base64.b64encode(data).decode("ascii")
    return member
