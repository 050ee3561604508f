"""Prometheus metrics of the audit service (served by common.web.health at /metrics)."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter(
    "audit_events_received_total",
    "Events accepted by the sink (stored or duplicate), by type and content mode.",
    ["type", "mode"],
)
DUPLICATES = Counter(
    "audit_events_duplicate_total",
    "Events acknowledged but not stored again: (source, id) was already stored.",
    ["kind"],
)
REJECTED = Counter(
    "audit_events_rejected_total",
    "Sink requests answered 4xx or 503, by reason (the JSON error code).",
    ["reason"],
)
DEAD_LETTERS = Counter(
    "audit_dead_letters_received_total", "Dead-lettered events accepted by /dead-letter."
)
STORE_LATENCY = Histogram(
    "audit_store_commit_seconds",
    "Time to write and commit one group-commit batch.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_ROWS = Histogram(
    "audit_store_batch_rows",
    "Rows written per group-commit transaction.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
STORE_FAILURES = Counter(
    "audit_store_failures_total", "Group-commit transactions that failed (answered 503)."
)
DATA_JSON_REFUSED = Counter(
    "audit_data_json_refused_total",
    "Events stored with data_json NULL because the database refused their JSON "
    "(e.g. a number PostgreSQL's numeric cannot hold); the bytes are kept.",
)
SSE_CLIENTS = Gauge("audit_sse_clients", "Open live-tail (SSE) connections.")

# Event types come from clients; past this many distinct labels the rest share one,
# and so does any longer type, so a sender cannot grow the metric without bound.
MAX_TYPE_LABELS = 200
MAX_TYPE_LABEL_LENGTH = 100
OTHER_TYPE = "_other"
_known_types: set[str] = set()
_known_types_lock = threading.Lock()


def type_label(event_type: str) -> str:
    """`event_type` as a metric label, or `_other` once the label budget is spent
    or for a type longer than MAX_TYPE_LABEL_LENGTH."""
    if event_type in _known_types:
        return event_type
    if len(event_type) > MAX_TYPE_LABEL_LENGTH:
        return OTHER_TYPE
    with _known_types_lock:
        if len(_known_types) < MAX_TYPE_LABELS:
            _known_types.add(event_type)
            return event_type
    return OTHER_TYPE
