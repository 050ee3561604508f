"""Raw-socket HTTP clients for hostile behaviour httpx will not produce: headers sent a
byte at a time, bodies slower than any timeout, streams opened and never read."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path


def connect(port: int, *, rcvbuf: int | None = None, timeout: float = 5.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        # Before connect, so the advertised window is small from the start.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_head(sock: socket.socket, limit: int = 65536) -> tuple[int, bytes]:
    """Read until the end of the response head; (status, head bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed before the response head: {data[:200]!r}")
        data += chunk
        if len(data) > limit:
            raise ValueError("response head too large")
    head = data.split(b"\r\n\r\n", 1)[0]
    status = int(head.split(b" ", 2)[1])
    return status, data


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the server has closed (EOF, reset) or answered (e.g. 408) and closed."""
    sock.setblocking(False)
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def trickle(sock: socket.socket, byte: bytes) -> bool:
    """Send one more byte; False when the server has closed the connection."""
    try:
        sock.send(byte)
    except OSError:
        return False
    return True


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.close()


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError("no VmRSS")


def wait_closed(sockets: list[socket.socket], deadline: float, feeds: list[bytes]) -> list[bool]:
    """Poll until every socket is closed by the server or `deadline` (monotonic) passes.
    While waiting, each socket sends the next byte of its `feeds` entry every round (a
    slow client keeps trickling; `b""` sends nothing). Returns, per socket, whether the
    server cut it off."""
    cut = [False] * len(sockets)
    position = 0
    while time.monotonic() < deadline and not all(cut):
        for index, sock in enumerate(sockets):
            if cut[index]:
                continue
            feed = feeds[index]
            byte = feed[position % len(feed) : position % len(feed) + 1] if feed else b""
            if closed_by_peer(sock) or (byte and not trickle(sock, byte)):
                cut[index] = True
        position += 1
        time.sleep(0.5)  # the trickle rate of a slow client, not synchronisation
    return cut
