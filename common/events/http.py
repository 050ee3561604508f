"""CloudEvents over HTTP: receive in any of the three content modes, send in two.

`parse_http` is the one entry point for receivers (audit sink, broker ingress):
it returns events or raises a CloudEventError that maps to 400, 413 or 415.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from common.events.attributes import check_attributes, check_name, validate_for_send
from common.events.errors import InvalidEvent, PayloadTooLarge, UnsupportedFormat
from common.events.headers import decode_header_value, encode_header_value
from common.events.json_format import event_from_json, event_to_json, loads_strict, media_type
from common.events.model import AttributeValue, CloudEvent

STRUCTURED_JSON = "application/cloudevents+json; charset=utf-8"
BATCH_JSON = "application/cloudevents-batch+json; charset=utf-8"
DEFAULT_MAX_BATCH = 1000

RawHeaders = Iterable[tuple[bytes, bytes]]


class ContentMode(enum.StrEnum):
    BINARY = "binary"
    STRUCTURED = "structured"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    mode: ContentMode
    events: list[CloudEvent]


def _format_of(mtype: str, prefix: str) -> None:
    # Items 35, 37: the format is the `+suffix`; we speak JSON only.
    if mtype != prefix + "+json":
        raise UnsupportedFormat(f"unsupported CloudEvents format {mtype!r}; use {prefix}+json")


def parse_http(
    headers: RawHeaders, body: bytes, *, max_batch: int = DEFAULT_MAX_BATCH
) -> ParsedMessage:
    """Parse an HTTP request (raw ASGI headers + body) into CloudEvents.

    The content mode comes from Content-Type alone (items 35-38); the body is
    authoritative in structured mode (item 36).
    """
    content_type: str | None = None
    ce_headers: list[tuple[bytes, bytes]] = []
    for raw_name, raw_value in headers:
        name = raw_name.lower()
        if name == b"content-type":
            if content_type is not None:
                raise InvalidEvent("more than one Content-Type header", "datacontenttype")
            # RFC 7230 OWS only: str.strip() would also eat e.g. U+0085 and U+001C.
            content_type = raw_value.decode("latin-1").strip(" \t")
        elif name.startswith(b"ce-"):
            ce_headers.append((name, raw_value))
    mtype = media_type(content_type) if content_type is not None else ""
    # Item 35: test the -batch prefix first; it also starts with the plain one.
    if mtype.startswith("application/cloudevents-batch"):
        _format_of(mtype, "application/cloudevents-batch")
        return ParsedMessage(ContentMode.BATCH, parse_batch(body, max_batch=max_batch))
    if mtype.startswith("application/cloudevents"):
        _format_of(mtype, "application/cloudevents")
        return ParsedMessage(ContentMode.STRUCTURED, [event_from_json(loads_strict(body))])
    return ParsedMessage(ContentMode.BINARY, [parse_binary(ce_headers, content_type, body)])


def parse_binary(
    ce_headers: list[tuple[bytes, bytes]], content_type: str | None, body: bytes
) -> CloudEvent:
    """Items 41-47: `ce-*` headers are the attributes, the body is the data."""
    attributes: dict[str, AttributeValue] = {}
    for name, raw_value in ce_headers:
        attribute = name[3:].decode("latin-1")
        if attribute in attributes:
            raise InvalidEvent(f"ce-{attribute} appears more than once", attribute)
        if attribute == "datacontenttype":
            raise InvalidEvent(
                "ce-datacontenttype is not allowed in binary mode; use Content-Type",
                "datacontenttype",
            )
        check_name(attribute)
        if b"%" in raw_value or not raw_value.isascii() or raw_value.strip(b' \t"') != raw_value:
            attributes[attribute] = decode_header_value(attribute, raw_value)
        else:  # fast path: plain ASCII, nothing to unquote or decode
            attributes[attribute] = raw_value.decode("ascii")
    if not attributes:
        raise InvalidEvent("not a CloudEvent: no ce- headers and no CloudEvents Content-Type")
    if content_type is not None:
        # Items 41, 47: Content-Type is datacontenttype; only a missing header
        # means "no type". An empty header is an empty (invalid) datacontenttype.
        attributes["datacontenttype"] = content_type
    check_attributes(attributes)
    return CloudEvent(attributes, body if body else None)


def parse_batch(body: bytes, *, max_batch: int = DEFAULT_MAX_BATCH) -> list[CloudEvent]:
    """Items 74-78: a JSON array of events, validated whole before any is used."""
    document = loads_strict(body)
    if not isinstance(document, list):
        raise InvalidEvent("a batch must be a JSON array of events")
    if len(document) > max_batch:
        raise PayloadTooLarge(f"batch holds {len(document)} events; the limit is {max_batch}")
    events = []
    for index, member in enumerate(document):
        try:
            events.append(event_from_json(member))
        except InvalidEvent as exc:
            raise InvalidEvent(f"batch event {index}: {exc.detail}", exc.attribute) from exc
    return events


def encode_binary(event: CloudEvent) -> tuple[list[tuple[str, str]], bytes]:
    """Items 41-50: headers (`ce-*` and Content-Type) and the data as the body.

    Raises ValueError for an event that is not valid (a sender's bug)."""
    validate_for_send(event)
    headers = [
        ("ce-" + name, encode_header_value(value))
        for name, value in event.attributes.items()
        if name != "datacontenttype"
    ]
    content_type = event.datacontenttype
    if content_type is not None:
        headers.append(("content-type", content_type))
    return headers, event.data or b""


def encode_structured(event: CloudEvent) -> tuple[list[tuple[str, str]], bytes]:
    """Items 55-56: one JSON-format event with its media type (ValueError if invalid)."""
    validate_for_send(event)
    return [("content-type", STRUCTURED_JSON)], orjson.dumps(event_to_json(event))


def encode_batch(events: Iterable[CloudEvent]) -> tuple[list[tuple[str, str]], bytes]:
    """Items 73-74: a JSON array of JSON-format events (ValueError if one is invalid)."""
    members = []
    for event in events:
        validate_for_send(event)
        members.append(event_to_json(event))
    return [("content-type", BATCH_JSON)], orjson.dumps(members)


__all__ = [
    "BATCH_JSON",
    "STRUCTURED_JSON",
    "ContentMode",
    "ParsedMessage",
    "check_attributes",
    "encode_batch",
    "encode_binary",
    "encode_structured",
    "parse_batch",
    "parse_binary",
    "parse_http",
]
