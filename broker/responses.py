"""Every decision about a subscriber's answer, in one place.

The contract (../shared/reference/knative-broker-contract.md, "Subscriber responses"):
2xx is success; a 2xx carrying a CloudEvent is a reply; a 2xx with a non-empty body
that is not a CloudEvent is treated as 502 and retried, as the reference code does
(pkg/broker/filter/filter_handler.go), so a handler bug shows locally as it would on
a cluster. Retried: no response (connection error, timeout), 404, 408, 409, 429,
5xx, and any code the spec does not list. Not retried: 3xx and the other 4xx.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from common.events import CloudEvent, CloudEventError, ContentMode, parse_http

RETRIABLE_4XX = frozenset({404, 408, 409, 429})
# Base64 of the response body in `knativeerrordata`, at most this many characters.
ERROR_DATA_MAX_CHARS = 1024
# A 2xx body that is not a CloudEvent is reported with this status (reference code).
NOT_A_CLOUDEVENT = 502


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    status: int | None  # the HTTP status the decision is based on; None: no response
    body: bytes = b""
    reply: CloudEvent | None = None
    reason: str = ""


def is_retriable(status: int) -> bool:
    """Whether a non-2xx status is worth another attempt."""
    if status in RETRIABLE_4XX or status >= 500:
        return True
    # 3xx and the remaining 4xx are the sender's problem; 1xx is unlisted -> retriable.
    return not 300 <= status < 500


def _looks_like_cloudevent(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    # Knative's ReadEncoding: binary with ce-specversion, structured/batch by media type.
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"ce-specversion":
            return True
        if lowered == b"content-type" and value.strip().lower().startswith(
            b"application/cloudevents"
        ):
            return True
    return False


def judge(
    status: int | None, headers: Iterable[tuple[bytes, bytes]], body: bytes, error: str = ""
) -> Outcome:
    """Classify a subscriber's answer (`status` None: no answer, `error` says why)."""
    if status is None:
        return Outcome(Verdict.RETRY, None, b"", reason=error or "no response")
    if not 200 <= status < 300:
        verdict = Verdict.RETRY if is_retriable(status) else Verdict.FAIL
        return Outcome(verdict, status, body, reason=f"HTTP {status}")
    headers = list(headers)
    if not _looks_like_cloudevent(headers):
        if body:
            return Outcome(
                Verdict.RETRY,
                NOT_A_CLOUDEVENT,
                body,
                reason="a non-empty response that is not a CloudEvent (must be empty or an event)",
            )
        return Outcome(Verdict.DELIVERED, status)
    try:
        message = parse_http(headers, body, max_batch=1)
    except CloudEventError as exc:
        return Outcome(
            Verdict.RETRY, NOT_A_CLOUDEVENT, body, reason=f"malformed reply event: {exc.detail}"
        )
    if message.mode is ContentMode.BATCH:
        return Outcome(Verdict.RETRY, NOT_A_CLOUDEVENT, body, reason="a batch is not a valid reply")
    return Outcome(Verdict.DELIVERED, status, reply=message.events[0])


def error_data(body: bytes) -> str:
    """`knativeerrordata`: the response body in base64, at most 1024 characters."""
    # 3 bytes become 4 characters: 768 bytes is the most that fits.
    return base64.b64encode(body[: ERROR_DATA_MAX_CHARS // 4 * 3]).decode("ascii")
