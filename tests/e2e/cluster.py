"""The cluster target: the system deployed by `skaffold run` (or `kubectl apply -k k8s`)
on a cluster reachable through a kubeconfig context, driven with the official
`kubernetes` client only (no kubectl).

- user: through the Ingress (`E2E_INGRESS_URL`, default `http://localhost`: kind maps
  the ingress controller to host port 80).
- audit: it has no Ingress on purpose (k8s/audit/kustomization.yaml), so a port-forward
  made with the client to a ready audit pod. Port-forwarded traffic enters the pod's
  network namespace from the kubelet, so the NetworkPolicies do not apply to it.
- broker ingress: a port-forward to a pod behind the Service the Broker's address names
  (`broker-ingress` for the MT channel broker, `kafka-broker-ingress` for the Kafka
  broker, both in `knative-eventing`), path `/<namespace>/<broker>`. "Broker down"
  scales the Deployments that Service selects (upstream: `mt-broker-ingress`,
  `kafka-broker-receiver`; k8s/upstream-facts.yaml).

The decisions (is this Ready, is that rollout done, which pod serves a Service) are the
pure functions of `k8s_status`; the waits are `polling.wait_until`. The `wait_*`
functions take the API objects as arguments, so tests/unit/e2e_support runs them against
fakes that return documents shaped like the API server's.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from tests.e2e import k8s_status as ks
from tests.e2e.manifests import Manifests
from tests.e2e.manifests import load as load_manifests
from tests.e2e.polling import wait_until
from tests.e2e.portforward import Forwarder, StreamSocket

EVENTING_NAMESPACE = "knative-eventing"
#: Pods whose logs help: the broker and channel data planes of both broker classes
#: (mt-broker-ingress/-filter, imc-dispatcher, kafka-broker-receiver/-dispatcher).
EVENTING_POD_PREFIXES = ("mt-broker-", "imc-", "kafka-broker-")
EVENTING_GROUP = "eventing.knative.dev"
SOURCES_GROUP = "sources.knative.dev"
#: Deployments the suite waits for (postgres is a StatefulSet; user/audit readiness
#: probes already check their database).
DEPLOYMENTS = ("user", "audit")


def _api_exception() -> type[Exception]:
    from kubernetes.client.exceptions import ApiException

    return ApiException


def _transient() -> tuple[type[BaseException], ...]:
    """Errors that mean "not yet": the API says 404 (not created yet), the connection
    hiccups, the server is busy."""
    import urllib3.exceptions

    return (_api_exception(), urllib3.exceptions.HTTPError, OSError)


# ----------------------------------------------------------------------- waits
def wait_broker_ready(
    custom: Any, namespace: str, name: str, *, timeout: float = 180, **poll: Any
) -> ks.Verdict:
    """Until the Broker's `Ready` is True for its current generation."""
    return wait_until(
        lambda: ks.knative_ready(
            custom.get_namespaced_custom_object(EVENTING_GROUP, "v1", namespace, "brokers", name)
        ),
        lambda v: v.ok,
        timeout=timeout,
        what=f"Broker {namespace}/{name} Ready",
        describe=lambda v: v.why,
        retry_on=_transient(),
        **poll,
    )


def wait_triggers_ready(
    custom: Any, namespace: str, names: Iterable[str], *, timeout: float = 180, **poll: Any
) -> ks.Verdict:
    """Until every named Trigger exists and is Ready."""
    expected = sorted(names)

    def probe() -> ks.Verdict:
        listing = custom.list_namespaced_custom_object(EVENTING_GROUP, "v1", namespace, "triggers")
        items = [t for t in listing.get("items", []) if t["metadata"]["name"] in expected]
        return ks.all_ready(items, expected=expected)

    return wait_until(
        probe,
        lambda v: v.ok,
        timeout=timeout,
        what=f"Triggers {', '.join(expected)} Ready",
        describe=lambda v: v.why,
        retry_on=_transient(),
        **poll,
    )


def wait_sinkbinding_ready(
    custom: Any, namespace: str, name: str, *, timeout: float = 180, **poll: Any
) -> ks.Verdict:
    return wait_until(
        lambda: ks.knative_ready(
            custom.get_namespaced_custom_object(
                SOURCES_GROUP, "v1", namespace, "sinkbindings", name
            )
        ),
        lambda v: v.ok,
        timeout=timeout,
        what=f"SinkBinding {namespace}/{name} Ready",
        describe=lambda v: v.why,
        retry_on=_transient(),
        **poll,
    )


