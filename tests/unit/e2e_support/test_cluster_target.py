"""ClusterTarget end to end against a fake API server: the official client's real HTTP
calls, kubeconfig handling, model (de)serialisation and WebSocket port-forwards, with
local HTTP servers playing the pods and the ingress."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.e2e.api import metric_sum
from tests.e2e.cluster import ClusterTarget
from tests.unit.e2e_support import documents as docs
from tests.unit.e2e_support.fake_apiserver import (
    EVENTING,
    NS,
    FakeCluster,
    Served,
    write_kubeconfig,
)

POD_NAMES = [
    "audit-6d4cf56db6-a1",
    "audit-6d4cf56db6-b2",
    docs.MT_CHANNEL_BROKER.pod_name,
    docs.KAFKA_BROKER.pod_name,
]


def _http_server(name: str, seen: list[str], schema_misses: int = 0) -> ThreadingHTTPServer:
    misses = {"left": schema_misses}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            seen.append(f"{name} GET {self.path}")
            if self.path == "/metrics":
                self._answer(200, b'audit_events_rejected_total{reason="invalid_event_data"} 1.0\n')
            elif self.path.startswith("/v1/schemas/"):
                if misses["left"] > 0:  # the ingress controller has not programmed the route
                    misses["left"] -= 1
                    self._answer(404, b"")
                else:
                    self._answer(200, b'{"properties": {}}')
            else:
                self._answer(200, f"{name} {self.path}".encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append(f"{name} POST {self.path}")
            self._answer(202, b"")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Fake:
    cluster: FakeCluster
    kubeconfig: Path
    ingress_url: str
    seen: list[str]


@pytest.fixture(params=[docs.MT_CHANNEL_BROKER, docs.KAFKA_BROKER], ids=lambda p: p.broker_class)
def fake(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Fake]:
    """A cluster with the base's Broker class, or the Kafka overlay's."""
    seen: list[str] = []
    servers = {name: _http_server(name, seen) for name in POD_NAMES}
    ingress = _http_server("ingress", seen, schema_misses=2)
    backends = {name: s.server_address[:2] for name, s in servers.items()}
    cluster = FakeCluster(backends, request.param)  # type: ignore[arg-type]
    api = Served(cluster.app())
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url, "kind-fake")
    yield Fake(cluster, kubeconfig, f"http://127.0.0.1:{ingress.server_address[1]}", seen)
    api.stop()
    for server in [*servers.values(), ingress]:
        server.shutdown()
        server.server_close()


def test_cluster_target_through_the_real_client(fake: Fake) -> None:
    target = ClusterTarget(
        "kind-fake", kubeconfig=str(fake.kubeconfig), ingress_url=fake.ingress_url, ready_timeout=20
    )
    try:
        # Readiness waited through a fresh Broker and one without ingress endpoints, and
        # through the ingress's 404s until its route existed.
        assert fake.cluster.broker_polls_until_ready < 0
        assert fake.seen.count("ingress GET /v1/schemas/user.storeUser.json") == 3
        assert target.user_url == fake.ingress_url
        assert target.event_source == "/apis/v1/namespaces/user-audit/user"
        assert target.user_admin_token == "admin-token-from-secret"
        assert target.audit_read_token is None  # Secret absent: audit's read API is open

        # audit and the broker ingress through WebSocket port-forwards to ready pods.
        assert httpx.get(target.audit_url + "/v1/events?x=1", timeout=10).text == (
            "audit-6d4cf56db6-a1 /v1/events?x=1"
        )
        # The ingress Service is the one the Broker's address names (broker-ingress, or
        # kafka-broker-ingress), its pod found through the Service's selector.
        plane = fake.cluster.plane
        assert target.broker_ingress_url.endswith("/user-audit/default")
        assert httpx.post(target.broker_ingress_url, content=b"{}", timeout=10).status_code == 202
        assert f"{plane.pod_name} POST /user-audit/default" in fake.seen
        assert f"portforward {EVENTING}/{plane.pod_name}:8080" in fake.cluster.requests

        # One metrics text per audit pod, summed by the scenarios.
        texts = target.audit_metrics()
        assert len(texts) == 2
        assert metric_sum(texts, "audit_events_rejected_total", reason="invalid_event_data") == 2
        assert f"portforward {NS}/audit-6d4cf56db6-b2:8080" in fake.cluster.requests

        # Audit down = scaled to 0 and its pods gone; then back and reachable again.
        assert target.audit_up()
        target.stop_audit()
        assert not [p for p in fake.cluster.pods[NS] if p["metadata"]["name"].startswith("audit")]
        assert not target.audit_up()
        with pytest.raises(httpx.TransportError):
            httpx.get(target.audit_url + "/", timeout=5)
        target.start_audit(wait=False)
        target.wait_audit()
        assert target.audit_up()
        assert httpx.get(target.audit_url + "/x", timeout=10).text == "audit-6d4cf56db6-a1 /x"
        patches = [r for r in fake.cluster.requests if r.startswith("PATCH scale user-audit/audit")]
        assert [p.rsplit(" ", 1)[-1] for p in patches] == ["0}}", "2}}"]

        # Broker ingress unreachable = the Deployments behind the ingress Service (upstream:
        # mt-broker-ingress, kafka-broker-receiver) scaled to 0; back = available + Ready.
        target.stop_broker()
        assert fake.cluster.pods[EVENTING] == []
        target.start_broker()
        assert len(fake.cluster.pods[EVENTING]) == 1
        scaled = [r for r in fake.cluster.requests if r.startswith(f"PATCH scale {EVENTING}/")]
        assert [r.split()[2] for r in scaled] == [f"{EVENTING}/{plane.deployment}"] * 2

        logs = target.collect_logs()
        assert "line 99 of audit-6d4cf56db6-a1" in logs
        assert f"line 99 of {plane.pod_name}" in logs
        assert any("sinceSeconds" in r for r in fake.cluster.requests if r.startswith("log "))

        report = target.diagnostics()
        for expected in (
            "cluster target, context kind-fake",
            "Broker user-audit/default\n  Addressable=True",
            "Trigger user-audit/audit-user-deleted",
            "SinkBinding user-audit/user",
            "Deployment user-audit/audit: available (want 2",
            "user-audit/audit-6d4cf56db6-a1: Running, ready",
            "Pod/audit-6d4cf56db6-a1: Unhealthy: Readiness probe failed",
            "===== user-audit/user-5c7f8d9b4-c3 [user]",
        ):
            assert expected in report, expected
        assert "image pulled" not in report  # only warnings
        assert "line 49 of" not in report  # the last 50 lines only
        assert "line 50 of audit-6d4cf56db6-a1" in report
    finally:
        target.close()


def test_ensure_running_restores_what_a_failed_scenario_left_down(fake: Fake) -> None:
    target = ClusterTarget(
        "kind-fake", kubeconfig=str(fake.kubeconfig), ingress_url=fake.ingress_url, ready_timeout=20
    )
    try:
        target.stop_audit()
        target.stop_broker()
        target.ensure_running()
        assert len([p for p in fake.cluster.pods[NS] if "audit" in p["metadata"]["name"]]) == 2
        assert len(fake.cluster.pods[EVENTING]) == 1
    finally:
        target.close()
