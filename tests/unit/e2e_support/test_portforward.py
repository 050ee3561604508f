"""The port-forward relay, with local HTTP servers standing in for pods and the
`kubernetes` client's own socket wrapper standing in for its websocket stream."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from kubernetes.stream.ws_client import PortForward

from tests.e2e.portforward import Forwarder


def _server(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"{name} {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            body = self.rfile.read(length)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def pods() -> Iterator[dict[str, ThreadingHTTPServer]]:
    servers = {"pod-a": _server("pod-a"), "pod-b": _server("pod-b")}
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


def _opener(pods: dict[str, ThreadingHTTPServer]) -> object:
    def open_stream(where: tuple[str, int]) -> PortForward._Port._Socket:
        name, _port = where
        sock = socket.create_connection(pods[name].server_address[:2])  # type: ignore[arg-type]
        # What `kubernetes.stream.portforward(...).socket(port)` returns.
        return PortForward._Port._Socket(sock)

    return open_stream


def test_requests_flow_both_ways(pods: dict[str, ThreadingHTTPServer]) -> None:
    with Forwarder(lambda: ("pod-a", 8080), _opener(pods), name="audit") as forward:  # type: ignore[arg-type]
        assert forward.url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=forward.url, timeout=5) as client:
            assert client.get("/v1/events").text == "pod-a /v1/events"
            big = b"x" * 300_000
            assert client.post("/", content=big).content == big


def test_concurrent_connections(pods: dict[str, ThreadingHTTPServer]) -> None:
    with Forwarder(lambda: ("pod-a", 8080), _opener(pods)) as forward:  # type: ignore[arg-type]
        results: list[str] = []

        def fetch(i: int) -> None:
            with httpx.Client(timeout=5) as client:
                results.append(client.get(f"{forward.url}/{i}").text)

        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == sorted(f"pod-a /{i}" for i in range(20))


def test_target_is_resolved_for_every_connection(pods: dict[str, ThreadingHTTPServer]) -> None:
    """A pod replaced by a restart is picked up without restarting the forward."""
    current = {"pod": "pod-a"}
    with Forwarder(lambda: (current["pod"], 8080), _opener(pods)) as forward:  # type: ignore[arg-type]
        assert httpx.get(forward.url + "/x", timeout=5).text == "pod-a /x"
        current["pod"] = "pod-b"
        assert httpx.get(forward.url + "/x", timeout=5).text == "pod-b /x"


def test_no_pod_means_the_connection_is_refused_then_recovers(
    pods: dict[str, ThreadingHTTPServer],
) -> None:
    state: dict[str, str | None] = {"pod": None}

    def resolve() -> tuple[str, int]:
        if state["pod"] is None:
            raise LookupError("no ready pod behind Service audit: no pods")
        return state["pod"], 8080

    with Forwarder(resolve, _opener(pods), name="audit") as forward:  # type: ignore[arg-type]
        with pytest.raises(httpx.TransportError):
            httpx.get(forward.url + "/", timeout=5)
        assert forward.errors == [
            "cannot open a stream: LookupError: no ready pod behind Service audit: no pods"
        ]
        state["pod"] = "pod-b"
        assert httpx.get(forward.url + "/", timeout=5).text == "pod-b /"


def test_close_stops_listening(pods: dict[str, ThreadingHTTPServer]) -> None:
    forward = Forwarder(lambda: ("pod-a", 8080), _opener(pods))  # type: ignore[arg-type]
    url = forward.url
    forward.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
