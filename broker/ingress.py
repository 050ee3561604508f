"""The broker ingress: `POST /<namespace>/<broker>`, and the path replies take back in.

Status codes (contract "Ingress"): OPTIONS -> 200 with the WebHook headers; any
other method but POST -> 405; `/` -> 404; not exactly two segments -> 400;
unknown broker -> 404; an unparsable or invalid event, a batch, a TTL outside
1..2^31-1, an attribute over BROKER_MAX_ATTRIBUTE_BYTES, or a pass-through header
that could not be forwarded -> 400; body over MAX_BODY_BYTES -> 413; the queue
cannot store it -> 503; otherwise 202 once the event and its deliveries are
committed to disk. (A request head over 64 KiB never gets here: 431.)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from broker import metrics
from broker.dispatcher import TTL, Dispatcher
from broker.headers import Headers, UnforwardableHeader, passthrough_headers
from broker.manifests import Broker, BrokerConfig, Trigger
from broker.queue import Delivery, DeliveryQueue, QueueUnavailable, UnstorableEvent
from common.events import (
    AttributeValue,
    CloudEvent,
    CloudEventError,
    ContentMode,
    format_time,
    parse_http,
)
from common.events.json_format import media_type
from common.web.body import read_body
from common.web.errors import ApiError

logger = logging.getLogger(__name__)

DEFAULT_TTL = 255
INT32_MAX = 2**31 - 1
_INTEGER = re.compile(r"([+-]?)0*([0-9]+)")
ARRIVAL_TIME = "knativearrivaltime"
_OPTIONS_HEADERS = {
    "Allow": "POST, OPTIONS",
    "WebHook-Allowed-Origin": "*",
    "WebHook-Allowed-Rate": "*",
}


class Rejected(Exception):
    """The ingress refuses the event; `status` is the HTTP answer."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def _ttl_of(event: CloudEvent) -> int:
    value = event.attributes.get(TTL)
    if value is None:
        return DEFAULT_TTL
    invalid = Rejected(400, "invalid_event", f"{TTL} must be an integer from 1 to {INT32_MAX}")
    if isinstance(value, bool):
        raise invalid
    if isinstance(value, str):
        match = _INTEGER.fullmatch(value)
        # Counted before int(): beyond int32 anyway, and int() refuses > 4,300 digits.
        if match is None or len(match.group(2)) > len(str(INT32_MAX)):
            raise invalid
        value = int(match.group(1) + match.group(2))
    if value > INT32_MAX:  # CloudEvents Integer is 32-bit; SQLite and orjson stop at 64
        raise invalid
    if value <= 0:
        raise Rejected(400, "ttl_exhausted", f"{TTL} is {value}: the event looped too often")
    return value


def _check_sizes(event: CloudEvent, limit: int) -> None:
    for name, value in event.attributes.items():
        for text, what in ((name, "name"), (value, "value")):
            # A character is at most 4 UTF-8 bytes: most values need no encoding to check.
            if isinstance(text, str) and len(text) * 4 > limit and len(text.encode()) > limit:
                raise Rejected(
                    400,
                    "attribute_too_long",
                    f"the {what} of attribute {name[:64]} is over {limit} bytes "
                    "(BROKER_MAX_ATTRIBUTE_BYTES)",
                )


