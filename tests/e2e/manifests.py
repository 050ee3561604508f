"""What the project's own manifests say, so the suite follows them instead of repeating
them: the Broker's namespace/name and delivery, the Triggers and what they select,
the SinkBinding's name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
BROKER_MANIFEST = K8S / "broker.yaml"
TRIGGERS_MANIFEST = K8S / "triggers.yaml"
SINKBINDING_MANIFEST = K8S / "user" / "sinkbinding.yaml"


def _documents(path: Path) -> list[dict[str, Any]]:
    with path.open() as handle:
        return [doc for doc in yaml.safe_load_all(handle) if isinstance(doc, dict)]


@dataclass(frozen=True)
class Delivery:
    retry: int
    backoff_policy: str
    backoff_delay: float

    def retry_window(self) -> float:
        """Seconds between the first attempt and the last retry, by the backoff rule the
        local broker and Knative's code use: delay * 2^n (exponential) or delay * n
        (linear), n counted from 0."""
        if self.backoff_policy == "linear":
            return float(sum(self.backoff_delay * n for n in range(self.retry)))
        return float(sum(self.backoff_delay * 2**n for n in range(self.retry)))


def iso_seconds(value: str) -> float:
    """`PT0.5S`, `PT2M`, `PT1M30S` -> seconds (the subset Knative manifests use)."""
    match = re.fullmatch(
        r"PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?", value
    )
    if not match or not any(match.groups()):
        raise ValueError(f"unsupported ISO-8601 duration: {value}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _delivery(spec: Mapping[str, Any] | None) -> Delivery | None:
    if not spec:
        return None
    return Delivery(
        retry=int(spec.get("retry", 0)),
        backoff_policy=str(spec.get("backoffPolicy", "exponential")),
        backoff_delay=iso_seconds(spec["backoffDelay"]) if spec.get("backoffDelay") else 0.0,
    )


@dataclass(frozen=True)
class Trigger:
    name: str
    selected_type: str | None
    delivery: Delivery | None


@dataclass(frozen=True)
class Manifests:
    namespace: str
    broker: str
    broker_delivery: Delivery | None
    triggers: tuple[Trigger, ...]
    sinkbinding: str

    @property
    def broker_path(self) -> str:
        return f"/{self.namespace}/{self.broker}"

    def trigger_for(self, event_type: str) -> Trigger | None:
        for trigger in self.triggers:
            if trigger.selected_type == event_type:
                return trigger
        return None

    def delivery_for(self, event_type: str) -> Delivery | None:
        """A Trigger's delivery replaces the Broker's as a whole."""
        trigger = self.trigger_for(event_type)
        if trigger is not None and trigger.delivery is not None:
            return trigger.delivery
        return self.broker_delivery


def _selected_type(spec: Mapping[str, Any]) -> str | None:
    """The `type` a Trigger selects exactly, for the two filter shapes our manifests use."""
    for entry in spec.get("filters") or []:
        exact = entry.get("exact") or {}
        if "type" in exact:
            return str(exact["type"])
    attributes = (spec.get("filter") or {}).get("attributes") or {}
    return str(attributes["type"]) if "type" in attributes else None


@cache
def load() -> Manifests:
    (broker,) = [d for d in _documents(BROKER_MANIFEST) if d.get("kind") == "Broker"]
    triggers = tuple(
        Trigger(
            name=doc["metadata"]["name"],
            selected_type=_selected_type(doc.get("spec") or {}),
            delivery=_delivery((doc.get("spec") or {}).get("delivery")),
        )
        for doc in _documents(TRIGGERS_MANIFEST)
        if doc.get("kind") == "Trigger"
    )
    (binding,) = [d for d in _documents(SINKBINDING_MANIFEST) if d.get("kind") == "SinkBinding"]
    return Manifests(
        namespace=broker["metadata"].get("namespace", "user-audit"),
        broker=broker["metadata"]["name"],
        broker_delivery=_delivery((broker.get("spec") or {}).get("delivery")),
        triggers=triggers,
        sinkbinding=binding["metadata"]["name"],
    )
