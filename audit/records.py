"""The stored shape of an event: a row built from a CloudEvent on the way in,
and the Event JSON of the read API rendered from a row on the way out."""

from __future__ import annotations

import base64
import binascii
import codecs
import itertools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from common.events import CloudEvent, format_time
from common.events.json_format import is_json_content_type

# PostgreSQL's jsonb cannot hold U+0000; such data stays stored as bytes only.
_JSONB_UNSAFE = b"\\u0000"
_INTEGER = re.compile(r"-?[0-9]{1,10}")

# JSON data nested deeper than this is refused by the sink and read back as bytes
# only: every Event JSON document of the read API then stays within the default
# nesting limits of common parsers (Python's json ~1000, orjson 1024, browsers more).
MAX_JSON_DEPTH = 256
# A JSON string, or an unterminated one up to the end: never fails, so never backtracks.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEP = [0] * 256
for _opener in b"[{":
    _BRACKET_STEP[_opener] = 1
for _closer in b"]}":
    _BRACKET_STEP[_closer] = -1


def json_too_deep(data: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the brackets of `data` (outside strings) nest deeper than `limit`.
    Linear in the size of `data`, valid JSON or not."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0) > limit


def queryable_json(data: bytes | None, content_type: str | None) -> str | None:
    """The data as JSON text for the `data_json` column, when it is JSON."""
    if data is None or not is_json_content_type(content_type) or _JSONB_UNSAFE in data:
        return None
    if json_too_deep(data):
        return None
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return data.decode("utf-8")


def event_row(event: CloudEvent, mode: str, received_at: datetime) -> dict[str, Any]:
    """The `events` row for one received event (every attribute, data as received)."""
    attributes = event.attributes
    content_type = attributes.get("datacontenttype")
    content_type = content_type if isinstance(content_type, str) else None
    subject = attributes.get("subject")
    return {
        "source": attributes["source"],
        "event_id": attributes["id"],
        "type": attributes["type"],
        "subject": subject if isinstance(subject, str) else None,
        "datacontenttype": content_type,
        "mode": mode,
        "received_at": received_at,
        "attributes": orjson.dumps(dict(attributes)).decode(),
        "data": event.data,
        "data_json": queryable_json(event.data, content_type),
    }


def dead_letter_row(event: CloudEvent, mode: str, received_at: datetime) -> dict[str, Any]:
    """The `dead_letters` row: the event plus the broker's `knativeerror*` details."""
    row = event_row(event, mode, received_at)
    dest = event.attributes.get("knativeerrordest")
    row["error_dest"] = "" if dest is None else str(dest)
    row["error_code"] = _int_or_none(event.attributes.get("knativeerrorcode"))
    return row


def _int_or_none(value: object) -> int | None:
    # An HTTP status in binary mode arrives as text; anything that is not a
    # 32-bit integer (the column's type) is kept in `attributes` only.
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -(2**31) <= value < 2**31 else None


def _json_data(data: bytes) -> Any:
    """The data as a JSON value to embed, or None when readers could not parse it
    (not JSON, a number no double holds, or nested deeper than MAX_JSON_DEPTH)."""
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if json_too_deep(data):
        return None
    # Embedding the received text keeps it exact (big integers too). A line break
    # would split an NDJSON line or an SSE field; in valid JSON a raw CR or LF can
    # only be whitespace between tokens (RFC 8259 §7), so a space replaces it.
    if b"\n" in data or b"\r" in data:
        data = data.replace(b"\n", b" ").replace(b"\r", b" ")
    return orjson.Fragment(data)


def _text_or_none(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored one is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _attributes(value: Any) -> dict[str, Any]:
    if isinstance(value, str | bytes):
        decoded: dict[str, Any] = orjson.loads(value)
        return decoded
    return dict(value)


def render_event(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The read API's Event JSON for an `events` (or `dead_letters`) row."""
    attributes = _attributes(row["attributes"])
    data: bytes | None = row["data"]
    content_type = attributes.get("datacontenttype")
    event: dict[str, Any] = {
        "seq": row["seq"],
        "source": row["source"],
        "id": row["event_id"],
        "type": row["type"],
        "specversion": attributes.get("specversion"),
        "subject": attributes.get("subject"),
        "time": attributes.get("time"),
        "datacontenttype": content_type,
        "dataschema": attributes.get("dataschema"),
        "attributes": attributes,
        "data": None,
        "data_base64": None,
        "data_text": None,
        "received_at": format_time(_utc(row["received_at"])),
        "mode": row["mode"],
    }
    if data is not None:
        data = bytes(data)
        if is_json_content_type(content_type if isinstance(content_type, str) else None):
            event["data"] = _json_data(data)
        event["data_base64"] = base64.b64encode(data).decode("ascii")
        event["data_text"] = _text_or_none(data)
    return event


def decode_error_data(value: object) -> bytes | None:
    """`knativeerrordata` is the failed response body in base64, cut at 1024
    characters by the broker (so maybe unpadded or partial); some senders put
    the body raw. Base64 that decodes to UTF-8 text is decoded; anything else
    is kept as the text that came."""
    if value is None:
        return None
    text = str(value).strip()
    # A lone trailing character holds 6 bits, not a byte: it is what the cut left.
    candidate = text[:-1] if len(text) % 4 == 1 else text
    candidate += "=" * (-len(candidate) % 4)
    try:
        decoded = base64.b64decode(candidate, validate=True)
        # final=False: the cut may have split the last UTF-8 character.
        codecs.getincrementaldecoder("utf-8")().decode(decoded, final=False)
    except (binascii.Error, ValueError):
        return text.encode("utf-8")
    return decoded


def render_dead_letter(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A dead letter's Event JSON with an `error` member (data decoded for display)."""
    event = render_event(row)
    raw = decode_error_data(event["attributes"].get("knativeerrordata"))
    event["error"] = {
        "dest": row["error_dest"] or None,
        "code": row["error_code"],
        "data": None if raw is None else raw.decode("utf-8", errors="replace"),
        "data_base64": None if raw is None else base64.b64encode(raw).decode("ascii"),
    }
    return event
