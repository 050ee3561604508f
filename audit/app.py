"""Wiring of the audit service: settings -> engine, writer, endpoints, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from audit.auth import ReadAuth
from audit.delivery_auth import DeliveryAuth, OidcVerifier
from audit.openapi import openapi_document
from audit.queries import EventStore
from audit.read_api import ReadApi
from audit.responses import JsonResponse
from audit.settings import AuditSettings
from audit.sink import RETRY_AFTER_SECONDS, Sink
from audit.stream import CommitSignal, LiveTail
from audit.writer import GroupCommitWriter
from common.db import STORE_UNAVAILABLE, DatabaseFileWatch, create_engine, sqlite_path
from common.migrations import Migrations
from common.settings import load_settings
from common.startup import RetryingStartup
from common.web.errors import EXCEPTION_HANDLERS, json_error
from common.web.health import ReadinessCheck, health_routes
from common.web.observability import ObservabilityMiddleware

logger = logging.getLogger("audit")

PACKAGE = Path(__file__).resolve().parent
STATIC = PACKAGE / "static"
MIGRATIONS = PACKAGE / "migrations"
# The page holds no data (it fetches it with the token), so it is served to anyone.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def _store_unavailable(_: Request, exc: Exception) -> Response:
    logger.warning("request failed, the store is unavailable: %s", type(exc).__name__)
    return json_error(
        503,
        "store_unavailable",
        "the event store cannot be read right now; retry",
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


# A request that fails because the database is unreachable is a 503, not a 500.
APP_EXCEPTION_HANDLERS = {
    **EXCEPTION_HANDLERS,
    **dict.fromkeys(STORE_UNAVAILABLE, _store_unavailable),
}


def _on_stop_signal(callback: Callable[[], None]) -> None:
    """Also run `callback` when the server is told to stop. uvicorn waits for open
    responses before shutting the app down, so live streams must end first."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(number)
        if not callable(previous):
            continue

        def handler(signum: int, frame: Any, previous: Callable[..., Any] = previous) -> None:
            loop.call_soon_threadsafe(callback)
            previous(signum, frame)

        signal.signal(number, handler)


class _StoreLifecycle:
    """Schema migration (retried until the database answers), then the writer."""

    def __init__(self, engine: AsyncEngine, writer: GroupCommitWriter) -> None:
        self.engine = engine
        self.writer = writer
        self.migrations = Migrations(MIGRATIONS)
        self.startup = RetryingStartup("migrations", self.prepare, logger)

    async def prepare(self) -> None:
        """Migrate to head, then accept writes."""
        await self.migrations.upgrade(self.engine)
        self.writer.start()
        logger.info("store ready", extra={"schema": self.migrations.head})

    def checks(self) -> Mapping[str, ReadinessCheck]:
        """Readiness: the database answers and is at head, and the writer runs and
        can commit (after a failed commit, e.g. a full disk, until a write succeeds)."""

        async def writer() -> str | None:
            if not self.writer.running:
                return "not accepting writes yet"
            if self.writer.failing or self.writer.database_file_problem() is not None:
                return await self.writer.probe()
            return None

        return {"database": lambda: self.migrations.check(self.engine), "writer": writer}


def create_app(settings: AuditSettings | None = None) -> Starlette:
    """The audit service as a Starlette app (settings from the environment by default)."""
    settings = settings or load_settings(AuditSettings)
    database_url = settings.effective_database_url("audit")
    engine = create_engine(database_url)
    commits = CommitSignal()
    writer = GroupCommitWriter(
        engine,
        max_batch_rows=settings.write_batch_rows,
        max_pending_rows=settings.max_pending_rows,
        stall_timeout=settings.store_timeout_seconds,
        on_commit=commits.notify,
        database_file=DatabaseFileWatch(sqlite_path(engine)),
    )
    store = _StoreLifecycle(engine, writer)
    events = EventStore(engine)
    sink = Sink(
        writer,
        max_body_bytes=settings.max_body_bytes,
        max_batch_size=settings.max_batch_size,
    )
    reader = ReadApi(events)
    tail = LiveTail(
        events,
        commits,
        max_clients=settings.max_sse_clients,
        heartbeat=settings.sse_heartbeat_seconds,
        poll=settings.sse_poll_seconds,
    )
    auth = ReadAuth(settings.read_token())
    guard = auth.guard
    oidc = settings.oidc()
    delivery = DeliveryAuth(OidcVerifier(oidc) if oidc else None)
    page = (STATIC / "index.html").read_bytes()
    openapi = openapi_document()

    async def index(_: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    async def openapi_json(_: Request) -> Response:
        return JsonResponse(openapi)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        logger.info(
            "audit starting",
            extra={
                "database": make_url(database_url).render_as_string(hide_password=True),
                "read_api": "token required" if auth.required else "open",
                "delivery_auth": delivery.describe(),
                "max_batch_size": settings.max_batch_size,
                "max_sse_clients": settings.max_sse_clients,
            },
        )
        if not auth.required:
            logger.warning("AUDIT_READ_TOKEN is not set: the read API and event data are open")
        _on_stop_signal(commits.close)
        try:
            async with store.startup.in_background():
                yield
        finally:
            commits.close()
            await writer.close()
            await engine.dispose()
            logger.info("audit stopped")

    routes: list[BaseRoute] = [
        Route("/", index, methods=["GET"]),
        Route("/", delivery.guard(sink.receive), methods=["POST"]),
        Route("/dead-letter", delivery.guard(sink.dead_letter), methods=["POST"]),
        Route("/v1/events", guard(reader.list_events), methods=["GET"]),
        Route("/v1/events/stream", guard(tail.endpoint), methods=["GET"]),
        Route("/v1/events/export", guard(reader.export_events), methods=["GET"]),
        Route("/v1/events/{key:path}", guard(reader.event), methods=["GET"]),
        Route("/v1/dead-letters", guard(reader.list_dead_letters), methods=["GET"]),
        Route("/v1/dead-letters/export", guard(reader.export_dead_letters), methods=["GET"]),
        Route("/v1/dead-letters/{key:path}", guard(reader.dead_letter), methods=["GET"]),
        Route("/v1/stats", guard(reader.stats), methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *health_routes(store.checks),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(ObservabilityMiddleware)],
        exception_handlers=APP_EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
