"""A subscriber that records which event ids reached which path, whatever the event
looks like: it never parses the CloudEvent (a strict parser could refuse a hostile
one and hide where it went), it only reads `ce-id` or a structured body's `id`.

`POST /fail...` answers 500 (so the broker retries, then dead-letters); every other
path answers 202. Runs under uvicorn in a thread of the test process.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devstack import free_port


def event_id(headers: list[tuple[bytes, bytes]], body: bytes) -> str | None:
    """The event id of a binary (`ce-id`) or structured (`"id"` in the body) request."""
    for name, value in headers:
        if name.lower() == b"ce-id":
            return value.decode("latin-1")
    try:
        document = json.loads(body)
    except ValueError:
        return None
    found = document.get("id") if isinstance(document, dict) else None
    return found if isinstance(found, str) else None


class Recorder:
    """`with Recorder() as rec:` ... `rec.wait_for("/all", id, timeout)`."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Condition()
        self._seen: dict[str, set[str]] = defaultdict(set)
        self.requests = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        found = event_id(request.scope["headers"], body)
        path = request.url.path
        with self._lock:
            self.requests += 1
            if found is not None:
                self._seen[path].add(found)
            self._lock.notify_all()
        return Response(status_code=500 if path.startswith("/fail") else 202)

    def seen(self, path: str, wanted: str) -> bool:
        with self._lock:
            return wanted in self._seen[path]

    def wait_for(self, path: str, wanted: str, timeout: float) -> bool:
        """Poll (on the condition) until `wanted` reached `path`; False at the deadline."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while wanted not in self._seen[path]:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.1))
        return True

    def __enter__(self) -> Recorder:
        app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"recorder-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"recorder could not listen on port {self.port}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