class Ingress:
    """Accepts events into a broker: stamps them, matches Triggers, stores, schedules."""

    def __init__(
        self,
        config: Callable[[], BrokerConfig],
        queue: DeliveryQueue,
        dispatcher: Dispatcher,
        max_body_bytes: int,
        max_attribute_bytes: int = 4096,
    ) -> None:
        self.config = config
        self.queue = queue
        self.dispatcher = dispatcher
        self.max_body_bytes = max_body_bytes
        self.max_attribute_bytes = max_attribute_bytes

    async def publish(self, broker: Broker, event: CloudEvent, headers: Headers) -> int:
        """Store `event` for every matching Trigger of `broker`; the number matched.

        Raises Rejected (TTL, sizes, an event the queue cannot store) or QueueUnavailable.
        """
        _check_sizes(event, self.max_attribute_bytes)
        ttl = _ttl_of(event)
        stamps: dict[str, AttributeValue | None] = {
            TTL: ttl,
            ARRIVAL_TIME: format_time(datetime.now(UTC)),
        }
        event = event.with_attributes(**stamps)
        attributes = event.attributes
        matched: list[Trigger] = [
            trigger
            for trigger in self.config().triggers_of(broker)
            if trigger.filter.matches(attributes)
        ]
        if not matched:
            return 0  # accepted and, as on Knative, routed nowhere
        try:
            event_id, ids = await self.queue.enqueue(event, headers, [t.key for t in matched])
        except UnstorableEvent as exc:
            raise Rejected(400, "invalid_event", str(exc)) from None
        for trigger, delivery_id in zip(matched, ids, strict=True):
            self.dispatcher.accepted(trigger.key, Delivery(delivery_id, event_id, event, headers))
        return len(matched)

    async def reply(self, trigger: Trigger, original: Delivery, reply: CloudEvent) -> bool:
        """A subscriber's reply re-enters its broker with the TTL decremented.

        True when stored or dropped on purpose (TTL exhausted, broker gone); False when
        the queue failed, so the original delivery is retried.
        """
        broker = self.config().broker(trigger.namespace, trigger.broker)
        if broker is None:
            metrics.REPLIES.labels(trigger.key, "dropped_no_broker").inc()
            return True
        ttl = _ttl_of(original.event) - 1
        try:
            await self.publish(broker, reply.with_attributes(**{TTL: ttl}), ())
        except Rejected as exc:
            result = "dropped_ttl" if exc.error == "ttl_exhausted" else "dropped_invalid"
            metrics.REPLIES.labels(trigger.key, result).inc()
            logger.warning(
                "reply dropped",
                extra={"trigger": trigger.key, "reason": exc.detail, "event_id": reply.id},
            )
            return True
        except QueueUnavailable:
            metrics.REPLIES.labels(trigger.key, "store_failed").inc()
            return False
        metrics.REPLIES.labels(trigger.key, "accepted").inc()
        return True

    async def endpoint(self, request: Request) -> Response:
        """The HTTP ingress; every status decision is in `_handle`."""
        labels = ["", "", ""]
        try:
            status = await self._handle(request, labels)
        except Rejected as exc:
            status = exc.status
            response: Response = JSONResponse(
                {"error": exc.error, "detail": exc.detail},
                exc.status,
                headers={"Allow": "POST, OPTIONS"} if exc.status == 405 else None,
            )
        else:
            response = (
                Response(status_code=200, headers=_OPTIONS_HEADERS)
                if status == 200
                else Response(status_code=status)
            )
        if request.method == "POST":
            metrics.EVENTS_RECEIVED.labels(
                labels[0], labels[1], labels[2], str(status), metrics.status_class(status)
            ).inc()
        return response

    async def _handle(self, request: Request, labels: list[str]) -> int:
        if request.method == "OPTIONS":
            return 200
        if request.method != "POST":
            raise Rejected(405, "method_not_allowed", "the broker ingress accepts POST only")
        path = request.scope["path"]
        if path == "/":
            raise Rejected(404, "not_found", "POST to /<namespace>/<broker>")
        segments = (path[:-1] if path.endswith("/") else path).split("/")
        if len(segments) != 3 or not segments[1] or not segments[2]:
            raise Rejected(400, "bad_request", "the path must be /<namespace>/<broker>")
        broker = self.config().broker(segments[1], segments[2])
        if broker is None:
            raise Rejected(404, "not_found", f"no broker {segments[1]}/{segments[2]}")
        labels[0], labels[1] = broker.namespace, broker.name
        try:
            body = await read_body(request, self.max_body_bytes)
        except ApiError as exc:
            raise Rejected(exc.status, exc.error, exc.detail) from None
        raw_headers = request.headers.raw
        if media_type(request.headers.get("content-type", "")).startswith(
            "application/cloudevents-batch"
        ):
            raise Rejected(400, "batch_not_supported", "the broker accepts one event per request")
        try:
            message = parse_http(raw_headers, body, max_batch=1)
        except CloudEventError as exc:
            # Knative answers 400 to anything it cannot read as one event.
            status = 413 if exc.status == 413 else 400
            raise Rejected(status, exc.code, exc.detail) from None
        if message.mode is ContentMode.BATCH:
            raise Rejected(400, "batch_not_supported", "the broker accepts one event per request")
        event = message.events[0]
        labels[2] = metrics.event_type_label(event.type)
        try:
            headers = passthrough_headers(raw_headers)
        except UnforwardableHeader as exc:
            raise Rejected(400, "invalid_header", str(exc)) from None
        try:
            await self.publish(broker, event, headers)
        except QueueUnavailable as exc:
            raise Rejected(503, "unavailable", f"the queue cannot store the event: {exc}") from None
        return 202
