"""Pure evaluation of Kubernetes and Knative status documents, for the cluster target.

Every function takes objects shaped like the API server's JSON (camelCase keys, as
`kubectl get -o json` prints them and as CustomObjectsApi returns them). Typed models
from the `kubernetes` client (V1Deployment, V1Pod, ...) are accepted too and converted
with the client's own serializer. No I/O here, so tests/unit/e2e_support proves the
logic before any cluster runs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one object: `ok`, and in `why` what a human needs to see."""

    ok: bool
    why: str

    def __bool__(self) -> bool:
        return self.ok


def as_dict(obj: Any) -> dict[str, Any]:
    """A plain API-shaped dict from a dict or a `kubernetes` client model."""
    if isinstance(obj, Mapping):
        return dict(obj)
    # Models (V1Pod, ...) know their JSON names; the client's serializer applies them.
    data = _serializer().sanitize_for_serialization(obj)
    if not isinstance(data, dict):
        raise TypeError(f"not an API object: {obj!r}")
    return data


@cache
def _serializer() -> Any:
    from kubernetes.client import ApiClient

    return ApiClient()


def _get(obj: Obj, *path: str) -> Any:
    current: Any = obj
    for key in path:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def describe_ref(obj: Obj) -> str:
    kind = obj.get("kind") or "object"
    namespace = _get(obj, "metadata", "namespace")
    name = _get(obj, "metadata", "name") or "?"
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def conditions(obj: Obj) -> list[dict[str, Any]]:
    found = _get(obj, "status", "conditions")
    return [dict(c) for c in found] if isinstance(found, list) else []


def condition(obj: Obj, kind: str) -> dict[str, Any] | None:
    for entry in conditions(obj):
        if entry.get("type") == kind:
            return entry
    return None


def format_condition(entry: Mapping[str, Any]) -> str:
    text = f"{entry.get('type')}={entry.get('status')}"
    reason, message = entry.get("reason"), entry.get("message")
    if reason or message:
        text += f" ({': '.join(str(p) for p in (reason, message) if p)})"
    return text


def _stale(obj: Obj) -> str | None:
    """Knative and apps/v1 controllers write status.observedGeneration once they acted on
    the current spec; a status older than the spec says nothing about the spec."""
    generation = _get(obj, "metadata", "generation")
    observed = _get(obj, "status", "observedGeneration")
    if generation is None:
        return None
    if observed is None or int(observed) < int(generation):
        return f"status not yet observed (observedGeneration {observed} < generation {generation})"
    return None


def knative_ready(obj: Any) -> Verdict:
    """A Knative resource (Broker, Trigger, SinkBinding, ...) is ready when its controller
    saw the current generation and its `Ready` condition has status "True".
    When not, `why` lists every condition that is not True, with reason and message."""
    data = as_dict(obj)
    name = describe_ref(data)
    stale = _stale(data)
    if stale:
        return Verdict(False, f"{name}: {stale}")
    ready = condition(data, "Ready")
    if ready is None:
        return Verdict(False, f"{name}: no Ready condition yet")
    if ready.get("status") == "True":
        return Verdict(True, f"{name}: Ready=True")
    others = [format_condition(c) for c in conditions(data) if c.get("status") != "True"]
    return Verdict(False, f"{name}: " + "; ".join(others or [format_condition(ready)]))


def all_ready(objects: Iterable[Any], *, expected: Iterable[str] = ()) -> Verdict:
    """Every object ready, and every name in `expected` present (a Trigger that does not
    exist yet is not ready either)."""
    items = [as_dict(o) for o in objects]
    present = {_get(o, "metadata", "name") for o in items}
    missing = sorted(set(expected) - present)
    verdicts = [knative_ready(o) for o in items]
    problems = [f"missing: {', '.join(missing)}"] if missing else []
    problems += [v.why for v in verdicts if not v.ok]
    if problems:
        return Verdict(False, "; ".join(problems))
    if not items:
        return Verdict(False, "none found")
    return Verdict(True, "; ".join(v.why for v in verdicts))


