"""Prometheus metrics named after Knative's broker ingress and filter metrics."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

# Event types come from producers: each new one would be a new series forever.
MAX_EVENT_TYPE_LABELS: Final = 256
MAX_EVENT_TYPE_LABEL_CHARS: Final = 128
OTHER_EVENT_TYPE: Final = "(other)"
_event_types: set[str] = set()


def status_class(status: int | None) -> str:
    """`2xx`, `4xx`, ...; `none` when there was no response at all."""
    return "none" if status is None else f"{status // 100}xx"


def event_type_label(event_type: str) -> str:
    """The `event_type` label: the type itself for the first 256 short types, else `(other)`."""
    if event_type in _event_types:
        return event_type
    if len(event_type) > MAX_EVENT_TYPE_LABEL_CHARS or len(_event_types) >= MAX_EVENT_TYPE_LABELS:
        return OTHER_EVENT_TYPE
    _event_types.add(event_type)
    return event_type


EVENTS_RECEIVED = Counter(
    "broker_events_received_total",
    "Events received by the broker ingress, by broker, event type and response code.",
    ["namespace", "broker", "event_type", "response_code", "response_code_class"],
)
TRIGGER_EVENTS = Counter(
    "broker_trigger_events_total",
    "Delivery attempts to a Trigger's subscriber or dead-letter sink, by response code.",
    ["namespace", "broker", "trigger", "response_code", "response_code_class"],
)
DISPATCH_LATENCY = Histogram(
    "broker_dispatch_latency_seconds",
    "Time to deliver an event to a Trigger's subscriber (one attempt).",
    ["namespace", "broker", "trigger", "response_code_class"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE_DEPTH = Gauge(
    "broker_queue_depth",
    "Deliveries accepted and not yet finished, by Trigger (namespace/name).",
    ["trigger"],
)
DEAD_LETTERED = Counter(
    "broker_dead_lettered_total",
    "Events a Trigger handed to its dead-letter sink.",
    ["trigger"],
)
DROPPED = Counter(
    "broker_dropped_total",
    "Events a Trigger gave up on, by reason.",
    ["trigger", "reason"],
)
REPLIES = Counter(
    "broker_replies_total",
    "Reply events from subscribers, by what happened to them.",
    ["trigger", "result"],
)
