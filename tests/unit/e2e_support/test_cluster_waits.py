"""The cluster target's waits and helpers against fake API clients that answer with
documents (and typed models) shaped like a real API server's, on a fake clock."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from tests.e2e import cluster
from tests.e2e.manifests import load
from tests.e2e.polling import Timeout
from tests.unit.e2e_support import documents as docs


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _poll() -> dict[str, Any]:
    clock = FakeClock()
    return {"clock": clock, "sleep": clock.sleep}


def _answers(items: Iterable[Any]) -> Any:
    """Each call returns the next item (raising it when it is an exception); the last
    item repeats."""
    queue = list(items)

    def call(*args: Any, **kwargs: Any) -> Any:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, BaseException):
            raise item
        return item

    return call


class FakeCustom:
    def __init__(self, objects: Iterable[Any] = (), listings: Iterable[Any] = ()) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._get = _answers(objects or [None])
        self._list = _answers(listings or [{"items": []}])

    def get_namespaced_custom_object(self, *args: Any) -> Any:
        self.calls.append(args)
        return self._get()

    def list_namespaced_custom_object(self, *args: Any) -> Any:
        self.calls.append(args)
        return self._list()


def test_wait_broker_ready_through_404_and_unready_states() -> None:
    custom = FakeCustom(
        [
            ApiException(status=404, reason="Not Found"),
            docs.broker_just_created(),
            docs.broker_ingress_down(),
            docs.BROKER_READY,
        ]
    )
    verdict = cluster.wait_broker_ready(custom, "user-audit", "default", timeout=30, **_poll())
    assert verdict.ok
    assert custom.calls[0] == ("eventing.knative.dev", "v1", "user-audit", "brokers", "default")
    assert len(custom.calls) == 4


def test_wait_broker_ready_timeout_shows_the_conditions() -> None:
    custom = FakeCustom([docs.broker_ingress_down()])
    with pytest.raises(Timeout, match=r"Broker user-audit/default Ready: .*IngressReady=False"):
        cluster.wait_broker_ready(custom, "user-audit", "default", timeout=5, **_poll())


def test_wait_broker_ready_timeout_after_errors_shows_the_error() -> None:
    custom = FakeCustom([ApiException(status=404, reason="Not Found")])
    with pytest.raises(Timeout, match=r"ApiException: \(404\)"):
        cluster.wait_broker_ready(custom, "user-audit", "default", timeout=5, **_poll())


def test_wait_triggers_ready_needs_every_trigger_of_the_manifests() -> None:
    names = [t.name for t in load().triggers]
    assert names == ["audit-user-created", "audit-user-updated", "audit-user-deleted"]
    partial = {"items": [docs.trigger(names[0], "user.storeUser")]}
    unready = {
        "items": [
            docs.trigger(names[0], "user.storeUser"),
            docs.trigger(names[1], "user.updateUser", ready=False),
            docs.trigger(names[2], "user.deleteUser"),
        ]
    }
    ready = {
        "items": [
            docs.trigger(n, t)
            for n, t in zip(
                names, ["user.storeUser", "user.updateUser", "user.deleteUser"], strict=True
            )
        ]
        + [docs.trigger("someone-elses", "other.type", ready=False)]  # not ours: ignored
    }
    custom = FakeCustom(listings=[partial, unready, ready])
    assert cluster.wait_triggers_ready(custom, "user-audit", names, timeout=30, **_poll()).ok
    assert custom.calls[0] == ("eventing.knative.dev", "v1", "user-audit", "triggers")

    custom = FakeCustom(listings=[unready])
    with pytest.raises(
        Timeout,
        match=r"Trigger user-audit/audit-user-updated: Ready=False.*SubscriberResolved=False",
    ):
        cluster.wait_triggers_ready(custom, "user-audit", names, timeout=5, **_poll())


def test_wait_sinkbinding_ready() -> None:
    custom = FakeCustom([docs.sinkbinding_broker_missing(), docs.SINKBINDING_READY])
    assert cluster.wait_sinkbinding_ready(custom, "user-audit", "user", timeout=30, **_poll()).ok
    assert custom.calls[0] == ("sources.knative.dev", "v1", "user-audit", "sinkbindings", "user")


class FakeApps:
    def __init__(self, deployments: dict[str, Iterable[Any]], scale: int = 2) -> None:
        self._deployments = {name: _answers(seq) for name, seq in deployments.items()}
        self.scale = scale
        self.patches: list[tuple[str, str, Any]] = []

    def read_namespaced_deployment(self, name: str, namespace: str) -> Any:
        return self._deployments[name]()

    def read_namespaced_deployment_scale(self, name: str, namespace: str) -> Any:
        return docs.to_model(
            {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"replicas": self.scale},
                "status": {"replicas": self.scale, "selector": "app.kubernetes.io/name=audit"},
            },
            "V1Scale",
        )

    def patch_namespaced_deployment_scale(self, name: str, namespace: str, body: Any) -> Any:
        self.patches.append((name, namespace, body))
        self.scale = body["spec"]["replicas"]
        return None


def test_wait_deployments_available_with_typed_models() -> None:
    apps = FakeApps(
        {
            "user": [docs.to_model(docs.DEPLOYMENT_AVAILABLE, "V1Deployment")],
            "audit": [
                docs.to_model(docs.deployment_starting(), "V1Deployment"),
                docs.to_model(docs.deployment_rolling(), "V1Deployment"),
                docs.to_model(docs.DEPLOYMENT_AVAILABLE, "V1Deployment"),
            ],
        }
    )
    verdict = cluster.wait_deployments_available(
        apps, "user-audit", ["user", "audit"], timeout=30, **_poll()
    )
    assert verdict.ok


def test_wait_deployments_available_timeout_names_the_laggard() -> None:
    apps = FakeApps(
        {"user": [docs.DEPLOYMENT_AVAILABLE], "audit": [docs.deployment_deadline_exceeded()]}
    )
    with pytest.raises(Timeout, match="ProgressDeadlineExceeded"):
        cluster.wait_deployments_available(
            apps, "user-audit", ["user", "audit"], timeout=5, **_poll()
        )


def test_scale_returns_the_previous_replicas() -> None:
    apps = FakeApps({})
    assert cluster.scale(apps, "user-audit", "audit", 0) == 2
    assert apps.patches == [("audit", "user-audit", {"spec": {"replicas": 0}})]
    assert cluster.scale(apps, "user-audit", "audit", 2) == 0


class FakeCore:
    def __init__(self, pods: Iterable[Iterable[Any]], service: Any = None) -> None:
        self._pods = _answers([SimpleNamespace(items=list(p)) for p in pods])
        self._service = service
        self.selectors: list[str | None] = []

    def list_namespaced_pod(self, namespace: str, label_selector: str | None = None) -> Any:
        self.selectors.append(label_selector)
        return self._pods()

    def read_namespaced_service(self, name: str, namespace: str) -> Any:
        return self._service


def test_wait_pods_gone_waits_for_terminating_pods() -> None:
    core = FakeCore(
        [
            [docs.to_model(docs.pod("audit-a"), "V1Pod")],
            [docs.to_model(docs.pod("audit-a", terminating=True), "V1Pod")],
            [],
        ]
    )
    assert cluster.wait_pods_gone(
        core, "user-audit", "app.kubernetes.io/name=audit", timeout=30, **_poll()
    ).ok
    assert core.selectors == ["app.kubernetes.io/name=audit"] * 3


def test_resolve_service_pod_uses_the_service_selector() -> None:
    core = FakeCore(
        [
            [
                docs.to_model(docs.pod("audit-z"), "V1Pod"),
                docs.to_model(docs.pod("audit-y", ready=False), "V1Pod"),
            ]
        ],
        service=docs.to_model(docs.AUDIT_SERVICE, "V1Service"),
    )
    assert cluster.resolve_service_pod(core, "user-audit", "audit", "http") == ("audit-z", 8080)
    assert core.selectors == ["app.kubernetes.io/name=audit"]


def test_resolve_broker_ingress_pod() -> None:
    labels = {
        "eventing.knative.dev/brokerRole": "ingress",
        "app.kubernetes.io/component": "broker-ingress",
    }
    core = FakeCore(
        [[docs.pod("broker-ingress-6b8d7c9f5-x2x4q", labels=labels)]],
        service=docs.BROKER_INGRESS_SERVICE,
    )
    assert cluster.resolve_service_pod(core, "knative-eventing", "broker-ingress", 80) == (
        "broker-ingress-6b8d7c9f5-x2x4q",
        8080,
    )
    assert core.selectors == ["eventing.knative.dev/brokerRole=ingress"]
