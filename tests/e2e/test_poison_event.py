"""Scenario 6, a poison event: audit answers 400 to it, so the broker must not retry it
and must hand it to the dead-letter sink with `knativeerrorcode` 400."""

from __future__ import annotations

import json

import pytest

from tests.e2e.api import TRANSIENT, AuditApi, metric_sum, post_event
from tests.e2e.local import LocalTarget
from tests.e2e.manifests import load as load_manifests
from tests.e2e.polling import wait_until
from tests.e2e.target import Target


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("id is not a string", b'{"id": 42}'),
        ("data is not an object", b'["not", "an", "object"]'),
    ],
)
def test_an_event_audit_rejects_is_dead_lettered_once_with_code_400(
    system: Target, audit: AuditApi, label: str, data: bytes
) -> None:
    trigger = load_manifests().trigger_for("user.storeUser")
    assert trigger is not None
    rejected_before = metric_sum(
        system.audit_metrics(), "audit_events_rejected_total", reason="invalid_event_data"
    )
    attempts_before = (
        metric_sum(
            [system.broker_metrics()],
            "broker_trigger_events_total",
            trigger=trigger.name,
            response_code="400",
        )
        if isinstance(system, LocalTarget)
        else 0.0
    )

    event_id, response = post_event(
        system.broker_ingress_url,
        event_type="user.storeUser",
        source="/e2e/poison",
        subject="poison",
        data=data,
    )
    assert response.status_code == 202, response.text

    # Wait for either outcome, so that a sink that wrongly accepts the event fails fast.
    stored, letters = wait_until(
        lambda: (audit.events(id=event_id), audit.dead_letters(id=event_id, source="/e2e/poison")),
        lambda found: bool(found[0] or found[1]),
        timeout=30,
        what="the poison event stored or dead-lettered",
        retry_on=TRANSIENT,
    )
    assert not stored, (
        f"audit accepted an event with invalid data ({label}) and stored it; it must answer "
        "400 invalid_event_data so that the broker dead-letters it without retrying"
    )
    (letter,) = letters
    assert letter["type"] == "user.storeUser"
    assert letter["error"]["code"] == 400
    assert int(letter["attributes"]["knativeerrorcode"]) == 400
    assert letter["error"]["dest"], "knativeerrordest names the subscriber"
    # audit's 400 body travels in knativeerrordata; it names the reason.
    assert "invalid_event_data" in json.dumps(letter["error"].get("data"))
    assert audit.events(id=event_id) == [], "a rejected event must not be stored as an event"

    # Not retried: exactly one attempt reached audit's sink. The dead letter arrives only
    # after the broker gave up on the subscriber, so the counters are final by now.
    # (On a cluster with several audit pods the counters are summed over all of them.)
    rejected = wait_until(
        lambda: metric_sum(
            system.audit_metrics(), "audit_events_rejected_total", reason="invalid_event_data"
        ),
        lambda value: value >= rejected_before + 1,
        timeout=10,
        what="audit counted the rejection",
    )
    assert rejected - rejected_before == 1, (
        f"audit rejected it {rejected - rejected_before:g} times"
    )
    if isinstance(system, LocalTarget):
        attempts = metric_sum(
            [system.broker_metrics()],
            "broker_trigger_events_total",
            trigger=trigger.name,
            response_code="400",
        )
        assert attempts - attempts_before == 1, (
            f"the broker tried {attempts - attempts_before:g} times"
        )
