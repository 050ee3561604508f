"""A minimal HTTP/1.1 client for the latency driver's POSTs.

The driver must never be what limits a measurement. httpx costs about 1 ms of CPU per
request here, and more as connections grow (httpcore's pool scans every connection
for each request, encode/httpcore#1035; without `sniffio` installed it also retries a
failed import per request, encode/httpcore#1103), so an open loop at 300 requests/s
slowed itself down. This client keeps idle keep-alive connections in a list and
speaks just enough HTTP/1.1 for `POST /v1/user`: a Content-Length body, no chunking.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit


class HttpError(Exception):
    """The server closed the connection or answered something this client cannot read."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


class Http1Client:
    """POSTs to one origin over at most `max_connections` keep-alive connections."""

    def __init__(self, base_url: str, max_connections: int = 256, timeout_s: float = 30.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"need an http://host:port URL, not {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._host_header = parts.netloc.encode()
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._timeout_s = timeout_s

    async def post_json(self, path: str, body: bytes) -> Response:
        """One request; a connection that fails is dropped, never reused."""
        request = (
            b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), self._host_header, len(body), body)
        )
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                response, keep = await asyncio.wait_for(
                    self._exchange(connection, request), self._timeout_s
                )
            except BaseException:
                connection.writer.close()
                raise
            if keep:
                self._idle.append(connection)
            else:
                connection.writer.close()
            return response

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        return _Connection(reader, writer)

    async def _exchange(self, connection: _Connection, request: bytes) -> tuple[Response, bool]:
        connection.writer.write(request)
        try:
            head = await connection.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise HttpError("connection closed before a response") from exc
        lines = head.decode("latin-1").split("\r\n")
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError) as exc:
            raise HttpError(f"bad status line {lines[0]!r}") from exc
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise HttpError("chunked responses are not supported")
        length = int(headers.get("content-length", "0"))
        body = await connection.reader.readexactly(length) if length else b""
        keep = headers.get("connection", "").lower() != "close"
        return Response(status, body), keep

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.writer.close()
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()
        self._idle.clear()
