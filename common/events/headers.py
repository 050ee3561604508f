"""HTTP header value encoding for binary mode (checklist items 48-54)."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes

from common.events.errors import InvalidEvent
from common.events.model import AttributeValue

# Item 49: everything outside U+0021-U+007E, plus space, '"' and '%', is encoded.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
_NEEDS_ENCODING = re.compile(r'[^\x21-\x7e]|["%]')
_MALFORMED_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_QUOTED_PAIR = re.compile(rb"\\(.)", re.DOTALL)


def canonical_string(value: AttributeValue) -> str:
    """Item 9: `true`/`false` for booleans (never Python's `True`), digits for integers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value


def encode_header_value(value: AttributeValue) -> str:
    """Items 48-50: canonical string, UTF-8, then `%XY` with upper-case hex."""
    text = canonical_string(value)
    if _NEEDS_ENCODING.search(text) is None:
        return text
    return quote(text, safe=_SAFE)


def decode_header_value(name: str, raw: bytes) -> str:
    """Items 51-54: unquote an RFC 7230 quoted-string, then exactly one strict
    round of percent-decoding; malformed `%` or invalid UTF-8 is rejected."""
    if len(raw) >= 2 and raw[0] == 0x22 and raw[-1] == 0x22:
        raw = _QUOTED_PAIR.sub(rb"\1", raw[1:-1])
    if b"%" in raw:
        if _MALFORMED_PERCENT.search(raw):
            raise InvalidEvent(f"ce-{name} has a malformed percent-encoding", name)
        raw = unquote_to_bytes(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"ce-{name} does not decode to valid UTF-8", name) from exc
