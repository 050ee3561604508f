"""The producer's request headers that travel with an event to its subscribers.

Knative's allow-list (knative/eventing pkg/broker/filter): `x-request-id`,
`retry-after`, `traceparent`, `tracestate`, and the `knative-*` and `x-b3-*`
families. A value must be visible ASCII (RFC 9110 §5.5 field-vchar, SP, HTAB):
obs-text is obsolete and an HTTP client may refuse to send it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from common.logs import request_id_var

Headers = tuple[tuple[str, str], ...]

_PASS_EXACT: Final = frozenset({b"x-request-id", b"retry-after", b"traceparent", b"tracestate"})
_PASS_PREFIXES: Final = (b"knative-", b"x-b3-")
_FORWARDABLE: Final = re.compile(r"[\t\x20-\x7e]*")


class UnforwardableHeader(ValueError):
    """A pass-through header whose value could never be sent on."""

    def __init__(self, name: str) -> None:
        super().__init__(f"header {name} must be visible ASCII to be forwarded to subscribers")
        self.name = name


def forwardable(value: str) -> bool:
    """Whether a header value can be sent as it is."""
    return _FORWARDABLE.fullmatch(value) is not None


def passthrough_headers(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The allow-listed request headers, to be sent on to subscribers.

    Raises UnforwardableHeader for a value that is not visible ASCII.
    """
    kept = []
    has_request_id = False
    for name, value in raw:
        lowered = name.lower()
        if lowered in _PASS_EXACT or lowered.startswith(_PASS_PREFIXES):
            text = value.decode("latin-1")
            if not forwardable(text):
                raise UnforwardableHeader(lowered.decode("latin-1"))
            kept.append((lowered.decode("latin-1"), text))
            has_request_id = has_request_id or lowered == b"x-request-id"
    request_id = request_id_var.get()
    if not has_request_id and request_id:
        # The id our access log used, so the hops can be followed across services.
        kept.append(("x-request-id", request_id))
    return tuple(kept)
