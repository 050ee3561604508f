"""Validation of context attributes against the CloudEvents 1.0 type system.

Checklist items 5-26 and 58-59, 79-80. Functions raise InvalidEvent naming the
attribute; callers give them already-typed values (strings from HTTP headers,
JSON values from the structured format).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from common.events.errors import InvalidEvent
from common.events.model import REQUIRED, AttributeValue

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1

NAME = re.compile(r"[a-z0-9]+")
# Item 9: control characters, noncharacters and lone surrogates are not Strings.
_NONCHARACTERS = "".join(
    chr((plane << 16) | low) for plane in range(17) for low in (0xFFFE, 0xFFFF)
)
_FORBIDDEN_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ud800-\udfff" + _NONCHARACTERS + "]")
# Item 23: RFC 3339 date-time; seconds and an offset are required, T/Z any case.
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
# RFC 3986 characters; a '%' must start a pct-encoded triplet.
_URI_CHARS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# RFC 2045/2046: type "/" subtype *( ";" parameter ), tokens per RFC 7230.
_MT_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # noqa: S105 - a regex, not a secret
_MT_QUOTED = r'"(?:[^"\\\x00-\x1f]|\\.)*"'
_MEDIA_TYPE = re.compile(
    rf"{_MT_TOKEN}/{_MT_TOKEN}"
    rf"(?:[ \t]*;[ \t]*{_MT_TOKEN}=(?:{_MT_TOKEN}|{_MT_QUOTED}))*[ \t]*;?[ \t]*"
)


def check_name(name: str) -> None:
    """Items 5, 7: lower-case ASCII letters and digits, at least one; never `data`."""
    if not NAME.fullmatch(name) or name == "data":
        raise InvalidEvent(f"attribute name {name!r} must be 1+ characters from a-z and 0-9", name)


def check_string(name: str, value: str) -> None:
    """Item 9: a CloudEvents String has no control characters or noncharacters."""
    if _FORBIDDEN_CHAR.search(value):
        raise InvalidEvent(f"{name} contains a character a CloudEvents String forbids", name)


def check_time(value: str) -> None:
    """Item 23: strict RFC 3339 with seconds and an offset of at most 23:59."""
    match = _TIME.fullmatch(value)
    if match is None:
        raise InvalidEvent("time must be an RFC 3339 timestamp with seconds and offset", "time")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        if match.group(9):
            offset_hours, offset_minutes = int(match.group(10)), int(match.group(11))
            if offset_hours > 23 or offset_minutes > 59:
                raise ValueError("offset out of range")
            tz = timezone(timedelta(hours=offset_hours, minutes=offset_minutes))
        else:
            tz = UTC
        # A leap second (60) is valid RFC 3339; datetime cannot hold it.
        datetime(year, month, day, hour, minute, min(second, 59), tzinfo=tz)
        if second > 60:
            raise ValueError("second out of range")
    except ValueError as exc:
        raise InvalidEvent(f"time is not a valid RFC 3339 timestamp: {exc}", "time") from exc


def check_uri_reference(name: str, value: str) -> None:
    """Item 14: a non-empty RFC 3986 URI-reference."""
    if not _URI_CHARS.fullmatch(value):
        raise InvalidEvent(f"{name} must be a non-empty URI-reference", name)


def check_absolute_uri(name: str, value: str) -> None:
    """Item 21: a non-empty absolute URI (scheme required)."""
    if not _URI_CHARS.fullmatch(value) or not _SCHEME.match(value):
        raise InvalidEvent(f"{name} must be an absolute URI", name)


def check_media_type(value: str) -> None:
    """Item 17: RFC 2046 `type/subtype` with optional parameters."""
    if not _MEDIA_TYPE.fullmatch(value):
        raise InvalidEvent("datacontenttype must be an RFC 2046 media type", "datacontenttype")


_NON_EMPTY = frozenset({"id", "source", "type", "subject", "dataschema", "datacontenttype"})


def _require_string(name: str, value: AttributeValue) -> str:
    if not isinstance(value, str):
        raise InvalidEvent(f"{name} must be a string", name)
    return value


def check_attributes(attributes: dict[str, AttributeValue]) -> None:
    """Validate a complete attribute set (items 1, 11-26, 58, 79).

    Values are str, int or bool; JSON null must already have been dropped (item 59).
    """
    for name in REQUIRED:
        if name not in attributes:
            raise InvalidEvent(f"required attribute {name} is missing", name)
    specversion = attributes["specversion"]
    if specversion != "1.0" or not isinstance(specversion, str):
        raise InvalidEvent('specversion must be "1.0"', "specversion")
    for name, value in attributes.items():
        if isinstance(value, str):
            # Items 11, 14, 16, 21, 22: no empty strings for core attributes.
            if not value and name in _NON_EMPTY:
                raise InvalidEvent(f"{name} must be a non-empty string", name)
            check_string(name, value)
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if not INT32_MIN <= value <= INT32_MAX:
                raise InvalidEvent(f"{name} is outside the 32-bit Integer range", name)
        else:
            raise InvalidEvent(f"{name} must be a string, an integer or a boolean", name)
    for name in ("id", "type"):
        _require_string(name, attributes[name])
    check_uri_reference("source", _require_string("source", attributes["source"]))
    if "subject" in attributes:
        _require_string("subject", attributes["subject"])
    if "dataschema" in attributes:
        check_absolute_uri("dataschema", _require_string("dataschema", attributes["dataschema"]))
    if "datacontenttype" in attributes:
        check_media_type(_require_string("datacontenttype", attributes["datacontenttype"]))
    if "time" in attributes:
        check_time(_require_string("time", attributes["time"]))
