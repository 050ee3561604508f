"""A strict CloudEvents 1.0 HTTP codec (binary, structured and batch mode, JSON format).

The official SDK is lenient on purpose; a sink that stores events for later
analysis must not be. Every rule here is numbered in docs/cloudevents-conformance.md.
"""

from common.events.attributes import parse_time
from common.events.build import new_event
from common.events.errors import (
    CloudEventError,
    InvalidEvent,
    PayloadTooLarge,
    UnsupportedFormat,
)
from common.events.http import (
    ContentMode,
    ParsedMessage,
    encode_batch,
    encode_binary,
    encode_structured,
    parse_http,
)
from common.events.model import AttributeValue, CloudEvent, format_time
from common.events.overrides import apply_overrides, parse_ce_overrides

__all__ = [
    "AttributeValue",
    "CloudEvent",
    "CloudEventError",
    "ContentMode",
    "InvalidEvent",
    "ParsedMessage",
    "PayloadTooLarge",
    "UnsupportedFormat",
    "apply_overrides",
    "encode_batch",
    "encode_binary",
    "encode_structured",
    "format_time",
    "new_event",
    "parse_ce_overrides",
    "parse_http",
    "parse_time",
]
