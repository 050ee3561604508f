"""Scenario 3, volume: 1,000 users created concurrently -> exactly 1,000 `user.storeUser`
records in audit, one per user, within a deadline."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from tests.e2e.api import TRANSIENT, AuditApi, create_many, distinctive_password, metric_sum
from tests.e2e.polling import wait_until
from tests.e2e.target import Target

USERS = int(os.environ.get("E2E_VOLUME_USERS", "1000"))
#: Seconds for the whole scenario (creating and delivering), per target. Measured times
#: are in docs/e2e.md; the deadlines leave room for slow CI machines. On a cluster every
#: sign-up pays the production argon2id cost (64 MiB, 3 passes) on 2 user pods.
DEADLINES = {"local": 120.0, "cluster": 600.0}
CONCURRENCY = 100


def test_a_thousand_concurrent_sign_ups_make_a_thousand_records(
    system: Target, audit: AuditApi, measure: dict[str, str]
) -> None:
    deadline = float(os.environ.get("E2E_VOLUME_DEADLINE") or DEADLINES[system.kind])
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    duplicates_before = metric_sum(system.audit_metrics(), "audit_events_duplicate_total")
    stored_before = audit.count("user.storeUser")
    started = time.monotonic()

    created = create_many(
        system.user_url,
        USERS,
        password=distinctive_password("volume"),
        label="Volume",
        concurrency=CONCURRENCY,
    )
    create_seconds = time.monotonic() - started
    ids = {user["id"] for user in created}
    assert len(ids) == USERS, "every sign-up got its own id"

    # Poll the cheap per-type count, not the records: reading 1,000 records a few times a
    # second would compete with the pipeline it measures.
    wait_until(
        lambda: audit.count("user.storeUser"),
        lambda stored: stored >= stored_before + USERS,
        timeout=max(1.0, deadline - (time.monotonic() - started)),
        what=f"{USERS} more user.storeUser records in audit",
        describe=lambda stored: f"{stored - stored_before} so far",
        retry_on=TRANSIENT,
    )
    total_seconds = time.monotonic() - started

    def ours() -> list[dict[str, object]]:
        return [e for e in audit.events(type="user.storeUser", since=since) if e["subject"] in ids]

    # Normally at once; polled in case other sign-ups made up part of the count.
    records = wait_until(
        ours,
        lambda found: {e["subject"] for e in found} >= ids,
        timeout=max(1.0, deadline - (time.monotonic() - started)),
        what=f"the records of all {USERS} users",
        describe=lambda found: f"{len(found)} found",
        retry_on=TRANSIENT,
    )

    per_user = Counter(e["subject"] for e in records)
    assert len(records) == USERS, f"{len(records)} records for {USERS} users"
    assert set(per_user) == ids
    assert max(per_user.values()) == 1, "some user has two storeUser records"
    assert len({(e["source"], e["id"]) for e in records}) == USERS

    duplicates = metric_sum(system.audit_metrics(), "audit_events_duplicate_total")
    measure["create"] = f"{create_seconds:.2f}s for {USERS} users ({USERS / create_seconds:.0f}/s)"
    measure["all in audit"] = f"{total_seconds:.2f}s after the first request"
    measure["redeliveries absorbed by audit's dedupe"] = f"{duplicates - duplicates_before:g}"
