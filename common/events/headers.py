"""HTTP header value encoding for binary mode (checklist items 48-54)."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_to_bytes

from prometheus_client import Counter

from common.events.errors import InvalidEvent
from common.events.model import AttributeValue

LITERAL_PERCENT = Counter(
    "cloudevents_header_literal_percent_total",
    "ce- header values with a % not followed by two hex digits, kept as literal text "
    "(senders that do not percent-encode, e.g. the JavaScript SDK).",
)

# Item 49: everything outside U+0021-U+007E, plus space, '"' and '%', is encoded.
_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')
_NEEDS_ENCODING = re.compile(r'[^\x21-\x7e]|["%]')
_MALFORMED_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_QUOTED_PAIR = re.compile(rb"\\(.)", re.DOTALL)
# RFC 7230 §3.2.6: DQUOTE *( qdtext / quoted-pair ) DQUOTE.
_QUOTED_STRING = re.compile(
    rb'"((?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*)"'
)
_OWS = b" \t"


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
    """Items 51-54: unquote an RFC 7230 quoted-string, then exactly one round of
    percent-decoding; decoded bytes that are not UTF-8 are rejected.

    Leading and trailing whitespace is not part of a field value (RFC 7230
    §3.2; a sender percent-encodes spaces). A value that opens with `"` must be
    a well-formed quoted-string (a conforming sender encodes a literal `"`).
    A `%` not followed by two hex digits is kept as text: HTTP binding §3.1.3.2
    defines no meaning for it, and senders that do not encode (the JavaScript
    SDK 10 sends `a b%c` as is) produce it; each such value is counted."""
    raw = raw.strip(_OWS)
    if raw[:1] == b'"':
        quoted = _QUOTED_STRING.fullmatch(raw)
        if quoted is None:
            raise InvalidEvent(f"ce-{name} is not a well-formed quoted-string", name)
        raw = _QUOTED_PAIR.sub(rb"\1", quoted.group(1))
    if b"%" in raw:
        if _MALFORMED_PERCENT.search(raw):
            LITERAL_PERCENT.inc()
        # Decodes every %XY and leaves any other `%` as it is.
        raw = unquote_to_bytes(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidEvent(f"ce-{name} does not decode to valid UTF-8", name) from exc
