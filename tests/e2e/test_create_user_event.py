"""Scenario 1, the original curl: `POST /v1/user` -> exactly one `user.storeUser` event
in audit, with the attributes the contract names, and the password nowhere."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from tests.e2e.api import AuditApi, UserApi, assert_nowhere, basic, distinctive_password, parse_time
from tests.e2e.target import Target

#: Allowed difference between the test's clock and the service's (a kind node shares
#: the host's clock; a remote cluster should be NTP-synced).
CLOCK_SKEW = timedelta(seconds=5)


def test_post_user_stores_one_store_user_event_without_the_password(
    system: Target, users: UserApi, audit: AuditApi
) -> None:
    password = distinctive_password("create")
    before = datetime.now(UTC)
    created = users.create("Ada Lovelace", password)
    after = datetime.now(UTC)

    user_id = created["id"]
    assert str(uuid.UUID(user_id)) == user_id
    assert created == {"id": user_id, "name": "Ada Lovelace"}

    (event,) = audit.wait_events(type="user.storeUser", subject=user_id)
    assert event["type"] == "user.storeUser"
    assert event["specversion"] == "1.0"
    assert event["source"] == system.event_source
    assert event["subject"] == user_id
    assert event["datacontenttype"] == "application/json"
    assert event["data"] == {"id": user_id}
    assert event["id"], "every event has a stable non-empty id"
    assert before - CLOCK_SKEW <= parse_time(event["time"]) <= after + CLOCK_SKEW
    assert event["dataschema"].endswith("/v1/schemas/user.storeUser.json")
    schema = users.raw("GET", "/v1/schemas/user.storeUser.json")
    assert schema.status_code == 200
    assert "properties" in schema.json()

    # The user reads itself back: name and id, no password, no hash.
    me = users.get(user_id, basic(user_id, password))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == user_id
    assert "password" not in me.text.lower()

    # Exactly one event about this user, whatever its type.
    everything = audit.events(subject=user_id)
    assert [e["type"] for e in everything] == ["user.storeUser"]

    places = {
        "user API responses": "\n".join(users.transcript),
        "audit records": json.dumps(everything) + "\n".join(audit.transcript),
        "logs": system.collect_logs(),
    }
    assert_nowhere(password, places)
    assert_nowhere("$argon2", places)
