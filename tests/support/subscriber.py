"""A scriptable CloudEvents subscriber: a real HTTP server on a free loopback port.

It records every request (arrival time, method, path, headers, body) and answers
from a script: a list of `Answer`s used in order, then `default`. An answer can
delay, to play a slow subscriber. Runs in a thread of the test process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int = 202
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() on arrival
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; the last value wins
    body: bytes

    @property
    def ce(self) -> dict[str, str]:
        """Binary-mode attributes: the ce-* headers without the prefix."""
        return {k[3:]: v for k, v in self.headers.items() if k.startswith("ce-")}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A broker killed mid-request resets the connection; that is the test's point.
        return


class Subscriber:
    """`with Subscriber([...]) as sub:` ... `sub.wait_for(3)`."""

    def __init__(
        self,
        script: Sequence[Answer] = (),
        default: Answer | None = None,
        answer: Callable[[Received], Answer] | None = None,
        port: int = 0,
    ) -> None:
        self.script = list(script)
        self.default = default or Answer()
        self.answer = answer
        self.requests: list[Received] = []
        self._lock = threading.Condition()
        self._closing = threading.Event()
        subscriber = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(
                    time.monotonic(),
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                reply = subscriber._record(received)
                if reply.delay:
                    subscriber._closing.wait(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.body:
                    self.wfile.write(reply.body)

            do_POST = _serve  # noqa: N815
            do_PUT = _serve  # noqa: N815

        self.server = _QuietServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _record(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            self._lock.notify_all()
            if self.answer is not None:
                return self.answer(received)
            if self.script:
                return self.script.pop(0)
            return self.default

    def start(self) -> Subscriber:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least `count` requests arrived; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{self.url}: {len(self.requests)} requests after {timeout}s, "
                        f"expected {count}"
                    )
                self._lock.wait(left)
            return list(self.requests)

    def reset(self) -> None:
        """Forget what was received (for a subscriber shared between tests)."""
        with self._lock:
            self.requests.clear()

    def on(self, path: str) -> list[Received]:
        """The requests that came to `path`."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_on(self, path: str, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `path` got at least `count` requests."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len([r for r in self.requests if r.path == path]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = len([r for r in self.requests if r.path == path])
                    raise AssertionError(
                        f"{path}: {got} requests after {timeout}s, expected {count}"
                    )
                self._lock.wait(left)
            return [r for r in self.requests if r.path == path]

    def settle(self, quiet: float = 0.3) -> list[Received]:
        """The requests once none has arrived for `quiet` seconds (to prove a negative)."""
        with self._lock:
            while True:
                seen = len(self.requests)
                self._lock.wait(quiet)
                if len(self.requests) == seen:
                    return list(self.requests)

    def __iter__(self) -> Iterator[Received]:
        with self._lock:
            return iter(list(self.requests))
