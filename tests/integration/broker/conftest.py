"""A real `python -m broker` process per test, with manifests written to tmp_path."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devstack import ServiceProcess

NAMESPACE = "test-ns"
BROKER = "default"


def broker_doc(delivery: Mapping[str, Any] | None = None, name: str = BROKER) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Broker",
        "metadata": {"name": name, "namespace": NAMESPACE},
    }
    if delivery is not None:
        doc["spec"] = {"delivery": dict(delivery)}
    return doc


def trigger_doc(
    name: str,
    subscriber: str | Mapping[str, Any],
    *,
    filters: list[Any] | None = None,
    attributes: Mapping[str, str] | None = None,
    delivery: Mapping[str, Any] | None = None,
    broker: str = BROKER,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "broker": broker,
        "subscriber": {"uri": subscriber} if isinstance(subscriber, str) else dict(subscriber),
    }
    if filters is not None:
        spec["filters"] = filters
    if attributes is not None:
        spec["filter"] = {"attributes": dict(attributes)}
    if delivery is not None:
        spec["delivery"] = dict(delivery)
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


def write_manifest(path: Path, docs: list[dict[str, Any]]) -> None:
    # Write then rename, as editors do, so a watcher never reads half a file.
    partial = path.with_suffix(".partial")
    partial.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    partial.replace(path)


@dataclass
class RunningBroker:
    process: ServiceProcess
    manifest: Path

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def ingress(self) -> str:
        return f"{self.process.url}/{NAMESPACE}/{BROKER}"

    def send(
        self,
        type: str,
        *,
        id: str | None = None,
        data: bytes = b'{"n": 1}',
        headers: Mapping[str, str] | None = None,
        **attributes: str,
    ) -> httpx.Response:
        """POST one binary-mode event; extra attributes become ce- headers."""
        all_headers = {
            "ce-specversion": "1.0",
            "ce-id": id or str(uuid.uuid4()),
            "ce-source": "/tests",
            "ce-type": type,
            "content-type": "application/json",
            **{f"ce-{k}": v for k, v in attributes.items()},
            **(headers or {}),
        }
        return httpx.post(self.ingress, headers=all_headers, content=data, timeout=10)

    def accept(self, type: str, **kwargs: Any) -> str:
        """Send and require 202; returns the event id."""
        event_id = kwargs.pop("id", None) or str(uuid.uuid4())
        response = self.send(type, id=event_id, **kwargs)
        assert response.status_code == 202, response.text
        return event_id

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = httpx.get(self.url + "/triggers", timeout=5).json()
        return result

    def wait_generation(self, generation: int, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            config = self.config()
            if config["generation"] >= generation:
                return config
            time.sleep(0.05)
        raise AssertionError(f"config generation {generation} not reached: {self.config()}")

    def metrics(self) -> str:
        return httpx.get(self.url + "/metrics", timeout=5).text


StartBroker = Callable[..., RunningBroker]


class BrokerLauncher:
    """Starts brokers whose files live in `directory`; `close()` kills them all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: list[ServiceProcess] = []

    def __call__(
        self,
        triggers: list[dict[str, Any]],
        *,
        broker_delivery: Mapping[str, Any] | None = None,
        services: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        extra_docs: list[dict[str, Any]] | None = None,
    ) -> RunningBroker:
        manifest = self.directory / "manifests.yaml"
        write_manifest(manifest, [broker_doc(broker_delivery), *(extra_docs or []), *triggers])
        process_env = {
            "BROKER_MANIFESTS": str(manifest),
            "DATA_DIR": str(self.directory / "data"),
            "BROKER_SERVICES": ",".join(f"{k}={v}" for k, v in (services or {}).items()),
            **(env or {}),
        }
        process = ServiceProcess(
            "broker", env=process_env, log_dir=self.directory, ready_path="/readyz"
        ).start()
        self.processes.append(process)
        return RunningBroker(process, manifest)

    def close(self) -> None:
        for process in self.processes:
            process.kill()


@pytest.fixture
def start_broker(tmp_path: Path) -> Iterator[StartBroker]:
    """`start_broker(triggers=[...], broker_delivery=..., services=..., env=...)`."""
    launcher = BrokerLauncher(tmp_path)
    yield launcher
    launcher.close()


@pytest.fixture(scope="module")
def module_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerLauncher]:
    """For a module that shares one broker between its tests."""
    launcher = BrokerLauncher(tmp_path_factory.mktemp("broker"))
    yield launcher
    launcher.close()
