"""Scenario 2, filtering: each type goes where k8s/triggers.yaml sends it, and a type no
Trigger selects never reaches audit."""

from __future__ import annotations

import json

from tests.e2e.api import (
    AuditApi,
    UserApi,
    assert_nowhere,
    basic,
    distinctive_password,
    metric_sum,
    post_event,
)
from tests.e2e.local import LocalTarget, wait_queue_drained
from tests.e2e.manifests import load as load_manifests
from tests.e2e.target import Target


def _delivered(system: Target) -> dict[str, float]:
    """Local only: successful deliveries per Trigger, from the broker's metrics."""
    assert isinstance(system, LocalTarget)
    text = system.broker_metrics()
    return {
        t.name: metric_sum(
            [text], "broker_trigger_events_total", trigger=t.name, response_code_class="2xx"
        )
        for t in load_manifests().triggers
    }


def test_update_and_delete_events_go_where_the_triggers_say(
    system: Target, users: UserApi, audit: AuditApi
) -> None:
    manifests = load_manifests()
    for event_type in ("user.storeUser", "user.updateUser", "user.deleteUser"):
        assert manifests.trigger_for(event_type) is not None, f"no Trigger selects {event_type}"
    local = isinstance(system, LocalTarget)
    before = _delivered(system) if local else {}

    password = distinctive_password("routing")
    user_id = users.create("Grace Hopper", password)["id"]
    audit.wait_events(type="user.storeUser", subject=user_id)

    renamed = users.update(user_id, basic(user_id, password), name="Grace B. Hopper")
    assert renamed.status_code == 200, renamed.text
    (updated,) = audit.wait_events(type="user.updateUser", subject=user_id)
    assert updated["data"] == {"id": user_id, "changed": ["name"]}
    assert updated["source"] == system.event_source

    # A password change says that the password changed, never what it is.
    new_password = distinctive_password("routing-new")
    changed = users.update(user_id, basic(user_id, password), password=new_password)
    assert changed.status_code == 200, changed.text
    updates = audit.wait_events(type="user.updateUser", subject=user_id, count=2, order="asc")
    assert updates[1]["data"] == {"id": user_id, "changed": ["password"]}
    assert users.get(user_id, basic(user_id, password)).status_code == 401

    gone = users.delete(user_id, basic(user_id, new_password))
    assert gone.status_code == 204, gone.text
    (deleted,) = audit.wait_events(type="user.deleteUser", subject=user_id)
    assert deleted["data"] == {"id": user_id}

    history = audit.events(subject=user_id, order="asc")
    assert [e["type"] for e in history] == [
        "user.storeUser",
        "user.updateUser",
        "user.updateUser",
        "user.deleteUser",
    ]
    assert len({e["id"] for e in history}) == 4
    places = {
        "user API responses": "\n".join(users.transcript),
        "audit records": json.dumps(history),
        "logs": system.collect_logs(),
    }
    assert_nowhere(password, places)
    assert_nowhere(new_password, places)

    if isinstance(system, LocalTarget):
        # Each event went through the Trigger that selects its type, and only that one.
        wait_queue_drained(system)
        after = _delivered(system)
        gained = {name: after[name] - before.get(name, 0) for name in after}
        assert gained == {
            manifests.trigger_for("user.storeUser").name: 1,  # type: ignore[union-attr]
            manifests.trigger_for("user.updateUser").name: 2,  # type: ignore[union-attr]
            manifests.trigger_for("user.deleteUser").name: 1,  # type: ignore[union-attr]
        }


def test_an_event_no_trigger_selects_never_reaches_audit(
    system: Target, users: UserApi, audit: AuditApi
) -> None:
    """Proving a negative without a sleep.

    The barrier is the ingress's 202: the routing decision is made before it.
    - Local broker: Triggers are matched in the ingress request and a delivery row is
      committed for each match before the 202 (broker/ingress.py). An event that matched
      nothing has no row, so nothing can deliver it later. We also wait until the
      queue-depth gauge is 0, so every delivery accepted so far has finished.
    - Cluster (MTChannelBasedBroker + InMemoryChannel): the ingress answers only after the
      channel fanned the event out to every Trigger's filter and they answered; a filter
      that does not match answers at once without delivering. So after the 202 the event
      was either delivered or dropped. (A Kafka-class broker answers 202 once the event is
      in Kafka; there the marker below only makes a late delivery very unlikely.)
    Then a routed marker (a real sign-up, made after the 202s) arrives, which shows that
    audit was reachable and the pipeline moving while the unrouted events were handled.
    """
    manifests = load_manifests()
    # Case matters: Knative compares attribute values exactly.
    unrouted = ["e2e.unrouted", "user.storeuser", "user.storeUser.v2"]
    for event_type in unrouted:
        assert manifests.trigger_for(event_type) is None, f"a Trigger selects {event_type}"

    posted = []
    for event_type in unrouted:
        event_id, response = post_event(
            system.broker_ingress_url, event_type=event_type, data=b'{"id": "probe"}'
        )
        assert response.status_code == 202, f"{event_type}: {response.status_code} {response.text}"
        posted.append(event_id)

    marker = users.create("Marker", distinctive_password("marker"))["id"]
    audit.wait_events(type="user.storeUser", subject=marker)
    if isinstance(system, LocalTarget):
        wait_queue_drained(system)

    for event_id in posted:
        assert audit.events(id=event_id) == []
        assert audit.dead_letters(id=event_id) == []
    for event_type in unrouted:
        assert audit.events(type=event_type) == []
