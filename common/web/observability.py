"""ASGI middleware: request id, traceparent, one JSON access-log line and
Prometheus metrics per request. Never logs bodies or Authorization headers."""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.logs import request_id_var, traceparent_var

logger = logging.getLogger("access")

REQUESTS = Counter(
    "http_requests_total", "HTTP requests by route and status.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# W3C Trace Context: version-traceid-parentid-flags, lower-case hex.
TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class ObservabilityMiddleware:
    """Wraps the whole app so even 404s and errors are counted and logged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id: str | None = None
        traceparent: str | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                text = value.decode("latin-1")
                request_id = text if _REQUEST_ID.fullmatch(text) else None
            elif name == b"traceparent":
                text = value.decode("latin-1").strip()
                traceparent = text if TRACEPARENT.fullmatch(text) else None
        request_id = request_id or uuid.uuid4().hex
        rid_token = request_id_var.set(request_id)
        tp_token = traceparent_var.set(traceparent)
        status = 500
        rid_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            logger.info(
                "%s %s %d",
                method,
                template,
                status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )
            request_id_var.reset(rid_token)
            traceparent_var.reset(tp_token)
