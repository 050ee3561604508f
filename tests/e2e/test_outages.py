"""Scenarios 4 and 5: audit down, then the broker ingress unreachable. Users are created
meanwhile; once the part is back every event arrives, none twice."""

from __future__ import annotations

import time
from collections import Counter

from tests.e2e.api import AuditApi, create_many, distinctive_password, metric_sum
from tests.e2e.local import LocalTarget
from tests.e2e.manifests import load as load_manifests
from tests.e2e.polling import wait_until
from tests.e2e.target import Target

BATCH = 25


def _wait_all_once(audit: AuditApi, ids: set[str], timeout: float) -> None:
    def ours() -> list[dict[str, object]]:
        return [e for e in audit.events(type="user.storeUser") if e["subject"] in ids]

    records = wait_until(
        ours,
        lambda found: {e["subject"] for e in found} >= ids,
        timeout=timeout,
        what=f"{len(ids)} user.storeUser records after the outage",
        describe=lambda found: f"{len({e['subject'] for e in found})} arrived",
    )
    per_user = Counter(e["subject"] for e in records)
    assert len(records) == len(ids), f"{len(records)} records for {len(ids)} users"
    assert max(per_user.values()) == 1, "an event arrived twice"
    for user_id in ids:
        assert audit.dead_letters(subject=user_id) == [], "an event was dead-lettered"


def test_events_created_while_audit_is_down_arrive_once_it_is_back(
    system: Target, audit: AuditApi, measure: dict[str, str]
) -> None:
    """Delivery here rests on the broker's retries: the user service handed the events
    over (202) while audit was down. The Broker's delivery (k8s/broker.yaml) retries for
    a bounded window, and audit is also the dead-letter sink; an outage longer than that
    window loses events by design of the manifests, so the scenario keeps the outage
    inside it and checks that it did."""
    window = load_manifests().delivery_for("user.storeUser")
    assert window is not None, "the Broker has no delivery spec"
    failed_before = (
        metric_sum(
            [system.broker_metrics()], "broker_trigger_events_total", response_code_class="none"
        )
        if isinstance(system, LocalTarget)
        else 0.0
    )

    system.stop_audit()
    assert not system.audit_up()
    # An event's retry window opens with its first failed attempt, milliseconds after its
    # sign-up, so the outage that matters runs from the first sign-up until audit is
    # ready. Audit is started right away and the users signed up while it boots: its
    # cold start (a few seconds) is the outage; the check after the sign-ups proves
    # they all happened while audit could not take anything.
    down_at = time.monotonic()
    system.start_audit(wait=False)
    created = create_many(
        system.user_url, BATCH, password=distinctive_password("audit-down"), label="AuditDown"
    )
    assert not system.audit_up(), "audit was back before the sign-ups ended: nothing was tested"
    system.wait_audit()
    outage = time.monotonic() - down_at
    measure["audit outage"] = f"{outage:.2f}s (retry window {window.retry_window():g}s)"
    assert outage < window.retry_window(), (
        f"audit was down {outage:.1f}s, longer than the broker's retry window "
        f"({window.retry_window():g}s): events are dropped by design after that"
    )

    ids = {user["id"] for user in created}
    _wait_all_once(audit, ids, timeout=window.retry_window() + 30)

    if isinstance(system, LocalTarget):
        # The outage was real: the broker's attempts found nobody listening (at least one
        # failed attempt per event, each later retried successfully).
        failed = metric_sum(
            [system.broker_metrics()], "broker_trigger_events_total", response_code_class="none"
        )
        assert failed - failed_before >= BATCH, (
            f"only {failed - failed_before:g} attempts failed for {BATCH} events: "
            "some were not delivered while audit was down"
        )
        measure["failed attempts retried"] = f"{failed - failed_before:g}"


def test_users_are_created_while_the_broker_is_unreachable_and_their_events_follow(
    system: Target, audit: AuditApi, measure: dict[str, str]
) -> None:
    """Here the outbox carries the events: the user service commits each user with its
    event and the relay keeps sending until the broker answers 202.
    Local: the broker process is stopped. Cluster: the broker-ingress Deployment in
    knative-eventing is scaled to 0 (see ClusterTarget.stop_broker)."""
    system.stop_broker()
    down_at = time.monotonic()
    try:
        created = create_many(
            system.user_url, BATCH, password=distinctive_password("broker-down"), label="BrokerDown"
        )
        ids = {user["id"] for user in created}
        # Nothing can have gone through: there is no broker to carry it.
        arrived = [e for e in audit.events(type="user.storeUser") if e["subject"] in ids]
        assert arrived == [], "events arrived although the broker was down"
    finally:
        system.start_broker()
    back_at = time.monotonic()

    _wait_all_once(audit, ids, timeout=60)
    measure["broker outage"] = f"{back_at - down_at:.2f}s"
    measure["delivered after return"] = f"{time.monotonic() - back_at:.2f}s"
