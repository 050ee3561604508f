"""`GET /v1/events/stream`: a Server-Sent Events live tail with the list filters.

Every event goes out as `id: <seq>`; a client that reconnects with
`Last-Event-ID` (or `?last_event_id=`) gets everything after it. Gap-free
because seq values become visible in order (see writer.SEQ_ORDER_LOCK): the
tail reads the highest committed seq first, then the rows up to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from audit import metrics, params
from audit.queries import EventFilter, EventStore
from audit.records import render_event
from audit.tables import events
from common.db import STORE_UNAVAILABLE
from common.web.errors import ApiError

logger = logging.getLogger(__name__)

PAGE = 500
# A stream re-reads at most this often however many commits arrive meanwhile.
MIN_INTERVAL = 0.1
RETRY_MS = 2000


class CommitSignal:
    """Wakes every waiting stream after a commit, and for good at shutdown."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False

    def notify(self) -> None:
        """Something was committed."""
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        """The service is stopping: streams end so the server can exit."""
        self.closed = True
        self._event.set()

    async def wait(self, at_most: float) -> None:
        """Until the next commit, close, or `at_most` seconds."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), at_most)


class _CountedStream(StreamingResponse):
    """A stream that releases its client slot however it ends."""

    def __init__(self, content: AsyncIterator[bytes], release: Callable[[], None]) -> None:
        super().__init__(
            content,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def _frame(seq: int, payload: bytes) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (seq, payload)


class LiveTail:
    """The SSE endpoint; at most `max_clients` streams at once (503 beyond)."""

    def __init__(
        self,
        store: EventStore,
        signal: CommitSignal,
        *,
        max_clients: int,
        heartbeat: float,
        poll: float,
    ) -> None:
        self._store = store
        self._signal = signal
        self._max_clients = max_clients
        self._heartbeat = heartbeat
        self._poll = poll
        self.clients = 0

    def _release(self) -> None:
        self.clients -= 1
        metrics.SSE_CLIENTS.dec()

    async def endpoint(self, request: Request) -> Response:
        """Open a stream; resume after `Last-Event-ID` when given, else start now."""
        where = params.event_filter(request.query_params)
        last = params.sequence(
            request.headers.get("last-event-id") or request.query_params.get("last_event_id"),
            "Last-Event-ID",
        )
        if self._signal.closed:
            raise ApiError(503, "shutting_down", "the service is stopping; reconnect")
        if self.clients >= self._max_clients:
            raise ApiError(
                503,
                "too_many_streams",
                f"{self._max_clients} live streams are open already; retry later",
                headers={"Retry-After": "5"},
            )
        self.clients += 1
        metrics.SSE_CLIENTS.inc()
        try:
            start = last if last is not None else await self._store.max_seq(events)
        except BaseException:
            self._release()
            raise
        return _CountedStream(self._frames(where, start), self._release)

    async def _frames(self, where: EventFilter, last: int) -> AsyncIterator[bytes]:
        yield b"retry: %d\n: live tail after seq %d\n\n" % (RETRY_MS, last)
        quiet_since = time.monotonic()
        last_read = 0.0
        while not self._signal.closed:
            last_read = time.monotonic()
            try:
                upto = await self._store.max_seq(events)
                while last < upto:
                    rows = await self._store.between(events, where, last, upto, PAGE)
                    for row in rows:
                        yield _frame(row["seq"], orjson.dumps(render_event(row)))
                    quiet_since = time.monotonic() if rows else quiet_since
                    # A short page means nothing else matches up to `upto`.
                    last = rows[-1]["seq"] if len(rows) == PAGE else upto
            except STORE_UNAVAILABLE as exc:
                logger.warning("live tail cannot read the store: %s", type(exc).__name__)
                yield b": store unavailable, retrying\n\n"
            if time.monotonic() - quiet_since >= self._heartbeat:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
            await self._signal.wait(self._poll)
            if not self._signal.closed:
                # Throttle only (at most one read per MIN_INTERVAL): an event after a
                # quiet spell goes out at once; the next read takes everything anyway.
                await asyncio.sleep(max(0.0, MIN_INTERVAL - (time.monotonic() - last_read)))
