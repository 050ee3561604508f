"""Hypothesis strategies: valid events, and hostile or near-valid HTTP messages.

The valid-event strategies are written from the checklist, not from the codec
(no codec function decides what they generate), so round-trip properties test
the codec against an independent description of a valid event."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import strategies as st

from common.events import CloudEvent, format_time

# Per property. 500 keeps test_properties.py near 30 s of CPU; the doc records
# longer runs (CODEC_HYPOTHESIS_EXAMPLES=10000).
EXAMPLES = int(os.environ.get("CODEC_HYPOTHESIS_EXAMPLES", "500"))

CORE = {"specversion", "id", "source", "type", "datacontenttype", "dataschema", "subject", "time"}


def _allowed_char(c: str) -> bool:
    # Item 9: no controls (category Cc is excluded below), noncharacters or surrogates.
    code = ord(c)
    return not (0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE)


STRING_CHARS = st.characters(exclude_categories=("Cs", "Cc")).filter(_allowed_char)
strings = st.text(STRING_CHARS, min_size=1, max_size=30)
names = st.from_regex(r"[a-z][a-z0-9]{0,19}", fullmatch=True).filter(
    lambda n: n not in CORE and n != "data"
)
uri_references = st.one_of(
    st.from_regex(
        r"https?://[a-z0-9.\-]{1,20}(:[0-9]{1,5})?(/[A-Za-z0-9._~\-]{0,10}){0,3}", fullmatch=True
    ),
    st.from_regex(r"/[a-z]{1,10}(/[a-z0-9]{0,5}){0,3}", fullmatch=True),
    st.sampled_from(["#fragment", "1-555-123-4567", "//authority/path", "urn:x:y", "a%20b", "."]),
)
absolute_uris = st.one_of(
    st.from_regex(r"https://[a-z0-9.\-]{1,20}/[a-z]{1,10}\.json", fullmatch=True),
    st.sampled_from(["urn:example:schema", "https://cloudevents.io/dataschema"]),
)
int32 = st.integers(-(2**31), 2**31 - 1)


@st.composite
def times(draw: st.DrawFn, canonical: bool = False) -> str:
    """RFC 3339 timestamps in several valid spellings (item 23)."""
    moment = draw(
        st.datetimes(
            min_value=datetime(1, 1, 2),
            max_value=datetime(9999, 12, 30),
            timezones=st.just(UTC),
        )
    )
    if canonical:
        return format_time(moment)
    minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    local = moment.astimezone(timezone(timedelta(minutes=minutes)))
    date = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    clock = f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    fraction = draw(st.sampled_from(["", ".1", ".123456", ".000000001"]))
    if minutes == 0:
        offset = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
    else:
        hours, rest = divmod(abs(minutes), 60)
        offset = f"{'+' if minutes > 0 else '-'}{hours:02d}:{rest:02d}"
    return date + draw(st.sampled_from(["T", "t"])) + clock + fraction + offset


def json_values(big_integers: bool = True) -> st.SearchStrategy[Any]:
    bound = 2**70 if big_integers else 2**53
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-bound, bound),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        ),
        max_leaves=12,
    )


def compact_json(value: Any) -> bytes:
    """The compact serialization the codec documents for structured JSON data:
    orjson's, or the stdlib's compact form where orjson refuses (big integers)."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@st.composite
def valid_events(draw: st.DrawFn, sdk_compatible: bool = False) -> CloudEvent:
    """Any valid CloudEvent, as the checklist describes one.

    `sdk_compatible` keeps to what the SDK can represent: it always has `time`
    (the SDK invents one otherwise) in the canonical `Z` form (dateutil)."""
    attributes: dict[str, str | int | bool] = {
        "specversion": "1.0",
        "id": draw(strings),
        "source": draw(uri_references),
        "type": draw(strings),
    }
    if sdk_compatible or draw(st.booleans()):
        attributes["time"] = draw(times(canonical=sdk_compatible))
    if draw(st.booleans()):
        attributes["subject"] = draw(strings)
    if draw(st.booleans()):
        attributes["dataschema"] = draw(absolute_uris)
    values = st.one_of(strings, st.just(""), int32, st.booleans())
    attributes.update(draw(st.dictionaries(names, values, max_size=3)))
    kind = draw(st.sampled_from(["none", "json", "text", "bytes", "untyped"]))
    data: bytes | None = None
    if kind == "json":
        attributes["datacontenttype"] = draw(
            st.sampled_from(["application/json", "application/vnd.x+json; charset=utf-8"])
        )
        data = compact_json(draw(json_values(big_integers=not sdk_compatible)))
    elif kind == "text":
        charset = draw(st.sampled_from(["utf-8", "iso-8859-1", "utf-16"]))
        attributes["datacontenttype"] = f"text/plain; charset={charset}"
        text = st.text(st.characters(max_codepoint=0xFF), min_size=1, max_size=40)
        data = draw(text).encode(charset)
    elif kind == "bytes":
        attributes["datacontenttype"] = "application/octet-stream"
        data = draw(st.binary(min_size=1, max_size=40))
    elif kind == "untyped":
        data = draw(st.binary(min_size=1, max_size=40))  # opaque bytes (item 47)
    elif draw(st.booleans()):
        attributes["datacontenttype"] = "text/plain"  # a type without data (item 20)
    return CloudEvent(attributes, data)