def wait_deployments_available(
    apps: Any, namespace: str, names: Iterable[str], *, timeout: float = 300, **poll: Any
) -> ks.Verdict:
    wanted = list(names)

    def probe() -> ks.Verdict:
        verdicts = [
            ks.deployment_available(apps.read_namespaced_deployment(n, namespace)) for n in wanted
        ]
        return ks.Verdict(all(v.ok for v in verdicts), "; ".join(v.why for v in verdicts))

    return wait_until(
        probe,
        lambda v: v.ok,
        timeout=timeout,
        what=f"Deployments {', '.join(wanted)} in {namespace} available",
        describe=lambda v: v.why,
        retry_on=_transient(),
        **poll,
    )


def wait_pods_gone(
    core: Any, namespace: str, selector: str, *, timeout: float = 120, **poll: Any
) -> ks.Verdict:
    return wait_until(
        lambda: ks.pods_gone(core.list_namespaced_pod(namespace, label_selector=selector).items),
        lambda v: v.ok,
        timeout=timeout,
        what=f"pods {selector} in {namespace} gone",
        describe=lambda v: v.why,
        retry_on=_transient(),
        **poll,
    )


def wait_ingress_routes(user_url: str, *, timeout: float = 120, **poll: Any) -> int:
    """Until the ingress controller routes to user: the Deployment can be available before
    the controller has programmed the route (Envoy answers 404 meanwhile). The schema
    route is a GET the Ingress exposes, with no side effects."""
    import httpx

    return wait_until(
        lambda: httpx.get(user_url + "/v1/schemas/user.storeUser.json", timeout=5).status_code,
        lambda status: status == 200,
        timeout=timeout,
        what=f"the Ingress routes {user_url}/v1/schemas to user",
        describe=lambda status: f"HTTP {status}",
        retry_on=(httpx.TransportError,),
        **poll,
    )


def scale(apps: Any, namespace: str, name: str, replicas: int) -> int:
    """Set a Deployment's replicas through its scale subresource; returns the old value."""
    current = apps.read_namespaced_deployment_scale(name, namespace)
    before = int(ks.as_dict(current).get("spec", {}).get("replicas") or 0)
    apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": replicas}})
    return before


def resolve_service_pod(
    core: Any, namespace: str, service: str, port: int | str
) -> tuple[str, int]:
    """The pod (and its port number) a connection to `service:port` would reach now."""
    svc = core.read_namespaced_service(service, namespace)
    selector = ks.as_dict(svc).get("spec", {}).get("selector") or {}
    pods = core.list_namespaced_pod(namespace, label_selector=ks.label_selector(selector)).items
    return ks.select_pod(svc, pods, port)


