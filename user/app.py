"""Wiring: settings -> engine, store, hasher, auth, outbox relay -> Starlette app."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.db import STORE_UNAVAILABLE, create_engine, normalize_url
from common.migrations import Migrations
from common.settings import load_settings
from common.startup import RetryingStartup
from common.web.errors import EXCEPTION_HANDLERS, json_error
from common.web.health import ReadinessCheck, health_routes
from common.web.observability import ObservabilityMiddleware
from user.api import UserApi
from user.auth import Authenticator, LoginThrottle
from user.batching import CommitBatcher
from user.openapi import openapi_document
from user.outbox import EventFactory, OutboxQueue
from user.passwords import Argon2Params, HashingBusy, PasswordHasher
from user.relay import EventSender, OutboxRelay, RelayTiming
from user.settings import UserSettings
from user.sink_token import TokenFile
from user.store import UserStore

logger = logging.getLogger("user")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


async def _store_unavailable(_: Request, exc: Exception) -> Response:
    logger.warning("store unavailable", extra={"error": type(exc).__name__})
    return json_error(
        503, "store_unavailable", "the database is unavailable; retry later", {"Retry-After": "1"}
    )


async def _hashing_busy(_: Request, exc: Exception) -> Response:
    return json_error(
        503,
        "busy",
        "too many passwords are being hashed right now; retry later",
        {"Retry-After": "1"},
        retry_after=1,
    )


def _relay_id() -> str:
    # Unique per process incarnation: a restarted process must not reuse old claims.
    return f"{socket.gethostname()}-{os.getpid()}"


def _relay(
    settings: UserSettings, queue: OutboxQueue
) -> tuple[OutboxRelay, httpx.AsyncClient | None]:
    relay_id = _relay_id()
    timing = RelayTiming(
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval,
        backoff_base=settings.relay_backoff_base,
        backoff_max=settings.relay_backoff_max,
        send_timeout=settings.relay_send_timeout,
        lease=settings.relay_lease,
        max_attempts=settings.relay_max_attempts,
        concurrency=settings.relay_concurrency,
        retention=settings.outbox_retention,
        prune_interval=settings.outbox_prune_interval,
    )
    if settings.k_sink is None:
        return OutboxRelay(queue, None, relay_id, timing), None
    # Item 91: a sink must not redirect, so a 3xx is an answer (it parks), never followed.
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(
            settings.relay_send_timeout, connect=min(5.0, settings.relay_send_timeout)
        ),
        follow_redirects=False,
        # K_SINK is the only destination: proxy variables meant for other tools must not reroute it.
        trust_env=False,
        limits=httpx.Limits(
            max_connections=settings.relay_concurrency + 2,
            max_keepalive_connections=settings.relay_concurrency,
        ),
    )
    sender = EventSender(
        settings.k_sink,
        settings.event_mode,
        settings.k_ce_overrides,
        client,
        user_agent=f"knative-user-audit-user/1 relay/{relay_id}",
        token=TokenFile(settings.relay_token_file) if settings.relay_token_file else None,
    )
    return OutboxRelay(queue, sender, relay_id, timing), client


def create_app(settings: UserSettings | None = None) -> Starlette:
    """The user service (uvicorn calls this with no arguments)."""
    settings = settings or load_settings(UserSettings)
    database_url = settings.effective_database_url("user")
    engine = create_engine(database_url)
    migrations = Migrations(MIGRATIONS)
    writes = CommitBatcher(engine, max_batch=settings.write_batch_max)
    store = UserStore(engine, writes)
    hasher = PasswordHasher(
        Argon2Params(
            time_cost=settings.argon2_time_cost,
            memory_kib=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        ),
        settings.hashes_at_once,
        settings.hash_queue_limit,
    )
    throttle = LoginThrottle(
        settings.login_window_seconds,
        per_ip=settings.login_max_failures_per_ip,
        per_user=settings.login_max_failures_per_user,
    )
    auth = Authenticator(store, hasher, settings.user_admin_token, throttle)
    relay, client = _relay(settings, OutboxQueue(engine))
    # Every commit wakes the relay: the event leaves milliseconds after the answer.
    writes.after_commit = relay.wake
    api = UserApi(
        store=store,
        hasher=hasher,
        auth=auth,
        events=EventFactory(settings.event_source, settings.base_url),
        base_url=settings.base_url,
        max_body_bytes=settings.max_body_bytes,
        password_min_length=settings.password_min_length,
    )
    document = openapi_document(settings.base_url)

    async def sink_check() -> str | None:
        if settings.k_sink is None:
            return "K_SINK is not set: users are stored, events wait in the outbox"
        return None

    async def relay_check() -> str | None:
        return None if relay.running else "the outbox relay is not running"

    async def database_check() -> str | None:
        return await migrations.check(engine)

    checks: Mapping[str, ReadinessCheck] = {
        "database": database_check,
        "sink": sink_check,
        "relay": relay_check,
    }

    async def openapi(_: Request) -> Response:
        return JSONResponse(document)

    async def migrate_then_relay() -> None:
        await migrations.upgrade(engine)
        relay.start()

    startup = RetryingStartup("migrations", migrate_then_relay, logger)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        logger.info(
            "user service starting",
            extra={
                "sink": settings.k_sink or "none (K_SINK unset: events wait in the outbox)",
                "event_mode": settings.event_mode,
                "event_source": settings.event_source,
                "ce_overrides": sorted(settings.k_ce_overrides),
                "sink_auth": f"bearer token from {settings.relay_token_file}"
                if settings.relay_token_file
                else "none",
                "public_base_url": settings.base_url,
                "database": normalize_url(database_url).render_as_string(hide_password=True),
                "relay_id": relay.relay_id,
                "argon2": f"t={settings.argon2_time_cost} m={settings.argon2_memory_kib}KiB "
                f"p={settings.argon2_parallelism}",
                "hash_concurrency": settings.hashes_at_once,
                "hash_queue_limit": settings.hash_queue_limit,
            },
        )
        await hasher.warm_up()
        # Before the migrations: a request meanwhile fails on the database (503), not on
        # a writer that is not running.
        writes.start()
        try:
            async with startup.in_background():
                yield
        finally:
            # uvicorn has stopped accepting and finished in-flight requests by now.
            await writes.stop()
            await relay.stop()
            if client is not None:
                await client.aclose()
            hasher.close()
            await engine.dispose()
            logger.info("user service stopped")

    handlers = dict(EXCEPTION_HANDLERS)
    for error_type in STORE_UNAVAILABLE:
        handlers[error_type] = _store_unavailable
    handlers[HashingBusy] = _hashing_busy
    return Starlette(
        routes=[
            *api.routes(),
            Route("/openapi.json", openapi, methods=["GET"]),
            *health_routes(lambda: checks),
        ],
        exception_handlers=handlers,
        middleware=[Middleware(ObservabilityMiddleware)],
        lifespan=lifespan,
    )
