"""What the services say about themselves after a measurement (their /metrics), turned
into one-line notes for results.md: how big the group commits were, what a relay send
or a delivery cost, and whether any event was stored twice (it must not be)."""

from __future__ import annotations

from collections import defaultdict

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, float]


def scrape(base_url: str) -> Samples:
    """Every sample of `GET /metrics`, summed over label sets, by sample name."""
    try:
        text = httpx.get(base_url + "/metrics", timeout=5.0).text
    except httpx.HTTPError:
        return {}
    totals: defaultdict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            totals[sample.name] += sample.value
    return dict(totals)


def _mean(samples: Samples, histogram: str) -> float | None:
    count = samples.get(histogram + "_count", 0.0)
    return samples.get(histogram + "_sum", 0.0) / count if count else None


def audit_notes(samples: Samples) -> list[str]:
    notes = []
    rows = _mean(samples, "audit_store_batch_rows")
    commit = _mean(samples, "audit_store_commit_seconds")
    if rows is not None and commit is not None:
        notes.append(
            f"audit group commit: {samples['audit_store_batch_rows_count']:,.0f} transactions, "
            f"{rows:,.1f} rows and {commit * 1000:.1f} ms per commit on average"
        )
    if samples:
        # A labelled counter has no samples until its first increment: absent means 0.
        duplicates = samples.get("audit_events_duplicate_total", 0.0)
        notes.append(f"events acknowledged as duplicates (not stored again): {duplicates:,.0f}")
    return notes


def broker_notes(samples: Samples) -> list[str]:
    dispatch = _mean(samples, "broker_dispatch_latency_seconds")
    if dispatch is None:
        return []
    return [
        f"broker: {samples['broker_dispatch_latency_seconds_count']:,.0f} deliveries, "
        f"{dispatch * 1000:.1f} ms per delivery attempt on average"
    ]


def user_notes(samples: Samples) -> list[str]:
    notes = []
    send = _mean(samples, "user_outbox_send_duration_seconds")
    if send is not None:
        notes.append(
            f"user outbox relay: {samples['user_outbox_send_duration_seconds_count']:,.0f} "
            f"sends, {send * 1000:.1f} ms per send on average (one at a time)"
        )
    hashing = samples.get("user_password_hash_seconds_count")
    if hashing:
        mean = samples["user_password_hash_seconds_sum"] / hashing
        notes.append(
            f"password hashing: {hashing:,.0f} hashes, {mean * 1000:.1f} ms each on average "
            "(queueing for a hash slot included)"
        )
    return notes