# ------------------------------------------------------------------- the target
class ClusterTarget:
    kind: Literal["local", "cluster"] = "cluster"

    def __init__(
        self,
        context: str,
        *,
        ingress_url: str | None = None,
        manifests: Manifests | None = None,
        ready_timeout: float = 300,
        kubeconfig: str | None = None,
    ) -> None:
        from kubernetes import client, config

        self.context = context
        self.manifests = manifests or load_manifests()
        self.namespace = self.manifests.namespace
        self.started = time.time()
        kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None
        self._api = config.new_client_from_config(config_file=kubeconfig, context=context)
        # Port-forwarding swaps the ApiClient's transport for the duration of a call, so it
        # gets a client (and a lock) of its own: never shared with ordinary API calls.
        self._stream_api = config.new_client_from_config(config_file=kubeconfig, context=context)
        self._stream_lock = threading.Lock()
        self.core = client.CoreV1Api(self._api)
        self.apps = client.AppsV1Api(self._api)
        self.custom = client.CustomObjectsApi(self._api)
        self._stream_core = client.CoreV1Api(self._stream_api)
        self._saved_replicas: dict[tuple[str, str], int] = {}
        self._forwarders: list[Forwarder] = []

        self.wait_ready(ready_timeout)
        self.user_url = (
            ingress_url or os.environ.get("E2E_INGRESS_URL") or "http://localhost"
        ).rstrip("/")
        wait_ingress_routes(self.user_url, timeout=ready_timeout)
        self.audit_url = self._forward_service(self.namespace, "audit", "http").url
        self.ingress = ks.broker_ingress(self._broker())
        broker = self._forward_service(
            self.ingress.namespace, self.ingress.service, self.ingress.port
        )
        self.broker_ingress_url = broker.url + self.ingress.path
        # k8s/user/deployment.yaml: EVENT_SOURCE=/apis/v1/namespaces/$(POD_NAMESPACE)/user
        self.event_source = f"/apis/v1/namespaces/{self.namespace}/user"
        self.user_admin_token = self._secret("user-admin", "token")
        self.audit_read_token = self._secret("audit-read", "token")

    # -- readiness
    def wait_ready(self, timeout: float = 300) -> None:
        m = self.manifests
        wait_broker_ready(self.custom, self.namespace, m.broker, timeout=timeout)
        wait_triggers_ready(
            self.custom, self.namespace, [t.name for t in m.triggers], timeout=timeout
        )
        wait_deployments_available(self.apps, self.namespace, DEPLOYMENTS, timeout=timeout)
        wait_sinkbinding_ready(self.custom, self.namespace, m.sinkbinding, timeout=timeout)

    def _broker(self) -> Any:
        return self.custom.get_namespaced_custom_object(
            EVENTING_GROUP, "v1", self.namespace, "brokers", self.manifests.broker
        )

    def _ingress_deployments(self) -> list[str]:
        namespace = self.ingress.namespace
        service = self.core.read_namespaced_service(self.ingress.service, namespace)
        return ks.deployments_behind(service, self.apps.list_namespaced_deployment(namespace).items)

    def _secret(self, name: str, key: str) -> str | None:
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except _api_exception() as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise
        value = (secret.data or {}).get(key)
        return base64.b64decode(value).decode() if value else None

    # -- port-forwarding
    def _open_stream(self, namespace: str) -> Callable[[tuple[str, int]], StreamSocket]:
        from kubernetes.stream import portforward

        def open_stream(where: tuple[str, int]) -> StreamSocket:
            pod, port = where
            with self._stream_lock:
                forward = portforward(
                    self._stream_core.connect_get_namespaced_pod_portforward,
                    pod,
                    namespace,
                    ports=str(port),
                )
            sock: StreamSocket = forward.socket(port)
            return sock

        return open_stream

    def _forward_service(self, namespace: str, service: str, port: int | str) -> Forwarder:
        forwarder = Forwarder(
            lambda: resolve_service_pod(self.core, namespace, service, port),
            self._open_stream(namespace),
            name=f"{namespace}/{service}",
        )
        self._forwarders.append(forwarder)
        return forwarder

    def _forward_pod(self, namespace: str, pod: str, port: int) -> Forwarder:
        return Forwarder(
            lambda: (pod, port), self._open_stream(namespace), name=f"{namespace}/{pod}"
        )

    # -- outages
    def _scale_down(self, namespace: str, deployment: str) -> None:
        selector = self._selector(namespace, deployment)
        before = scale(self.apps, namespace, deployment, 0)
        self._saved_replicas.setdefault((namespace, deployment), before or 1)
        wait_pods_gone(self.core, namespace, selector)

    def _scale_up(self, namespace: str, deployment: str, *, wait: bool = True) -> None:
        replicas = self._saved_replicas.pop((namespace, deployment), None)
        if replicas is not None:
            scale(self.apps, namespace, deployment, replicas)
        if wait:
            wait_deployments_available(self.apps, namespace, [deployment])

    def _selector(self, namespace: str, deployment: str) -> str:
        dep = ks.as_dict(self.apps.read_namespaced_deployment(deployment, namespace))
        return ks.label_selector(dep["spec"]["selector"]["matchLabels"])

    def stop_audit(self) -> None:
        # Audit is also the dead-letter sink: while it is down, an event whose retries run
        # out is dropped. The scenario keeps the outage inside the retry window.
        self._scale_down(self.namespace, "audit")

    def start_audit(self, *, wait: bool = True) -> None:
        self._scale_up(self.namespace, "audit", wait=wait)

    def wait_audit(self) -> None:
        wait_deployments_available(self.apps, self.namespace, ["audit"])

    def audit_up(self) -> bool:
        try:
            resolve_service_pod(self.core, self.namespace, "audit", "http")
        except LookupError:
            return False
        return True

    def stop_broker(self) -> None:
        # "Broker ingress unreachable": the shared ingress Deployments scaled to 0. The HPA
        # (broker-ingress-hpa) does not act on a Deployment at 0 replicas, and events the
        # ingress already handed on stay in the channel or topic. It affects every Broker of
        # the class: fine for a throwaway kind cluster, not for a shared one.
        for deployment in self._ingress_deployments():
            self._scale_down(self.ingress.namespace, deployment)

    def start_broker(self) -> None:
        for deployment in self._ingress_deployments():
            self._scale_up(self.ingress.namespace, deployment)
        # IngressReady follows the endpoints; wait until the Broker says so again.
        wait_broker_ready(self.custom, self.namespace, self.manifests.broker)

    def ensure_running(self) -> None:
        for namespace, deployment in list(self._saved_replicas):
            self._scale_up(namespace, deployment)
        wait_deployments_available(self.apps, self.namespace, DEPLOYMENTS, timeout=120)

    # -- observation
    def _pods(self, namespace: str) -> list[dict[str, Any]]:
        return [ks.as_dict(p) for p in self.core.list_namespaced_pod(namespace).items]

    def _eventing_pods(self) -> list[dict[str, Any]]:
        return [
            p
            for p in self._pods(EVENTING_NAMESPACE)
            if p["metadata"]["name"].startswith(EVENTING_POD_PREFIXES)
        ]

    def audit_metrics(self) -> list[str]:
        import httpx

        texts = []
        for pod in self._pods(self.namespace):
            if pod["metadata"].get("labels", {}).get("app.kubernetes.io/name") != "audit":
                continue
            if not ks.pod_ready(pod):
                continue
            port = ks.container_port(pod, "http")
            with self._forward_pod(self.namespace, pod["metadata"]["name"], port) as forward:
                texts.append(httpx.get(forward.url + "/metrics", timeout=10).text)
        return texts

    def _pod_logs(self, namespace: str, pod: dict[str, Any], **options: Any) -> str:
        chunks = []
        for container in pod.get("spec", {}).get("containers", []):
            name = container["name"]
            try:
                text = self.core.read_namespaced_pod_log(
                    pod["metadata"]["name"], namespace, container=name, **options
                )
            except _transient() as exc:
                text = f"(no logs: {exc})"
            chunks.append(f"===== {namespace}/{pod['metadata']['name']} [{name}]\n{text}")
        return "\n".join(chunks)

    def collect_logs(self) -> str:
        since = int(time.time() - self.started) + 60
        pods = [(self.namespace, p) for p in self._pods(self.namespace)]
        pods += [(EVENTING_NAMESPACE, p) for p in self._eventing_pods()]
        return "\n".join(self._pod_logs(ns, p, since_seconds=since) for ns, p in pods)

    def diagnostics(self) -> str:
        sections: list[str] = [f"cluster target, context {self.context}"]
        m = self.manifests
        with contextlib.suppress(*_transient()):
            sections.append(ks.conditions_report(self._broker()))
        with contextlib.suppress(*_transient()):
            triggers: Any = self.custom.list_namespaced_custom_object(
                EVENTING_GROUP, "v1", self.namespace, "triggers"
            )
            sections += [ks.conditions_report(t) for t in triggers.get("items", [])]
        with contextlib.suppress(*_transient()):
            sections.append(
                ks.conditions_report(
                    self.custom.get_namespaced_custom_object(
                        SOURCES_GROUP, "v1", self.namespace, "sinkbindings", m.sinkbinding
                    )
                )
            )
        for name in DEPLOYMENTS:
            with contextlib.suppress(*_transient()):
                sections.append(
                    ks.deployment_available(
                        self.apps.read_namespaced_deployment(name, self.namespace)
                    ).why
                )
        pods = [(self.namespace, p) for p in self._pods(self.namespace)]
        pods += [(EVENTING_NAMESPACE, p) for p in self._eventing_pods()]
        sections.append("pods:\n" + "\n".join(f"  {ns}/{ks.pod_summary(p)}" for ns, p in pods))
        with contextlib.suppress(*_transient()):
            events = self.core.list_namespaced_event(self.namespace).items
            warnings = [e for e in events if e.type == "Warning"][-20:]
            sections.append(
                "warning events:\n"
                + "\n".join(
                    f"  {e.involved_object.kind}/{e.involved_object.name}: {e.reason}: {e.message}"
                    for e in warnings
                )
            )
        for forwarder in self._forwarders:
            if forwarder.errors:
                sections.append(
                    f"port-forward {forwarder.name}: " + "; ".join(forwarder.errors[-5:])
                )
        sections += [self._pod_logs(ns, p, tail_lines=50) for ns, p in pods]
        return "\n\n".join(sections)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ensure_running()
        for forwarder in self._forwarders:
            forwarder.close()
        self._api.close()
        self._stream_api.close()
