"""The real processes the hostile properties run against, each on a free port with its
own temp data dir, started the way the integration tests start them.

`BrokerTarget`: `python -m broker` with three Triggers to a `Recorder`: `all` (every
event, subscriber answers 202), `fail` (type prefix `fuzz.fail`, subscriber answers 500:
one retry, then the dead-letter sink) and two CESQL Triggers that cast an attribute the
fuzzer fills (`fuzznum > 0`, `ABS(fuzznum) > 0`).
`AuditTarget`: `python -m audit` on SQLite or PostgreSQL.
`UserTarget`: `python -m user` with its relay sending to a `Recorder`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import yaml

from devstack import FAST_HASHING, FAST_RELAY, ServiceProcess
from tests.fuzz.harness import LONG_CASES
from tests.fuzz.recorder import Recorder
from tests.fuzz.wire import Header, Reply, exchange

NAMESPACE = "fuzz"
BROKER = "default"
#: How long an accepted event may take to reach its subscriber or dead-letter sink. The
#: Triggers retry once after 10 ms, so this is all headroom for a loaded CI machine.
DELIVERY_DEADLINE = 10.0


def _trigger(name: str, path: str, filters: list[Any] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"broker": BROKER, "subscriber": {"uri": path}, **spec}
    if filters is not None:
        body["filters"] = filters
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": body,
    }


def broker_manifests(subscriber: str) -> list[dict[str, Any]]:
    delivery = {
        "retry": 1,
        "backoffPolicy": "linear",
        "backoffDelay": "PT0.01S",
        "timeout": "PT5S",
        "deadLetterSink": {"uri": f"{subscriber}/dls"},
    }
    return [
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "metadata": {"name": BROKER, "namespace": NAMESPACE},
            "spec": {"delivery": delivery},
        },
        _trigger("all", f"{subscriber}/all"),
        _trigger("fail", f"{subscriber}/fail", [{"prefix": {"type": "fuzz.fail"}}]),
        # An implicit cast (string to integer) and a function's cast of the same value.
        _trigger("cesql", f"{subscriber}/cesql", [{"cesql": "fuzznum > 0"}]),
        _trigger("cesql-fn", f"{subscriber}/cesql", [{"cesql": "ABS(fuzznum) > 0"}]),
    ]


_DEPTH = re.compile(rb"^broker_queue_depth\{[^}]*\} ([0-9.e+-]+)$", re.MULTILINE)


class BrokerTarget:
    def __init__(self, root: Path, env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.env = dict(env or {})
        self.recorder = Recorder()
        self.process: ServiceProcess | None = None
        self.generation = 0

    def __enter__(self) -> BrokerTarget:
        self.recorder.__enter__()
        self._start()
        return self

    def fresh(self) -> None:
        """After a failed example: when events are left in the queue or the broker is
        not ready, start again on a new, empty queue file (stuck events would hold up
        the next example's, across restarts)."""
        if self.ready() and self.queue_depth() == 0:
            return
        assert self.process is not None
        self.process.kill()
        self._start()

    def _start(self) -> None:
        self.generation += 1
        manifest = self.root / "manifests.yaml"
        manifest.write_text(yaml.safe_dump_all(broker_manifests(self.recorder.url)))
        self.process = ServiceProcess(
            "broker",
            env={
                "BROKER_MANIFESTS": str(manifest),
                "DATA_DIR": str(self.root / f"data-{self.generation}"),
                "BROKER_SERVICES": "",
                "BROKER_WATCH": "false",
                "DATABASE_URL": "",
                "RELOAD": "false",
                **self.env,
            },
            log_dir=self.root,
            ready_path="/readyz",
        ).start()

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.kill()
        self.recorder.__exit__()

    @property
    def port(self) -> int:
        assert self.process is not None
        return self.process.port

    @property
    def ingress(self) -> str:
        return f"/{NAMESPACE}/{BROKER}"

    def send(self, headers: list[Header], body: bytes = b"{}", **kwargs: Any) -> Reply:
        return exchange(self.port, "POST", self.ingress, headers, body, **kwargs)

    def queue_depth(self) -> float:
        assert self.process is not None
        text = httpx.get(self.process.url + "/metrics", timeout=10).content
        return sum(float(v) for v in _DEPTH.findall(text))

    def metrics_size(self) -> int:
        assert self.process is not None
        return len(httpx.get(self.process.url + "/metrics", timeout=10).content)

    def ready(self) -> bool:
        assert self.process is not None
        try:
            return httpx.get(self.process.url + "/readyz", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def reached(self, event_id: str, event_type: str) -> bool:
        """Wait until the event reached every destination it must reach: the `all`
        subscriber, and for a failing type the dead-letter sink as well."""
        if not self.recorder.wait_for("/all", event_id, DELIVERY_DEADLINE):
            return False
        if event_type.startswith("fuzz.fail"):
            return self.recorder.wait_for("/dls", event_id, DELIVERY_DEADLINE)
        return True

    def drained(self, timeout: float = 20.0) -> float:
        """Poll until the queue depth is 0; the depth left at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            depth = self.queue_depth()
            if depth == 0 or time.monotonic() >= deadline:
                return depth
            time.sleep(0.05)


def binary_event(event_id: str, event_type: str = "fuzz.ok") -> list[Header]:
    return [
        (b"ce-specversion", b"1.0"),
        (b"ce-id", event_id.encode()),
        (b"ce-source", b"/fuzz"),
        (b"ce-type", event_type.encode()),
        (b"content-type", b"application/json"),
    ]


def new_id() -> str:
    return f"fuzz-{uuid.uuid4().hex}"


def ndjson_lines(response: httpx.Response) -> Iterator[bytes]:
    """Lines split on LF only: httpx's `iter_lines` also splits on U+2028 and other
    Unicode line breaks, which JSON strings may hold unescaped."""
    pending = b""
    for chunk in response.iter_bytes():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending


class AuditTarget:
    def __init__(
        self,
        root: Path,
        new_database: Callable[[], str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self.new_database = new_database
        self.generation = 0
        self.poisoned = False
        self.env = dict(env or {})
        self.token = f"audit-read-{uuid.uuid4().hex}"
        self.process: ServiceProcess | None = None
        #: Distinct events the sink accepted (202), so an export must have this many lines.
        self.accepted = 0
        #: Export (all rows) after every this many read checks: 1 in CI; a long run
        #: stores thousands of events, and exporting them all per case is quadratic.
        self.export_every = 50 if LONG_CASES else 1
        self._checks = 0

    def __enter__(self) -> AuditTarget:
        self._start()
        return self

    def fresh(self) -> None:
        """After a failed example: when a read failed or audit is not ready, start again
        on an empty store (the row that broke reads would break the next example's)."""
        if not self.poisoned and self.ready():
            return
        assert self.process is not None
        self.process.kill()
        self._start()

    def _start(self) -> None:
        self.generation += 1
        self.poisoned = False
        self.accepted = 0
        self._checks = 0
        self.process = ServiceProcess(
            "audit",
            env={
                "DATA_DIR": str(self.root / f"data-{self.generation}"),
                "DATABASE_URL": self.new_database() if self.new_database else "",
                "RELOAD": "false",
                "AUDIT_READ_TOKEN": self.token,
                **self.env,
            },
            log_dir=self.root,
            ready_path="/readyz",
        ).start()

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.kill()

    @property
    def port(self) -> int:
        assert self.process is not None
        return self.process.port

    @property
    def url(self) -> str:
        assert self.process is not None
        return self.process.url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def ready(self) -> bool:
        try:
            return httpx.get(self.url + "/readyz", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def read_problems(self, source: str, event_id: str) -> list[str]:
        """Every read path a user has, for one stored event; what failed (empty: all
        worked). The list, the event by key, the export (complete: as many lines as
        events accepted, and a clean end) and the live tail replaying it."""
        problems: list[str] = []
        key = f"/v1/events/{quote(source, safe='')}/{quote(event_id, safe='')}"
        with httpx.Client(base_url=self.url, headers=self.auth, timeout=20) as client:
            for what, path, query in [
                ("GET /v1/events", "/v1/events", {"limit": "5"}),
                ("GET /v1/events/<key>", key, {}),
            ]:
                try:
                    answer = client.get(path, params=query)
                except httpx.HTTPError as exc:
                    problems.append(f"{what}: no answer ({exc!r})")
                    continue
                if answer.status_code != 200:
                    problems.append(f"{what}: {answer.status_code} {answer.text[:200]}")
            self._checks += 1
            if self._checks % self.export_every == 0:
                problems += self._export_problems(client)
            problems += self._tail_problems(client, source, event_id)
        self.poisoned = self.poisoned or bool(problems)
        return problems

    def final_problems(self) -> list[str]:
        """After a property: the export has every accepted event, and a live tail from
        the start replays every one of them (a bad row must not end it early)."""
        with httpx.Client(base_url=self.url, headers=self.auth, timeout=60) as client:
            problems = self._export_problems(client)
            frames = 0
            deadline = time.monotonic() + max(30.0, self.accepted / 20)
            try:
                with client.stream(
                    "GET", "/v1/events/stream", headers={"Last-Event-ID": "0"}
                ) as response:
                    for line in ndjson_lines(response):
                        frames += line.startswith(b"data:")
                        if frames >= self.accepted or time.monotonic() > deadline:
                            break
            except httpx.HTTPError as exc:
                problems.append(f"live tail from the start broke off: {exc!r}")
            if frames < self.accepted:
                problems.append(f"live tail from the start: {frames} of {self.accepted} events")
        return problems

    def _export_problems(self, client: httpx.Client) -> list[str]:
        lines = 0
        try:
            with client.stream("GET", "/v1/events/export") as response:
                if response.status_code != 200:
                    response.read()
                    return [f"export: {response.status_code} {response.text[:200]}"]
                for line in ndjson_lines(response):
                    if line.strip():
                        json.loads(line)
                        lines += 1
        except (httpx.HTTPError, ValueError) as exc:
            return [f"export broke off after {lines} lines: {exc!r}"]
        if lines != self.accepted:
            return [f"export: {lines} lines for {self.accepted} accepted events (200, cut short)"]
        return []

    def _tail_problems(self, client: httpx.Client, source: str, event_id: str) -> list[str]:
        deadline = time.monotonic() + 15
        try:
            with client.stream(
                "GET",
                "/v1/events/stream",
                params={"source": source, "id": event_id},
                headers={"Last-Event-ID": "0"},
            ) as response:
                if response.status_code != 200:
                    response.read()
                    return [f"live tail: {response.status_code} {response.text[:200]}"]
                for line in ndjson_lines(response):
                    if line.startswith(b"data:"):
                        return []
                    if time.monotonic() > deadline:
                        return ["live tail: the event did not come in 15 s"]
        except httpx.HTTPError as exc:
            return [f"live tail broke off before the event: {exc!r}"]
        return ["live tail ended before the event"]


class UserTarget:
    def __init__(self, root: Path, env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.env = dict(env or {})
        self.recorder = Recorder()
        self.token = f"user-admin-{uuid.uuid4().hex}"
        self.process: ServiceProcess | None = None

    def __enter__(self) -> UserTarget:
        self.recorder.__enter__()
        self.process = ServiceProcess(
            "user",
            env={
                "DATA_DIR": str(self.root / "data"),
                "DATABASE_URL": "",
                "RELOAD": "false",
                "K_SINK": self.recorder.url + "/user",
                "K_CE_OVERRIDES": "",
                "USER_ADMIN_TOKEN": self.token,
                **FAST_HASHING,
                **FAST_RELAY,
                **self.env,
            },
            log_dir=self.root,
            ready_path="/readyz",
        ).start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.kill()
        self.recorder.__exit__()

    @property
    def url(self) -> str:
        assert self.process is not None
        return self.process.url

    @property
    def port(self) -> int:
        assert self.process is not None
        return self.process.port
