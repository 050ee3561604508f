"""JSON error responses: every 4xx/5xx body is `{"error": ..., "detail": ...}`."""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.events.errors import CloudEventError

logger = logging.getLogger(__name__)

_HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the client can act on, rendered as JSON with its status."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers
        self.extra = extra


def json_error(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse({"error": error, "detail": detail, **extra}, status, headers=headers)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_error(exc.status, exc.error, exc.detail, exc.headers, **exc.extra)


async def _cloudevent_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, CloudEventError)
    return JSONResponse(exc.to_json(), exc.status)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    return json_error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def _unexpected(_: Request, exc: Exception) -> Response:
    logger.error("unhandled error", exc_info=exc)
    return json_error(500, "internal_error", "the server failed; the request id names it in logs")


EXCEPTION_HANDLERS = {
    ApiError: _api_error,
    CloudEventError: _cloudevent_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
