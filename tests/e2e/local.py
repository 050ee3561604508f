"""The local target: broker, audit and user as real processes (`python -m ...`) on free
loopback ports, SQLite files in a temporary directory, the project's real manifests.

Deviations from `make run`, all for test speed or observability, none in behaviour:
- argon2id at minimum cost (ARGON2_TIME_COST=1, ARGON2_MEMORY_KIB=1024,
  ARGON2_PARALLELISM=1) so 1,000 sign-ups hash in seconds; the production cost is
  64 MiB x 3 passes, which the unit suites cover;
- RELAY_BACKOFF_MAX=2 so the outbox relay retries a returned broker within 2 s instead
  of up to a minute (the mechanism is the same);
- a USER_ADMIN_TOKEN and an AUDIT_READ_TOKEN, so the suite also goes through the
  services' authentication;
- EVENT_SOURCE as k8s/user/deployment.yaml renders it in the user-audit namespace, so
  both targets expect the same `source`.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Literal

import httpx

from devstack import ServiceProcess, free_port
from tests.e2e.api import metric_sum
from tests.e2e.manifests import BROKER_MANIFEST, TRIGGERS_MANIFEST, Manifests
from tests.e2e.manifests import load as load_manifests
from tests.e2e.polling import wait_until

READY_TIMEOUT = 60.0


class LocalTarget:
    kind: Literal["local", "cluster"] = "local"

    def __init__(self, root: Path, manifests: Manifests | None = None) -> None:
        self.root = root
        self.manifests = manifests or load_manifests()
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.user_admin_token: str | None = "e2e-admin-" + secrets.token_urlsafe(24)
        self.audit_read_token: str | None = "e2e-read-" + secrets.token_urlsafe(24)
        self.event_source = f"/apis/v1/namespaces/{self.manifests.namespace}/user"

        audit_port, broker_port, user_port = free_port(), free_port(), free_port()
        common = {"LOG_LEVEL": "info", "DATABASE_URL": ""}
        self.audit = ServiceProcess(
            "audit",
            name="audit",
            port=audit_port,
            log_dir=self.logs,
            ready_path="/readyz",
            env={
                **common,
                "DATA_DIR": str(self._data("audit")),
                "AUDIT_READ_TOKEN": self.audit_read_token,
            },
        )
        self.broker = ServiceProcess(
            "broker",
            name="broker",
            port=broker_port,
            log_dir=self.logs,
            ready_path="/readyz",
            env={
                **common,
                "DATA_DIR": str(self._data("broker")),
                "BROKER_MANIFESTS": f"{BROKER_MANIFEST},{TRIGGERS_MANIFEST}",
                "BROKER_SERVICES": f"audit={self.audit.url}",
                "BROKER_WATCH": "false",
            },
        )
        self.broker_ingress_url = self.broker.url + self.manifests.broker_path
        self.user = ServiceProcess(
            "user",
            name="user",
            port=user_port,
            log_dir=self.logs,
            ready_path="/readyz",
            env={
                **common,
                "DATA_DIR": str(self._data("user")),
                "K_SINK": self.broker_ingress_url,
                "K_CE_OVERRIDES": "",
                "EVENT_SOURCE": self.event_source,
                "USER_ADMIN_TOKEN": self.user_admin_token,
                "ARGON2_TIME_COST": "1",
                "ARGON2_MEMORY_KIB": "1024",
                "ARGON2_PARALLELISM": "1",
                "RELAY_BACKOFF_MAX": "2",
            },
        )
        self.processes = (self.audit, self.broker, self.user)
        self.user_url = self.user.url
        self.audit_url = self.audit.url
        try:
            for process in self.processes:
                process.start(timeout=READY_TIMEOUT)
        except BaseException:
            self.close()
            raise

    def _data(self, name: str) -> Path:
        path = self.root / "data" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- outages
    def stop_audit(self) -> None:
        self.audit.stop()

    def start_audit(self, *, wait: bool = True) -> None:
        self.audit.start(wait=wait, timeout=READY_TIMEOUT)

    def wait_audit(self) -> None:
        self.audit.wait_ready(READY_TIMEOUT)

    def audit_up(self) -> bool:
        try:
            return httpx.get(self.audit.url + "/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop_broker(self) -> None:
        self.broker.stop()

    def start_broker(self) -> None:
        self.broker.start(timeout=READY_TIMEOUT)

    def ensure_running(self) -> None:
        for process in self.processes:
            if process.process is None or process.process.poll() is not None:
                process.start(timeout=READY_TIMEOUT)

    # -- observation
    def audit_metrics(self) -> list[str]:
        return [httpx.get(self.audit.url + "/metrics", timeout=10).text]

    def broker_metrics(self) -> str:
        return httpx.get(self.broker.url + "/metrics", timeout=10).text

    def collect_logs(self) -> str:
        return "\n".join(f"===== {p.name}\n{p.log_text()}" for p in self.processes)

    def diagnostics(self) -> str:
        sections = [f"local target in {self.root}"]
        for process in self.processes:
            proc = process.process
            state = (
                "never started"
                if proc is None
                else "running"
                if proc.poll() is None
                else f"exited with {proc.returncode}"
            )
            sections.append(f"{process.name} ({process.url}): {state}")
        with contextlib.suppress(httpx.HTTPError):
            sections.append(
                "broker /triggers:\n" + httpx.get(self.broker.url + "/triggers", timeout=5).text
            )
        with contextlib.suppress(httpx.HTTPError):
            depth = [
                line
                for line in self.broker_metrics().splitlines()
                if line.startswith(("broker_queue_depth", "broker_dropped", "broker_dead"))
            ]
            sections.append("broker metrics:\n" + "\n".join(depth))
        for process in self.processes:
            sections.append(f"===== last lines of {process.name}\n{process.tail(60)}")
        return "\n\n".join(sections)

    def close(self) -> None:
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception:
                process.kill()


def wait_queue_drained(system: LocalTarget, timeout: float = 30) -> None:
    """Until the local broker has no delivery pending on any Trigger (its depth gauge)."""
    wait_until(
        lambda: metric_sum([system.broker_metrics()], "broker_queue_depth"),
        lambda depth: depth == 0,
        timeout=timeout,
        what="local broker queue drained",
        describe=lambda depth: f"{depth:g} deliveries pending",
        retry_on=(httpx.TransportError,),
    )
