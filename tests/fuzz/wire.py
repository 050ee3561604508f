"""A raw HTTP/1.1 client for the hostile fuzzers: it sends header values as the bytes
given (non-ASCII, latin-1, control characters, megabytes), which httpx and h11 refuse
to put on the wire, and it can send the request head a few bytes at a time.

One request per connection (`Connection: close`), so the answer ends at EOF or at its
framing; a connection closed before a complete answer is reported, not hidden.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Header = tuple[bytes, bytes]


class NoAnswer(Exception):
    """The server closed or reset the connection, or timed out, without a whole answer."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: list[Header]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str, path: str, headers: Sequence[Header], body: bytes, *, port: int
) -> bytes:
    """The request as it goes on the wire; framing headers are the client's."""
    head = [f"{method} {path} HTTP/1.1".encode(), f"Host: 127.0.0.1:{port}".encode()]
    head += [name + b": " + value for name, value in headers]
    head += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def exchange(
    port: int,
    method: str,
    path: str,
    headers: Sequence[Header] = (),
    body: bytes = b"",
    *,
    timeout: float = 20.0,
    head_chunk: int | None = None,
    head_pause: float = 0.0,
) -> Reply:
    """Send one request and read the whole answer within `timeout` seconds.

    With `head_chunk`, the request head goes out that many bytes at a time with
    `head_pause` seconds between sends (a slow peer); the body then follows at once.
    """
    data = request_bytes(method, path, headers, body, port=port)
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            if head_chunk is None:
                sock.sendall(data)
            else:
                split = data.index(b"\r\n\r\n") + 4
                for start in range(0, split, head_chunk):
                    sock.sendall(data[start : min(start + head_chunk, split)])
                    time.sleep(head_pause)  # the slow peer's pace, not synchronisation
                sock.sendall(data[split:])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413, 431) and close before reading everything
        return _read_reply(sock, deadline)


def _read_reply(sock: socket.socket, deadline: float) -> Reply:
    received = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoAnswer(f"no complete answer in time; got {bytes(received[:200])!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        received += chunk
        reply = _parse(bytes(received))
        if reply is not None:
            return reply
    reply = _parse(bytes(received), at_eof=True)
    if reply is None:
        raise NoAnswer(f"connection closed after {len(received)} bytes: {bytes(received[:200])!r}")
    return reply


def _parse(data: bytes, *, at_eof: bool = False) -> Reply | None:
    """The reply when `data` holds a complete one, else None."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers: list[Header] = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    rest = data[end + 4 :]
    fields = dict(headers)
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = _dechunk(rest)
        return None if body is None else Reply(status, headers, body)
    if b"content-length" in fields:
        length = int(fields[b"content-length"])
        return Reply(status, headers, rest[:length]) if len(rest) >= length else None
    return Reply(status, headers, rest) if at_eof else None


def _dechunk(data: bytes) -> bytes | None:
    body = bytearray()
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(data[position:line_end].split(b";")[0], 16)
        start = line_end + 2
        if size == 0:
            return bytes(body)
        if len(data) < start + size + 2:
            return None
        body += data[start : start + size]
        position = start + size + 2
