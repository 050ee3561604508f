"""The read API: lists with filters and cursors, one event by (source, id),
counts per type, and NDJSON exports. Handlers only translate HTTP <-> queries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import orjson
from sqlalchemy import Table
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from audit import params
from audit.queries import EventStore
from audit.records import render_dead_letter, render_event
from audit.responses import JsonResponse
from audit.tables import dead_letters, events
from common.web.errors import ApiError

Renderer = Callable[[Mapping[Any, Any]], dict[str, Any]]


def _key_from_path(request: Request, prefix: str) -> tuple[str, str]:
    # The source is one URL-encoded segment ("%2Fusers"); the decoded path has
    # lost that boundary, so split the raw path instead.
    raw = request.scope.get("raw_path") or request.scope["path"].encode()
    tail = raw.decode("latin-1")[len(prefix) :]
    parts = tail.split("/")
    if len(parts) != 2 or not all(parts):
        raise ApiError(
            404,
            "not_found",
            f"use {prefix}<url-encoded source>/<url-encoded id>",
        )
    return unquote(parts[0], errors="strict"), unquote(parts[1], errors="strict")


class ReadApi:
    """Endpoints over one EventStore."""

    def __init__(self, store: EventStore) -> None:
        self._store = store

    async def _list(self, request: Request, table: Table, render: Renderer) -> Response:
        query = request.query_params
        where = params.event_filter(query)
        order = params.order(query)
        limit = params.limit(query)
        after = params.cursor(query, order)
        page = await self._store.page(table, where, limit=limit, order=order, after=after)
        return JsonResponse(
            {"items": [render(row) for row in page.rows], "next_cursor": page.next_cursor}
        )

    async def list_events(self, request: Request) -> Response:
        """`GET /v1/events`."""
        return await self._list(request, events, render_event)

    async def list_dead_letters(self, request: Request) -> Response:
        """`GET /v1/dead-letters`."""
        return await self._list(request, dead_letters, render_dead_letter)

    async def _one(self, request: Request, table: Table, prefix: str, render: Renderer) -> Response:
        try:
            source, event_id = _key_from_path(request, prefix)
        except UnicodeDecodeError as exc:
            raise ApiError(400, "invalid_parameter", "path is not valid UTF-8") from exc
        known = params.is_attribute_string(source) and params.is_attribute_string(event_id)
        row = await self._store.one(table, source, event_id) if known else None
        if row is None:
            raise ApiError(
                404, "not_found", "no event with this source and id", source=source, id=event_id
            )
        return JsonResponse(render(row))

    async def event(self, request: Request) -> Response:
        """`GET /v1/events/{source}/{id}`, both URL-encoded."""
        return await self._one(request, events, "/v1/events/", render_event)

    async def dead_letter(self, request: Request) -> Response:
        """`GET /v1/dead-letters/{source}/{id}`: the newest dead letter of that event."""
        return await self._one(request, dead_letters, "/v1/dead-letters/", render_dead_letter)

    async def stats(self, _: Request) -> Response:
        """`GET /v1/stats`: stored events per type, total, dead letters."""
        return JsonResponse(await self._store.counts())

    def _export(self, request: Request, table: Table, render: Renderer, name: str) -> Response:
        query = request.query_params
        where = params.event_filter(query)
        order = params.order(query, default="asc")

        async def lines() -> AsyncIterator[bytes]:
            async for row in self._store.scan(table, where, order):
                yield orjson.dumps(render(row), option=orjson.OPT_APPEND_NEWLINE)

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return StreamingResponse(
            lines(),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.ndjson"'},
        )

    async def export_events(self, request: Request) -> Response:
        """`GET /v1/events/export`: NDJSON, oldest first unless `order=desc`."""
        return self._export(request, events, render_event, "audit-events")

    async def export_dead_letters(self, request: Request) -> Response:
        """`GET /v1/dead-letters/export`."""
        return self._export(request, dead_letters, render_dead_letter, "audit-dead-letters")
