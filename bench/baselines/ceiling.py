"""Ceiling: the least a Starlette endpoint can do with an event (read the body, 204).

Also the fast subscriber for the broker fan-out run: it counts what it receives and
when, so the harness can tell when every delivery has arrived (`GET /stats`).
Served by uvicorn exactly as the services are (`common.web.server.serve`).
"""

from __future__ import annotations

import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.settings import ServiceSettings, load_settings
from common.web.server import serve


class ReceiveCounter:
    """Requests received and wall-clock time of the first and the last one."""

    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    def hit(self) -> None:
        now = time.time()
        if self.count == 0:
            self.first = now
        self.count += 1
        self.last = now


def create_app() -> Starlette:
    counter = ReceiveCounter()

    async def receive(request: Request) -> Response:
        await request.body()
        counter.hit()
        return Response(status_code=204)

    async def stats(request: Request) -> Response:
        return JSONResponse({"count": counter.count, "first": counter.first, "last": counter.last})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/", receive, methods=["POST"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


if __name__ == "__main__":
    serve("bench.baselines.ceiling:create_app", load_settings(ServiceSettings), "bench-ceiling")
