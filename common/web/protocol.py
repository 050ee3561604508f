"""uvicorn's httptools protocol with a deadline and a size limit for the request head.

uvicorn's keep-alive timer only runs between requests, so a client that connects
and sends nothing, or sends headers a byte at a time, would hold a connection
forever. Here the head of every request must arrive within `HEADER_TIMEOUT`, and
be at most `MAX_HEADER_BYTES` long (httptools sets no limit: 431 and close).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
# Request line and headers together; Envoy (Contour) refuses more than 60 KiB by default.
MAX_HEADER_BYTES = 64 * 1024
_TIMEOUT_BODY = b'{"error":"request_timeout","detail":"request headers did not arrive in time"}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)

_TOO_LARGE_BODY = (
    b'{"error":"request_header_fields_too_large","detail":"request headers exceed %d bytes"}'
    % MAX_HEADER_BYTES
)
_TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """Closes connections whose request head is late (408) or too large (431)."""

    _head_timer: asyncio.TimerHandle | None = None
    _head_bytes: int | None = 0  # bytes of the coming head so far; None while in a body
    _head_tail = b""  # the last bytes seen, for an end of head split across reads

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._arm()

    def data_received(self, data: bytes) -> None:
        # Measured before parsing: httptools would hold a head of any size in memory.
        if self._head_bytes is not None:
            end = (self._head_tail + data).find(b"\r\n\r\n")
            read = len(data) if end < 0 else end + 4 - len(self._head_tail)
            self._head_bytes += read
            self._head_tail = data[-3:]
            if self._head_bytes > MAX_HEADER_BYTES:
                self._head_bytes = None
                self._refuse(_TOO_LARGE_RESPONSE)
                return
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # What comes next on this connection is the head of the next request.
        self._head_bytes, self._head_tail = 0, b""

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(HEADER_TIMEOUT, self._expire)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expire(self) -> None:
        self._head_timer = None
        # Between requests uvicorn's own keep-alive timer is in charge.
        if self.cycle is not None and not self.cycle.response_complete:
            return
        self._refuse(_TIMEOUT_RESPONSE)

    def _refuse(self, response: bytes) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        # A pipelined head while a response is still being sent: only close.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(response)
        self.transport.close()
