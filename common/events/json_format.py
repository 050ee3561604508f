"""The CloudEvents JSON event format and JSON batch format (items 57-78)."""

from __future__ import annotations

import base64
import binascii
import codecs
import json
from typing import Any

import orjson

from common.events.attributes import check_attributes, check_name
from common.events.errors import InvalidEvent
from common.events.model import AttributeValue, CloudEvent

_JSON_MEMBERS_NOT_ATTRIBUTES = frozenset({"data", "data_base64"})


def media_type(content_type: str) -> str:
    """The `type/subtype` part, lower-cased (item 20: case-insensitive)."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json_content_type(content_type: str | None) -> bool:
    """Item 63: absent, `*/json` or `*/*+json` means the data is a JSON value."""
    if content_type is None:
        return True
    mtype = media_type(content_type)
    return mtype.endswith("/json") or mtype.endswith("+json")


def charset_of(content_type: str) -> str:
    """The `charset` parameter (default UTF-8), normalised to a Python codec name."""
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset":
            try:
                return codecs.lookup(value.strip().strip('"')).name
            except LookupError:
                return "utf-8"
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


def loads_strict(body: bytes) -> Any:
    """Item 57: strict UTF-8 JSON, no NaN/Infinity, no repeated member names."""
    try:
        return json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_unique_members,
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError as exc:
        raise InvalidEvent("body is not valid UTF-8") from exc
    except RecursionError as exc:
        raise InvalidEvent("JSON nested too deeply") from exc
    except ValueError as exc:
        raise InvalidEvent(f"body is not valid JSON: {exc}") from exc


def _data_bytes(value: Any, content_type: str | None) -> bytes:
    if is_json_content_type(content_type):
        # Item 68: the value is used as is; a string is never parsed again.
        try:
            return orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise InvalidEvent(f"data cannot be encoded as JSON: {exc}", "data") from exc
    if not isinstance(value, str):
        # Item 69: for a non-JSON type the data must be an encoded content string.
        raise InvalidEvent("data must be a string when datacontenttype is not JSON", "data")
    assert content_type is not None
    try:
        return value.encode(charset_of(content_type))
    except UnicodeEncodeError as exc:
        raise InvalidEvent("data cannot be encoded in the declared charset", "data") from exc


def event_from_json(member: Any) -> CloudEvent:
    """Items 58-69: one event in the JSON format (an already-parsed JSON value)."""
    if not isinstance(member, dict):
        raise InvalidEvent("a structured event must be a JSON object")
    attributes: dict[str, AttributeValue] = {}
    for name, value in member.items():
        if name in _JSON_MEMBERS_NOT_ATTRIBUTES or value is None:
            continue  # item 59: null means unset
        check_name(name)
        if isinstance(value, float | list | dict):
            raise InvalidEvent(f"{name} must be a string, an integer or a boolean", name)
        attributes[name] = value
    check_attributes(attributes)
    content_type = attributes.get("datacontenttype")
    assert content_type is None or isinstance(content_type, str)
    encoded = member.get("data_base64")
    if "data" in member and encoded is not None:
        raise InvalidEvent("data and data_base64 are mutually exclusive", "data_base64")
    if encoded is not None:
        if not isinstance(encoded, str):
            raise InvalidEvent("data_base64 must be a string", "data_base64")
        try:
            return CloudEvent(attributes, base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise InvalidEvent("data_base64 is not valid base64", "data_base64") from exc
    if "data" not in member:
        return CloudEvent(attributes, None)
    value = member["data"]
    if value is None and not is_json_content_type(content_type):
        return CloudEvent(attributes, None)
    return CloudEvent(attributes, _data_bytes(value, content_type))


def event_to_json(event: CloudEvent) -> dict[str, Any]:
    """Items 61-64: a JSON value for `data` when the type is JSON, text for
    text that decodes in its charset, `data_base64` otherwise."""
    member: dict[str, Any] = dict(event.attributes)
    data = event.data
    if data is None:
        return member
    content_type = event.datacontenttype
    if is_json_content_type(content_type):
        try:
            member["data"] = orjson.loads(data)
            return member
        except orjson.JSONDecodeError:
            pass
    elif content_type is not None and media_type(content_type).startswith("text/"):
        try:
            member["data"] = data.decode(charset_of(content_type))
            return member
        except UnicodeDecodeError:
            pass
    member["data_base64"] = base64.b64encode(data).decode("ascii")
    return member
