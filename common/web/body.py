"""Reading request bodies within a size limit, and strict JSON bodies."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from common.web.errors import ApiError


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body exceeds {limit} bytes", limit=limit)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
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
