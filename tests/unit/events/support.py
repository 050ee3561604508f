"""Helpers for the codec tests: build HTTP messages and expect typed errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from common.events import CloudEvent, CloudEventError, ParsedMessage, parse_http

REQUIRED: dict[str, str] = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "/mycontext",
    "type": "com.example.someevent",
}
STRUCTURED = b"application/cloudevents+json"
BATCH = b"application/cloudevents-batch+json"

Headers = list[tuple[bytes, bytes]]


def ce_headers(attributes: Mapping[str, str]) -> Headers:
    """`ce-<name>: <value>` for each attribute (values already encoded)."""
    return [(f"ce-{name}".encode(), value.encode("utf-8")) for name, value in attributes.items()]


def binary_message(
    attributes: Mapping[str, str] | None = None,
    body: bytes = b"",
    content_type: bytes | None = None,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> ParsedMessage:
    """Parse a binary-mode message: REQUIRED (overridden by `attributes`) as headers."""
    headers = ce_headers({**REQUIRED, **(attributes or {})})
    if content_type is not None:
        headers.append((b"content-type", content_type))
    headers.extend(extra)
    return parse_http(headers, body)


def binary_event(
    attributes: Mapping[str, str] | None = None,
    body: bytes = b"",
    content_type: bytes | None = None,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> CloudEvent:
    message = binary_message(attributes, body, content_type, extra)
    assert message.mode == "binary"
    assert len(message.events) == 1
    return message.events[0]


def raw_binary(headers: Headers, body: bytes = b"") -> CloudEvent:
    """Parse exactly the given headers (nothing added)."""
    message = parse_http(headers, body)
    assert message.mode == "binary"
    return message.events[0]


def structured_body(member: Any) -> bytes:
    return member if isinstance(member, bytes) else json.dumps(member).encode("utf-8")


def structured_event(
    member: Any,
    content_type: bytes = STRUCTURED,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> CloudEvent:
    """Parse one structured-mode event (a dict is JSON-encoded; bytes are sent as is)."""
    message = parse_http([(b"content-type", content_type), *extra], structured_body(member))
    assert message.mode == "structured"
    assert len(message.events) == 1
    return message.events[0]


def event_json(**changes: Any) -> dict[str, Any]:
    """REQUIRED as a JSON-format member with `changes` applied (None removes)."""
    member: dict[str, Any] = dict(REQUIRED)
    for name, value in changes.items():
        if value is None:
            member.pop(name, None)
        else:
            member[name] = value
    return member


def batch_events(members: Any, max_batch: int = 1000) -> list[CloudEvent]:
    message = parse_http([(b"content-type", BATCH)], structured_body(members), max_batch=max_batch)
    assert message.mode == "batch"
    return message.events


@contextmanager
def rejected(status: int = 400, attribute: str | None = None) -> Iterator[None]:
    """Expect a CloudEventError with `status` (and `attribute`, when given)."""
    with pytest.raises(CloudEventError) as caught:
        yield
    assert caught.value.status == status, caught.value.detail
    if attribute is not None:
        assert caught.value.attribute == attribute, caught.value.detail
    body = caught.value.to_json()
    json.dumps(body, ensure_ascii=False).encode("utf-8")  # renders as a response
    assert body["error"] == caught.value.code


def as_str_headers(headers: Iterable[tuple[str, str]]) -> Headers:
    """(str, str) pairs from an encoder as the raw bytes a server would see."""
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