def deployment_available(obj: Any) -> Verdict:
    """The rule `kubectl rollout status` applies, plus the Available condition: the
    controller observed the current spec, every replica runs the current template, no old
    replica is left, and all of them are available. A Deployment scaled to 0 is available
    once its last pod is gone from its status."""
    data = as_dict(obj)
    name = describe_ref({**data, "kind": data.get("kind") or "Deployment"})
    stale = _stale(data)
    if stale:
        return Verdict(False, f"{name}: {stale}")
    status = data.get("status") or {}
    progressing = condition(data, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Verdict(False, f"{name}: {format_condition(progressing)}")
    wanted = _get(data, "spec", "replicas")
    wanted = 1 if wanted is None else int(wanted)
    replicas = int(status.get("replicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    counts = f"want {wanted}, updated {updated}, total {replicas}, available {available}"
    if updated < wanted:
        return Verdict(False, f"{name}: rollout in progress ({counts})")
    if replicas > updated:
        return Verdict(False, f"{name}: old replicas still running ({counts})")
    if available < updated:
        return Verdict(False, f"{name}: replicas not yet available ({counts})")
    if wanted > 0:
        available_condition = condition(data, "Available")
        if available_condition is not None and available_condition.get("status") != "True":
            return Verdict(False, f"{name}: {format_condition(available_condition)}")
    return Verdict(True, f"{name}: available ({counts})")


def label_selector(selector: Mapping[str, str]) -> str:
    """`{"a": "b", "c": "d"}` -> `"a=b,c=d"` (the list API's labelSelector syntax)."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def pod_ready(pod: Obj) -> bool:
    if _get(pod, "metadata", "deletionTimestamp"):
        return False  # terminating: endpoints already dropped it
    if _get(pod, "status", "phase") != "Running":
        return False
    ready = condition(pod, "Ready")
    return bool(ready and ready.get("status") == "True")


def matches_selector(pod: Obj, selector: Mapping[str, str]) -> bool:
    labels = _get(pod, "metadata", "labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def pods_gone(pods: Iterable[Any]) -> Verdict:
    """No pod left at all, terminating ones included: a terminating pod can still answer
    (preStop hooks keep the server up), so "down" means gone."""
    names = [
        f"{_get(p, 'metadata', 'name')} ({_get(p, 'status', 'phase')}"
        + (", terminating)" if _get(p, "metadata", "deletionTimestamp") else ")")
        for p in (as_dict(x) for x in pods)
    ]
    if names:
        return Verdict(False, "still present: " + ", ".join(names))
    return Verdict(True, "no pods left")


def container_port(pod: Obj, target: int | str) -> int:
    """The number a Service's `targetPort` means in this pod: a number as is, a name looked
    up in the containers' ports (the way kube-proxy resolves named ports)."""
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in _get(pod, "spec", "containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    raise LookupError(f"pod {_get(pod, 'metadata', 'name')} has no container port named {target}")


def service_target(service: Obj, port: int | str) -> int | str:
    """The `targetPort` behind a Service port given by number or name (defaults to the port
    number itself, as the API server does)."""
    for entry in _get(service, "spec", "ports") or []:
        if entry.get("port") == port or (entry.get("name") and entry.get("name") == port):
            target = entry.get("targetPort")
            return entry["port"] if target is None else target
    raise LookupError(f"{describe_ref({**service, 'kind': 'Service'})} has no port {port}")


def select_pod(service: Any, pods: Iterable[Any], port: int | str) -> tuple[str, int]:
    """Where a connection to `service:port` lands: a ready, non-terminating pod matching the
    Service's selector (the first by name, for stable choices), and the pod's port number.
    Raises LookupError with a reason when there is none, like an empty Endpoints object."""
    svc = as_dict(service)
    selector = _get(svc, "spec", "selector") or {}
    if not selector:
        raise LookupError(f"Service {_get(svc, 'metadata', 'name')} has no selector")
    target = service_target(svc, port)
    candidates = sorted(
        (p for p in (as_dict(x) for x in pods) if matches_selector(p, selector)),
        key=lambda p: str(_get(p, "metadata", "name")),
    )
    ready = [p for p in candidates if pod_ready(p)]
    if not ready:
        seen = ", ".join(pod_summary(p) for p in candidates) or "no pods"
        raise LookupError(f"no ready pod behind Service {_get(svc, 'metadata', 'name')}: {seen}")
    pod = ready[0]
    return str(_get(pod, "metadata", "name")), container_port(pod, target)


@dataclass(frozen=True)
class ServiceAddress:
    """A cluster-internal URL taken apart: `http://<service>.<namespace>.svc.cluster.local
    [:port]/<path>` (the form Knative writes into a Broker's status.address.url)."""

    namespace: str
    service: str
    port: int
    path: str


def broker_ingress(broker: Any) -> ServiceAddress:
    """The ingress Service a Broker's address names. Each broker class has its own: the
    MT channel broker `broker-ingress`, the Kafka broker `kafka-broker-ingress`."""
    doc = as_dict(broker)
    url = _get(doc, "status", "address", "url")
    if not url:
        raise LookupError(f"{describe_ref(doc)} has no status.address.url yet")
    parts = urlsplit(str(url))
    labels = (parts.hostname or "").split(".")
    if len(labels) < 3 or labels[2] != "svc":
        raise LookupError(f"{describe_ref(doc)}: {url} does not name a Service")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return ServiceAddress(labels[1], labels[0], port, parts.path)


def deployments_behind(service: Any, deployments: Iterable[Any]) -> list[str]:
    """Names of the Deployments whose pods the Service selects (a Service and its
    Deployment need not share a name: broker-ingress is served by mt-broker-ingress)."""
    svc = as_dict(service)
    selector = _get(svc, "spec", "selector") or {}
    if not selector:
        raise LookupError(f"Service {_get(svc, 'metadata', 'name')} has no selector")
    names = []
    for deployment in (as_dict(d) for d in deployments):
        labels = _get(deployment, "spec", "template", "metadata", "labels") or {}
        if all(labels.get(key) == value for key, value in selector.items()):
            names.append(str(_get(deployment, "metadata", "name")))
    if not names:
        raise LookupError(f"no Deployment behind Service {_get(svc, 'metadata', 'name')}")
    return sorted(names)


def pod_summary(obj: Any) -> str:
    """One line per pod for diagnostics: phase, readiness, restarts, why containers wait or
    died (CrashLoopBackOff, ImagePullBackOff, OOMKilled, ...)."""
    pod = as_dict(obj)
    name = _get(pod, "metadata", "name")
    phase = _get(pod, "status", "phase") or "?"
    parts = [f"{name}: {phase}", "ready" if pod_ready(pod) else "not ready"]
    if _get(pod, "metadata", "deletionTimestamp"):
        parts.append("terminating")
    for status in _get(pod, "status", "containerStatuses") or []:
        detail = f"{status.get('name')} restarts={status.get('restartCount', 0)}"
        state = status.get("state") or {}
        for key in ("waiting", "terminated"):
            if state.get(key):
                info = state[key]
                detail += f" {key}={info.get('reason')}"
                if info.get("exitCode") is not None:
                    detail += f" exit={info.get('exitCode')}"
                if info.get("message"):
                    detail += f" ({info.get('message')})"
        last = (status.get("lastState") or {}).get("terminated")
        if last:
            detail += f" last={last.get('reason')} exit={last.get('exitCode')}"
        parts.append(detail)
    return ", ".join(parts)


def conditions_report(obj: Any) -> str:
    """A resource and every one of its conditions, one per line."""
    data = as_dict(obj)
    lines = [describe_ref(data)]
    stale = _stale(data)
    if stale:
        lines.append(f"  {stale}")
    lines += [f"  {format_condition(c)}" for c in conditions(data)] or ["  (no conditions)"]
    return "\n".join(lines)
