"""Validation of context attributes against the CloudEvents 1.0 type system.

Checklist items 5-26 and 58-59, 79-80. Functions raise InvalidEvent naming the
attribute; callers give them already-typed values (strings from HTTP headers,
JSON values from the structured format).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

from common.events.errors import InvalidEvent
from common.events.model import REQUIRED, AttributeValue, CloudEvent

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
MAX_SENDER_NAME = 20
# This receiver's limits (the spec sets none): every attribute is stored, and in
# binary mode travels as one header of a head limited to 64 KiB (common.web.protocol).
MAX_NAME_LENGTH = 128
MAX_VALUE_LENGTH = 8192

NAME = re.compile(r"[a-z0-9]+")
# Item 9: control characters, noncharacters and lone surrogates are not Strings.
_NONCHARACTERS = "".join(
    chr((plane << 16) | low) for plane in range(17) for low in (0xFFFE, 0xFFFF)
)
_FORBIDDEN_CHAR = re.compile("[\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ud800-\udfff" + _NONCHARACTERS + "]")
# Item 23: RFC 3339 date-time; seconds and an offset are required, T/Z any case.
# Field ranges are in the pattern (offset hour at most 23, second 60 for a leap
# second); only the day of the month needs a calendar. ASCII digits only:
# `\d` would also match e.g. Arabic-Indic digits.
_TIME = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[Tt]([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(\.[0-9]+)?"
    r"(?:[Zz]|([+-])([01][0-9]|2[0-3]):([0-5][0-9]))"
)
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Items 9, 14, 21: RFC 3986 appendix A, written out as regular expressions.
# `X*` for X = `[set] / pct-encoded` is unrolled to `[set]*(?:%HH[set]*)*`,
# which matches in linear time without an alternation per character.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"


def _star(chars: str) -> str:
    return rf"[{chars}]*(?:{_PCT}[{chars}]*)*"


def _plus(chars: str) -> str:
    return rf"(?:[{chars}]|{_PCT}){_star(chars)}"


_PCHAR = rf"{_UNRESERVED}{_SUB_DELIMS}:@"
_SEGMENT = _star(_PCHAR)
_SEGMENT_NZ = _plus(_PCHAR)
_SEGMENT_NZ_NC = _plus(rf"{_UNRESERVED}{_SUB_DELIMS}@")
_QUERY = _star(rf"{_PCHAR}/?")
_USERINFO = _star(rf"{_UNRESERVED}{_SUB_DELIMS}:")
_REG_NAME = _star(rf"{_UNRESERVED}{_SUB_DELIMS}")
_IP_LITERAL = r"\[[^\[\]/?#@]*\]"
# `[` and `]` appear in a URI only around an IP-literal host.
_IP_LITERAL_CONTENT = re.compile(r"\[([^\]]*)\]")
_AUTHORITY = rf"(?:{_USERINFO}@)?(?:{_IP_LITERAL}|{_REG_NAME})(?::[0-9]*)?"
_PATH_ABEMPTY = rf"(?:/{_SEGMENT})*"
_PATH_ABSOLUTE = rf"/(?:{_SEGMENT_NZ}(?:/{_SEGMENT})*)?"
_PATH_ROOTLESS = rf"{_SEGMENT_NZ}(?:/{_SEGMENT})*"
_PATH_NOSCHEME = rf"{_SEGMENT_NZ_NC}(?:/{_SEGMENT})*"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
_HIER_PART = rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_ROOTLESS}|)"
_RELATIVE_PART = rf"(?://{_AUTHORITY}{_PATH_ABEMPTY}|{_PATH_ABSOLUTE}|{_PATH_NOSCHEME}|)"
# absolute-URI (RFC 3986 §4.3) has no fragment; URI-reference (§4.1) is URI / relative-ref.
_ABSOLUTE_URI = re.compile(rf"{_SCHEME}:{_HIER_PART}(?:\?{_QUERY})?")
_URI_REFERENCE = re.compile(
    rf"(?:{_SCHEME}:{_HIER_PART}|{_RELATIVE_PART})(?:\?{_QUERY})?(?:#{_QUERY})?"
)
# Two shapes that cover most real values and are a subset of both grammars:
# `scheme://host[:port]/path` and an absolute path (`/a/b`).
_COMMON_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*://[A-Za-z0-9.\-]*(?::[0-9]+)?(?:/[A-Za-z0-9._~!$&'()*+,;=:@\-]*)*"
)
_COMMON_PATH = re.compile(
    r"/(?:[A-Za-z0-9._~!$&'()*+,;=:@\-]+(?:/[A-Za-z0-9._~!$&'()*+,;=:@\-]*)*)?"
)
_IPV_FUTURE = re.compile(rf"[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+")
# RFC 2045/2046: type "/" subtype *( ";" parameter ), tokens per RFC 7230.
_MT_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # noqa: S105 - a regex, not a secret
# ASCII only (RFC 2045 parameters are US-ASCII; RFC 7230's obs-text is
# obsolete): a datacontenttype must fit a Content-Type header (items 17, 41).
_MT_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*"'
_MEDIA_TYPE = re.compile(
    rf"{_MT_TOKEN}/{_MT_TOKEN}"
    # No two adjacent `[ \t]*` (the old `[ \t]*;?[ \t]*` backtracked quadratically:
    # a megabyte of spaces took hours).
    rf"(?:[ \t]*;[ \t]*{_MT_TOKEN}=(?:{_MT_TOKEN}|{_MT_QUOTED}))*[ \t]*(?:;[ \t]*)?"
)


_VALID_NAMES: set[str] = set()
_VALID_NAMES_MAX = 4096


def check_name(name: str) -> None:
    """Items 5, 7: lower-case ASCII letters and digits, at least one; never `data`."""
    if name in _VALID_NAMES:
        return
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidEvent(f"attribute names are at most {MAX_NAME_LENGTH} characters", name)
    if not NAME.fullmatch(name) or name == "data":
        raise InvalidEvent(f"attribute name {name!r} must be 1+ characters from a-z and 0-9", name)
    if len(_VALID_NAMES) < _VALID_NAMES_MAX:
        _VALID_NAMES.add(name)


def check_string(name: str, value: str) -> None:
    """Item 9: a CloudEvents String has no control characters or noncharacters."""
    # Printable ASCII (U+0020-U+007E) is the common case and always allowed.
    if not (value.isascii() and value.isprintable()) and _FORBIDDEN_CHAR.search(value):
        raise InvalidEvent(f"{name} contains a character a CloudEvents String forbids", name)


def check_time(value: str) -> None:
    """Item 23: strict RFC 3339 with seconds and an offset of at most 23:59.

    Checked without `datetime`, which cannot hold the valid year 0000 or a
    leap second (:60)."""
    match = _TIME.fullmatch(value)
    if match is None:
        raise InvalidEvent("time must be an RFC 3339 timestamp with seconds and offset", "time")
    day = match.group(3)
    if day > "28" and int(day) > _days_in_month(int(match.group(1)), int(match.group(2))):
        raise InvalidEvent("time is not a valid RFC 3339 timestamp: no such day", "time")


def _days_in_month(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]


def _ip_literal_ok(value: str) -> bool:
    found = _IP_LITERAL_CONTENT.search(value) if "[" in value else None
    if found is None:
        return True
    address = found.group(1)
    if _IPV_FUTURE.fullmatch(address):
        return True
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def check_uri_reference(name: str, value: str) -> None:
    """Item 14: a non-empty RFC 3986 URI-reference (§4.1)."""
    if _COMMON_URI.fullmatch(value) or _COMMON_PATH.fullmatch(value):
        return
    if not value or not _URI_REFERENCE.fullmatch(value) or not _ip_literal_ok(value):
        raise InvalidEvent(f"{name} must be a non-empty RFC 3986 URI-reference", name)


def check_absolute_uri(name: str, value: str) -> None:
    """Items 9, 21: a non-empty RFC 3986 absolute-URI (§4.3: a scheme, no fragment)."""
    if _COMMON_URI.fullmatch(value):
        return
    if not _ABSOLUTE_URI.fullmatch(value) or not _ip_literal_ok(value):
        raise InvalidEvent(f"{name} must be an absolute URI (RFC 3986 §4.3)", name)


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
            if len(value) > MAX_VALUE_LENGTH:
                raise InvalidEvent(f"{name} is longer than {MAX_VALUE_LENGTH} characters", name)
            if not value:
                # Items 11, 14, 16, 21, 22: no empty strings for core attributes.
                if name in _NON_EMPTY:
                    raise InvalidEvent(f"{name} must be a non-empty string", name)
            elif not (value.isascii() and value.isprintable()):
                check_string(name, value)
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if not INT32_MIN <= value <= INT32_MAX:
                raise InvalidEvent(f"{name} is outside the 32-bit Integer range", name)
        else:
            raise InvalidEvent(f"{name} must be a string, an integer or a boolean", name)
    if not isinstance(attributes["id"], str):
        raise InvalidEvent("id must be a string", "id")
    if not isinstance(attributes["type"], str):
        raise InvalidEvent("type must be a string", "type")
    check_uri_reference("source", _require_string("source", attributes["source"]))
    subject = attributes.get("subject")
    if subject is not None:
        _require_string("subject", subject)
    dataschema = attributes.get("dataschema")
    if dataschema is not None:
        check_absolute_uri("dataschema", _require_string("dataschema", dataschema))
    datacontenttype = attributes.get("datacontenttype")
    if datacontenttype is not None:
        check_media_type(_require_string("datacontenttype", datacontenttype))
    time = attributes.get("time")
    if time is not None:
        check_time(_require_string("time", time))


def check_event_attributes(attributes: dict[str, AttributeValue]) -> None:
    """Names (items 5, 7) and values (check_attributes) of a complete attribute set."""
    for name in attributes:
        check_name(name)
    check_attributes(attributes)


def validate_for_send(event: CloudEvent) -> None:
    """Raise ValueError (a programming error, not a client's) for an invalid event."""
    try:
        check_event_attributes(dict(event.attributes))
    except InvalidEvent as exc:
        raise ValueError(f"not a valid CloudEvent: {exc.detail}") from exc


def check_sender_names(attributes: Mapping[str, AttributeValue]) -> None:
    """Items 6, 7 for our own events: names start with a letter and have at most
    20 characters (SHOULDs; a receiver accepts longer names)."""
    for name in attributes:
        if len(name) > MAX_SENDER_NAME or not "a" <= name[:1] <= "z":
            raise ValueError(
                f"attribute name {name!r} should start with a letter and have at most "
                f"{MAX_SENDER_NAME} characters"
            )


def parse_time(value: str) -> datetime:
    """Item 10: an RFC 3339 `time` string as an aware datetime.

    Fractions finer than microseconds are truncated; a leap second (:60) becomes
    :59.999999. Raises ValueError for a string that is not RFC 3339 and for an
    instant datetime cannot hold (year 0000)."""
    try:
        check_time(value)
    except InvalidEvent as exc:
        raise ValueError(exc.detail) from exc
    match = _TIME.fullmatch(value)
    assert match is not None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = match.group(7)
    microsecond = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if second == 60:
        second, microsecond = 59, 999999
    if match.group(8):
        sign = -1 if match.group(8) == "-" else 1
        offset = timedelta(hours=int(match.group(9)), minutes=int(match.group(10)))
        tz = timezone(sign * offset)
    else:
        tz = UTC
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)
