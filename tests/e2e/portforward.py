"""A local TCP listener on 127.0.0.1 that relays each accepted connection to a stream
opened on demand (for the cluster target: the Kubernetes API's pod port-forward).

The relay knows nothing about Kubernetes: `resolve()` says where the next connection
goes (re-evaluated for every connection, so a pod replaced by a rollout or a scale to
zero and back is picked up) and `open_stream(where)` returns a connected socket-like
object. tests/unit/e2e_support drives it with plain socket pairs.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)

W = TypeVar("W")


class StreamSocket(Protocol):
    def fileno(self) -> int: ...
    def recv(self, size: int, /) -> bytes: ...
    def sendall(self, data: bytes, /) -> Any: ...
    def close(self) -> None: ...


class Forwarder:
    """`http://127.0.0.1:<port>` in front of whatever `resolve` names.

    A connection that cannot be opened (no ready pod, API error) is closed at once: the
    client sees a reset, which the suite's polling treats as "not yet".
    """

    def __init__(
        self,
        resolve: Callable[[], W],
        open_stream: Callable[[W], StreamSocket],
        *,
        name: str = "forward",
    ) -> None:
        self._resolve: Callable[[], Any] = resolve
        self._open: Callable[[Any], StreamSocket] = open_stream
        self.name = name
        self.errors: list[str] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._closed = threading.Event()
        self._open_pairs: set[tuple[socket.socket, StreamSocket]] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"{name}-accept", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed.set()
        # shutdown() wakes the thread blocked in accept(); close() alone would not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            pairs = list(self._open_pairs)
        for client, remote in pairs:
            _close_quietly(client)
            _close_quietly(remote)
        self._thread.join(timeout=5)

    def __enter__(self) -> Forwarder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            threading.Thread(
                target=self._serve, args=(client,), name=f"{self.name}-conn", daemon=True
            ).start()

    def _note(self, message: str) -> None:
        log.warning("%s: %s", self.name, message)
        self.errors.append(message)
        del self.errors[:-50]

    def _serve(self, client: socket.socket) -> None:
        try:
            target = self._resolve()
            remote = self._open(target)
        except Exception as exc:  # any failure = refuse this one connection
            self._note(f"cannot open a stream: {type(exc).__name__}: {exc}")
            _close_quietly(client)
            return
        with self._lock:
            self._open_pairs.add((client, remote))
        try:
            relay(client, remote, self._closed)
        except OSError as exc:
            self._note(f"relay ended: {exc}")
        finally:
            with self._lock:
                self._open_pairs.discard((client, remote))
            _close_quietly(client)
            _close_quietly(remote)


def relay(a: StreamSocket, b: StreamSocket, stop: threading.Event, chunk: int = 65536) -> None:
    """Copy bytes both ways until either side reaches EOF or `stop` is set."""
    peers = {a.fileno(): (a, b), b.fileno(): (b, a)}
    while not stop.is_set():
        readable, _, _ = select.select(list(peers), [], [], 0.5)
        for fd in readable:
            source, sink = peers[fd]
            data = source.recv(chunk)
            if not data:
                return
            sink.sendall(data)


def _close_quietly(sock: StreamSocket) -> None:
    with contextlib.suppress(OSError):
        sock.close()
