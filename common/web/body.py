"""Reading request bodies within a size limit, and strict JSON bodies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from common.web.errors import ApiError


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes", limit=limit)


# A slow-body client must not hold a worker slot and a connection forever.
BODY_TIMEOUT = 10.0


async def read_body(request: Request, limit: int, deadline: float = BODY_TIMEOUT) -> bytes:
    """The whole body, or 413 as soon as it is known to exceed `limit` bytes,
    or 408 when it does not arrive within `deadline` seconds."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(deadline):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408,
            "request_timeout",
            f"request body did not arrive within {deadline:g} s",
            headers={"Connection": "close"},
        ) from None
    except ClientDisconnect:
        # Nobody will read the answer; a 4xx keeps it out of the error log and metrics.
        raise ApiError(400, "client_disconnected", "the client closed the connection") from None
    return b"".join(chunks)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request, limit: int) -> Any:
    """A JSON body: 415 unless Content-Type is JSON, 413 over `limit`, 400 if malformed."""
    content_type = request.headers.get("content-type", "")
    mtype = content_type.split(";", 1)[0].strip().lower()
    if mtype != "application/json" and not mtype.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", "send the body as Content-Type: application/json"
        )
    body = await read_body(request, limit)
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from exc
