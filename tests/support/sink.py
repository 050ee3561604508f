"""A real CloudEvents HTTP sink for tests: a Starlette app under uvicorn on a free
127.0.0.1 port, run in a background thread of the test process.

It parses every request with the project's strict codec (`common.events.parse_http`,
so a malformed event is answered 400 and recorded as invalid), and it

* records every raw delivery (headers, mode, attributes, data, answer, timing),
* keeps accepted events deduplicated by (source, id), as an idempotent sink would,
  while counting raw deliveries per key,
* notices overlapping deliveries of the same (source, id) (a second copy arriving
  while the first is still being answered),
* can be scripted: answer a given status (with Retry-After) always or N times,
  delay its answers, hold requests until released, go down and come back up.

Standalone: `python -m tests.support.sink [PORT]` (GET /_stats for counts).

Usage::

    with CloudEventSink() as sink:
        ...  # point a producer at sink.url
        sink.wait_for_events(3)
        sink.respond(500, times=2)
        sink.down(); sink.up()
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.events import CloudEvent, CloudEventError, parse_http
from devstack import free_port

EventKey = tuple[str, str]


@dataclass
class Delivery:
    """One HTTP request the sink received, and what it answered."""

    path: str
    headers: list[tuple[str, str]]
    body: bytes
    mode: str | None
    events: list[CloudEvent]
    error: str | None
    status: int = 0
    started: float = 0.0
    finished: float = 0.0

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def keys(self) -> list[EventKey]:
        return [(event.source, event.id) for event in self.events]


@dataclass
class _Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    times: int | None = None  # None: until changed


class CloudEventSink:
    """See the module docstring. Thread-safe: the test thread reads while the
    server thread writes."""

    def __init__(self, port: int | None = None, *, status: int = 202) -> None:
        self.port = port or free_port()
        self._lock = threading.Condition()
        self._deliveries: list[Delivery] = []
        self._accepted: dict[EventKey, CloudEvent] = {}
        self._order: list[EventKey] = []
        self._raw: dict[EventKey, int] = {}
        self._in_flight: dict[EventKey, int] = {}
        self._overlaps: list[EventKey] = []
        self._default = _Answer(status)
        self._script: list[_Answer] = []
        self._delay = 0.0
        self._gate = threading.Event()
        self._gate.set()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def start(self) -> CloudEventSink:
        return self.up()

    def up(self, timeout: float = 10.0) -> CloudEventSink:
        """Listen on the port (the same one after `down()`)."""
        if self._server is not None:
            return self
        config = uvicorn.Config(
            self._app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"sink-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"sink could not listen on port {self.port}")
            if time.monotonic() > deadline:
                raise TimeoutError("sink did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def down(self, timeout: float = 10.0) -> None:
        """Stop listening: producers get connection errors until `up()`."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._gate.set()
        server.should_exit = True
        thread.join(timeout)
        self._server = self._thread = None

    stop = down

    def __enter__(self) -> CloudEventSink:
        return self.up()

    def __exit__(self, *_: object) -> None:
        self.down()

    # -- behaviour -----------------------------------------------------------

    def respond(
        self, status: int, *, times: int | None = None, retry_after: str | None = None
    ) -> None:
        """Answer `status` to the next `times` requests (all of them when None)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        with self._lock:
            if times is None:
                self._default = _Answer(status, headers)
                self._script.clear()
            else:
                self._script.append(_Answer(status, headers, times))

    def delay(self, seconds: float) -> None:
        """Wait this long before answering each request (widens overlap windows)."""
        self._delay = seconds

    def hold(self) -> None:
        """Keep requests in flight (unanswered) until `release()`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    # -- what happened -------------------------------------------------------

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def events(self) -> list[CloudEvent]:
        """Accepted events, one per (source, id), in order of first acceptance."""
        with self._lock:
            return [self._accepted[key] for key in self._order]

    def raw_count(self, source: str, event_id: str) -> int:
        """How many requests carried this event, whatever the answer."""
        with self._lock:
            return self._raw.get((source, event_id), 0)

    def raw_counts(self) -> dict[EventKey, int]:
        with self._lock:
            return dict(self._raw)

    @property
    def overlaps(self) -> list[EventKey]:
        """Keys delivered again while an earlier copy was still in flight."""
        with self._lock:
            return list(self._overlaps)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return sum(self._in_flight.values())

    def wait_until(
        self, predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition"
    ) -> None:
        """Poll `predicate` until true or the deadline passes (then fail loudly)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"sink: {what} not reached in {timeout}s "
                        f"({len(self._order)} events, {len(self._deliveries)} deliveries)"
                    )
                self._lock.wait(min(remaining, 0.05))

    def wait_for_events(self, count: int, timeout: float = 15.0) -> list[CloudEvent]:
        """Wait until at least `count` distinct events were accepted; return them."""
        self.wait_until(lambda: len(self._order) >= count, timeout, f"{count} events")
        return self.events

    def wait_for_deliveries(self, count: int, timeout: float = 15.0) -> list[Delivery]:
        self.wait_until(lambda: len(self._deliveries) >= count, timeout, f"{count} deliveries")
        return self.deliveries

    # -- the app -------------------------------------------------------------

    def _next_answer(self) -> _Answer:
        with self._lock:
            if self._script:
                answer = self._script[0]
                assert answer.times is not None
                answer.times -= 1
                if answer.times <= 0:
                    self._script.pop(0)
                return answer
            return self._default

    async def _receive(self, request: Request) -> Response:
        started = time.monotonic()
        body = await request.body()
        raw_headers = request.scope["headers"]
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw_headers]
        try:
            parsed = parse_http(raw_headers, body)
            delivery = Delivery(
                request.url.path, headers, body, parsed.mode.value, parsed.events, None
            )
        except CloudEventError as exc:
            delivery = Delivery(request.url.path, headers, body, None, [], exc.detail)
            delivery.status, delivery.started, delivery.finished = 400, started, time.monotonic()
            with self._lock:
                self._deliveries.append(delivery)
                self._lock.notify_all()
            return JSONResponse(exc.to_json(), exc.status)
        keys = delivery.keys
        with self._lock:
            for key in keys:
                self._raw[key] = self._raw.get(key, 0) + 1
                if self._in_flight.get(key, 0) > 0:
                    self._overlaps.append(key)
                self._in_flight[key] = self._in_flight.get(key, 0) + 1
        try:
            if self._delay:
                await asyncio.sleep(self._delay)
            if not self._gate.is_set():
                await asyncio.to_thread(self._gate.wait)
            answer = self._next_answer()
        finally:
            with self._lock:
                for key in keys:
                    self._in_flight[key] -= 1
        delivery.status, delivery.started, delivery.finished = (
            answer.status,
            started,
            time.monotonic(),
        )
        with self._lock:
            self._deliveries.append(delivery)
            if 200 <= answer.status < 300:
                for event in delivery.events:
                    key = (event.source, event.id)
                    if key not in self._accepted:
                        self._accepted[key] = event
                        self._order.append(key)
            self._lock.notify_all()
        body_json: dict[str, Any] = {"status": answer.status}
        if answer.status in (202, 204):
            return Response(status_code=answer.status, headers=answer.headers)
        return JSONResponse(body_json, answer.status, headers=answer.headers)

    async def _stats(self, _: Request) -> Response:
        with self._lock:
            return JSONResponse(
                {
                    "events": len(self._order),
                    "deliveries": len(self._deliveries),
                    "overlaps": len(self._overlaps),
                }
            )

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/_stats", self._stats, methods=["GET"]),
                Route("/{path:path}", self._receive, methods=["POST"]),
            ],
        )


def main() -> None:
    """`python -m tests.support.sink [PORT]`: a standalone sink; GET /_stats counts."""
    import signal
    import sys

    sink = CloudEventSink(int(sys.argv[1]) if len(sys.argv) > 1 else None).up()
    print(f"CloudEvents sink on {sink.url} (GET {sink.url}_stats)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    sink.down()


if __name__ == "__main__":
    main()
