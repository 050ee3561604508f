"""The official SDK 2.x parse in a Starlette endpoint, no storage.

`cloudevents.core.bindings.http.from_http_event` with its default JSON format: what a
receiver written today with the SDK costs before it does anything with the event.
Served by uvicorn exactly as the services are (`common.web.server.serve`).
"""

from __future__ import annotations

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.settings import ServiceSettings, load_settings
from common.web.server import serve


def create_app() -> Starlette:
    async def receive(request: Request) -> Response:
        body = await request.body()
        try:
            from_http_event(HTTPMessage(headers=dict(request.headers), body=body))
        except Exception as exc:  # the SDK raises several unrelated types
            return JSONResponse({"error": "invalid_event", "detail": str(exc)}, status_code=400)
        return Response(status_code=204)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/", receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


if __name__ == "__main__":
    serve("bench.baselines.sdk_parse:create_app", load_settings(ServiceSettings), "bench-sdk")
