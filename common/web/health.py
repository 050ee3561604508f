"""`/healthz` (alive), `/readyz` (dependencies ready) and `/metrics`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

logger = logging.getLogger(__name__)

# A check returns None when ready, or a short reason when not.
ReadinessCheck = Callable[[], Awaitable[str | None]]
READINESS_TIMEOUT = 2.0


async def _run(check: ReadinessCheck) -> str | None:
    try:
        return await asyncio.wait_for(check(), READINESS_TIMEOUT)
    except TimeoutError:
        return "timed out"
    except Exception as exc:  # a failing dependency is a status, not a crash
        return f"{type(exc).__name__}: {exc}"


def health_routes(checks: Callable[[], Mapping[str, ReadinessCheck]]) -> list[Route]:
    """The three operational routes; `checks` is read at request time."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        named = checks()
        results = await asyncio.gather(*(_run(c) for c in named.values()))
        report = {name: (problem or "ok") for name, problem in zip(named, results, strict=True)}
        ready = all(problem is None for problem in results)
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": report},
            200 if ready else 503,
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
