"""uvicorn's httptools protocol with a deadline and a size limit for the request head.

uvicorn's keep-alive timer only runs between requests, so a client that connects
and sends nothing, or sends headers a byte at a time, would hold a connection
forever. Here the head of every request must arrive within `HEADER_TIMEOUT`.

httptools buffers a header until its end, however long, so a 64 MiB header costs
that much memory before any handler sees it. Here the bytes of an unfinished head
are counted before they reach the parser: past `MAX_HEAD_BYTES` the answer is 431
(RFC 6585 §5) and the connection closes.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0
# Request line and headers together; Envoy's default limit is 60 KiB.
MAX_HEAD_BYTES = 64 * 1024
_HEAD_END = b"\r\n\r\n"
_TIMEOUT_BODY = b'{"error":"request_timeout","detail":"request headers did not arrive in time"}'
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


_TOO_LARGE_BODY = (
    b'{"error":"request_header_fields_too_large",'
    b'"detail":"request line and headers exceed %d bytes"}' % MAX_HEAD_BYTES
)
_TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """Closes connections whose request head is not complete within the deadline,
    and answers 431 to a head larger than MAX_HEAD_BYTES before buffering it."""

    _head_timer: asyncio.TimerHandle | None = None
    # Bytes of the current request head seen so far, while it is incomplete.
    _head_bytes = 0
    _in_head = True
    # The last bytes of the previous chunk: the head's end may span two chunks.
    _tail = b""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._in_head and self._head_too_large(data):
            self._refuse_head()
            return
        super().data_received(data)

    def _head_too_large(self, data: bytes) -> bool:
        window = self._tail + data
        end = window.find(_HEAD_END)
        if end >= 0:
            # Bytes after the head (a body, a pipelined request) are not head bytes.
            return self._head_bytes + end + len(_HEAD_END) - len(self._tail) > MAX_HEAD_BYTES
        self._head_bytes += len(data)
        self._tail = window[-(len(_HEAD_END) - 1) :]
        return self._head_bytes > MAX_HEAD_BYTES

    def _refuse_head(self) -> None:
        self._disarm()
        if self.transport.is_closing():
            return
        # A response of an earlier request on this connection may still be under way.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_TOO_LARGE_RESPONSE)
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The next head starts here; what of it came in the same chunk goes uncounted
        # (at most one read, 256 KiB), every later chunk counts.
        self._in_head, self._head_bytes, self._tail = True, 0, b""

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
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_RESPONSE)
            self.transport.close()
