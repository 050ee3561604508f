"""Wiring: settings, manifests, queue, dispatcher, ingress, reloads, routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from broker.delivery import DeliverySpec
from broker.dispatcher import Dispatcher, DispatchSettings
from broker.ingress import Ingress
from broker.manifests import load_config
from broker.queue import DeliveryQueue
from broker.reload import LiveConfig, watch
from broker.settings import BrokerSettings
from common.settings import load_settings
from common.web.errors import EXCEPTION_HANDLERS
from common.web.health import health_routes
from common.web.observability import ObservabilityMiddleware

logger = logging.getLogger(__name__)

SHUTDOWN_GRACE = 5.0


class _AnyMethod:
    """An endpoint that sees every HTTP method (Starlette gives functions GET only)."""

    def __init__(self, app: Any) -> None:
        self.app = request_response(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _delivery_json(spec: DeliverySpec) -> dict[str, Any]:
    return {
        "retry": spec.retry,
        "backoffPolicy": spec.backoff_policy,
        "backoffDelaySeconds": spec.backoff_delay,
        "timeoutSeconds": spec.timeout,
        "deadLetterSink": spec.dead_letter_sink,
        "format": spec.format,
    }


def create_app(settings: BrokerSettings | None = None) -> Starlette:
    """The broker ASGI app (uvicorn factory)."""
    settings = settings or load_settings(BrokerSettings)
    # One line per delivery attempt would drown the log; failures are logged by us.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    live = LiveConfig(
        load_config(settings.broker_manifests, settings.broker_services),
        settings.broker_manifests,
        settings.broker_services,
    )
    queue = DeliveryQueue(settings.queue_path)
    client = httpx.AsyncClient(
        limits=httpx.Limits(
            max_connections=settings.broker_max_connections,
            max_keepalive_connections=settings.broker_max_connections,
        ),
        timeout=None,  # noqa: S113 - each request sets its Trigger's timeout
        follow_redirects=False,
        trust_env=False,
        # Bodies are read raw and bounded (broker/dispatcher.py): no compressed answers.
        headers={"accept-encoding": "identity"},
    )
    dispatcher = Dispatcher(
        queue,
        client,
        DispatchSettings(
            concurrency=settings.broker_delivery_concurrency,
            backlog_limit=settings.broker_backlog_limit,
            backlog_bytes=settings.broker_backlog_bytes,
            default_timeout=settings.broker_delivery_timeout,
            # A reply re-enters the ingress, so it gets the ingress's body limit.
            max_response_bytes=settings.max_body_bytes,
        ),
        on_reply=lambda trigger, delivery, reply: ingress.reply(trigger, delivery, reply),
    )
    ingress = Ingress(
        lambda: live.current,
        queue,
        dispatcher,
        settings.max_body_bytes,
        max_attribute_bytes=settings.broker_max_attribute_bytes,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await queue.open()
        await dispatcher.start(live.current)
        live.subscribe(dispatcher.apply)
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch(live, stop)) if settings.broker_watch else None
        for broker in live.current.brokers.values():
            logger.info(
                "broker ingress",
                extra={
                    "url": f"http://{settings.host}:{settings.port}/{broker.namespace}/{broker.name}",
                    "triggers": [t.name for t in live.current.triggers_of(broker)],
                },
            )
        try:
            yield
        finally:
            stop.set()
            if watcher is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(watcher, 5)
            await dispatcher.stop(SHUTDOWN_GRACE)
            await client.aclose()
            await queue.close()

    async def triggers(_: Request) -> Response:
        config = live.current
        return JSONResponse(
            {
                "generation": live.generation,
                "last_error": live.last_error,
                "brokers": [
                    {
                        "namespace": b.namespace,
                        "name": b.name,
                        "path": f"/{b.namespace}/{b.name}",
                        "class": b.broker_class,
                        "delivery": _delivery_json(b.delivery),
                    }
                    for b in config.brokers.values()
                ],
                "triggers": [
                    {
                        "namespace": t.namespace,
                        "name": t.name,
                        "broker": t.broker,
                        "file": t.file,
                        "subscriber": t.subscriber,
                        "delivery": _delivery_json(t.delivery),
                        "lane": (
                            dict(dispatcher.lanes[t.key].snapshot())
                            if t.key in dispatcher.lanes
                            else None
                        ),
                    }
                    for t in config.triggers.values()
                ],
            }
        )

    routes = [
        *health_routes(lambda: {"queue": queue.ping}),
        Route("/triggers", triggers, methods=["GET"]),
        Route("/{path:path}", _AnyMethod(ingress.endpoint)),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(ObservabilityMiddleware)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
