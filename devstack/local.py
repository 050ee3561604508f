"""The local system as real processes for tests and the bench: broker, audit and user,
wired like `make run` (devstack.wiring).

`LocalStack` starts `python -m broker`, `python -m audit` and `python -m user` on free
loopback ports, each with its own DATA_DIR under `root`, the user service sending to the
broker ingress (`K_SINK`) and the broker resolving the Triggers' Service refs to the
audit and user processes. The Broker's namespace and name come from `k8s/broker.yaml`, so the
ingress path is the one a cluster would use.

Each process keeps its port across restarts, so a test can SIGKILL one and start it
again (`stack.audit.kill(); stack.audit.start()`) while the others keep running.
Everything written lands under `root`: logs in `root/logs`, data in `root/<service>`.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

import httpx
import yaml

from devstack.processes import REPO, ServiceProcess, free_port
from devstack.wiring import BROKER_MANIFESTS, SERVICES, broker_address, wiring

#: argon2id at its cheapest valid setting: the suites here test behaviour under faults,
#: not the KDF, and a 64 MiB hash per request would make the load a hashing benchmark.
FAST_HASHING = {
    "ARGON2_TIME_COST": "1",
    "ARGON2_MEMORY_KIB": "1024",
    "ARGON2_PARALLELISM": "1",
}

#: Outbox relay timing for tests. The defaults are sized for production: the backoff
#: grows to 60 s, and rows claimed by a relay that was SIGKILLed wait out its 60 s lease
#: before a new one takes them, which would make every "time to recover" mostly sleep.
FAST_RELAY = {
    "RELAY_POLL_INTERVAL": "0.2",
    "RELAY_BACKOFF_BASE": "0.1",
    "RELAY_BACKOFF_MAX": "1.0",
    "RELAY_SEND_TIMEOUT": "2",
    "RELAY_LEASE": "4",
}


def new_token(prefix: str) -> str:
    """A random bearer token, distinctive enough to be searched for in what was written."""
    return f"{prefix}-{secrets.token_hex(16)}"


class LocalStack:
    """broker + audit + user as child processes. Use as a context manager, or call
    `start()` and, always, `close()`.

    `user_admin_token` / `audit_read_token`: set the services' tokens (None leaves the
    API open; `LocalStack.generate` is the default and makes fresh random ones).
    `database_urls`: per service (`user`, `audit`) `DATABASE_URL`, e.g. PostgreSQL.
    `data_dirs`: per service DATA_DIR overrides (e.g. audit on a small tmpfs).
    `env`: extra environment per service (`broker`, `audit`, `user`).
    `broker_delivery`: fields to override in the Broker's `spec.delivery` (e.g.
    `{"retry": 7}`); the broker then reads a patched copy of k8s/broker.yaml from `root`,
    the Triggers still from k8s/triggers.yaml.
    """

    generate = "generate"

    def __init__(
        self,
        root: Path,
        *,
        user_admin_token: str | None = generate,
        audit_read_token: str | None = generate,
        database_urls: Mapping[str, str] | None = None,
        data_dirs: Mapping[str, Path] | None = None,
        env: Mapping[str, Mapping[str, str]] | None = None,
        broker_delivery: Mapping[str, object] | None = None,
        event_source: str = "/apis/v1/namespaces/user-audit/user",
        fast: bool = True,
        ready_path: str = "/readyz",
    ) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.event_source = event_source
        self.user_admin_token = (
            new_token("user-admin") if user_admin_token == self.generate else user_admin_token
        )
        self.audit_read_token = (
            new_token("audit-read") if audit_read_token == self.generate else audit_read_token
        )
        self.database_urls = dict(database_urls or {})
        extra = {name: dict((env or {}).get(name, {})) for name in SERVICES}
        self.data_dirs = {name: root / name for name in SERVICES}
        self.data_dirs.update(data_dirs or {})
        for directory in self.data_dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        manifests = [REPO / m for m in BROKER_MANIFESTS]
        if broker_delivery:
            manifests[0] = self._patched_broker(manifests[0], broker_delivery)
        self.namespace, self.broker_name = broker_address(manifests=manifests)
        ports = {name: free_port() for name in SERVICES}
        wired = wiring(ports, manifests)

        def common(name: str) -> dict[str, str]:
            values = {"DATA_DIR": str(self.data_dirs[name]), "LOG_LEVEL": "info"}
            # Never inherit a developer's settings for these from the test's environment.
            values.update({"DATABASE_URL": "", "RELOAD": "false"})
            if name in self.database_urls:
                values["DATABASE_URL"] = self.database_urls[name]
            return {**values, **wired[name]}

        def process(name: str, own: Mapping[str, str]) -> ServiceProcess:
            return ServiceProcess(
                name,
                env={**common(name), **own, **extra[name]},
                log_dir=self.logs,
                port=ports[name],
                ready_path=ready_path,
            )

        self.audit = process(
            "audit",
            {
                "AUDIT_READ_TOKEN": self.audit_read_token or "",
                # audit_read_token=None asks for an open read API, as `make run` has.
                "AUDIT_READ_OPEN": "false" if self.audit_read_token else "true",
            },
        )
        self.broker = process("broker", {"BROKER_WATCH": "false"})
        self.user = process(
            "user",
            {
                "K_CE_OVERRIDES": "",
                "EVENT_SOURCE": event_source,
                "USER_ADMIN_TOKEN": self.user_admin_token or "",
                **(FAST_HASHING | FAST_RELAY if fast else {}),
            },
        )

    def _patched_broker(self, source: Path, delivery: Mapping[str, object]) -> Path:
        documents = list(yaml.safe_load_all(source.read_text()))
        for document in documents:
            if isinstance(document, dict) and document.get("kind") == "Broker":
                document.setdefault("spec", {}).setdefault("delivery", {}).update(delivery)
        target = self.root / "manifests" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump_all(documents, sort_keys=False))
        return target

    # ------------------------------------------------------------------ addresses
    @property
    def ingress_url(self) -> str:
        """The Broker ingress, as `K_SINK` would be in a cluster."""
        return f"{self.broker.url}/{self.namespace}/{self.broker_name}"

    @property
    def user_url(self) -> str:
        return self.user.url

    @property
    def audit_url(self) -> str:
        return self.audit.url

    @property
    def processes(self) -> dict[str, ServiceProcess]:
        return {"broker": self.broker, "audit": self.audit, "user": self.user}

    def admin_headers(self) -> dict[str, str]:
        """Authorization for the user admin API (empty when the API is open)."""
        token = self.user_admin_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def audit_headers(self) -> dict[str, str]:
        """Authorization for the audit read API (empty when it is open)."""
        token = self.audit_read_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 60.0) -> LocalStack:
        """Start all three at once (none needs another to come up), then wait for each."""
        try:
            for process in self.processes.values():
                process.start(wait=False)
            deadline = time.monotonic() + timeout
            for process in (self.audit, self.broker, self.user):
                process.wait_ready(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL); never raises."""
        for process in (self.user, self.broker, self.audit):
            try:
                process.stop(timeout=10)
            except Exception:
                with contextlib.suppress(Exception):
                    process.kill()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ evidence
    def log_paths(self) -> list[Path]:
        return sorted(self.logs.glob("*.log"))

    def collect_logs(self) -> str:
        return "\n".join(p.log_text() for p in self.processes.values())

    def data_files(self) -> list[Path]:
        """Every file the services wrote to their DATA_DIRs (SQLite, -wal, -shm, ...)."""
        found: list[Path] = []
        for directory in self.data_dirs.values():
            found.extend(p for p in directory.rglob("*") if p.is_file())
        return sorted(found)

    def diagnostics(self, lines: int = 30) -> str:
        parts = []
        for name, process in self.processes.items():
            state = "not started"
            if process.process is not None:
                code = process.process.poll()
                state = "running" if code is None else f"exited {code}"
            parts.append(f"--- {name} ({process.url}, {state})\n{process.tail(lines)}")
        return "\n".join(parts)

    def audit_events(
        self,
        client: httpx.Client,
        *,
        page_size: int = 1000,
        **filters: str,
    ) -> Iterator[dict[str, object]]:
        """Every stored event matching `filters` (query parameters of GET /v1/events),
        following `next_cursor` to the end."""
        params: dict[str, str | int] = {"limit": page_size, **filters}
        while True:
            response = client.get(
                f"{self.audit_url}/v1/events", params=params, headers=self.audit_headers()
            )
            response.raise_for_status()
            body = response.json()
            yield from body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return
            params["cursor"] = cursor
