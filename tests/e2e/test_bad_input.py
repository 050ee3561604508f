"""Scenario 7, bad input at the edge: malformed JSON, wrong types, an oversized body, a
wrong Content-Type -> a 4xx with a JSON error (through the Ingress on a cluster), the
service still healthy afterwards, and no user created."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.api import AuditApi, UserApi, distinctive_password, iso_now
from tests.e2e.local import LocalTarget, wait_queue_drained
from tests.e2e.target import Target

MAX_BODY_BYTES = 1024 * 1024  # k8s/user/deployment.yaml, and the services' default


def _oversized() -> bytes:
    return json.dumps({"name": "x" * (MAX_BODY_BYTES + 1024), "password": "p"}).encode()


CASES: list[tuple[str, dict[str, Any], set[int]]] = [
    (
        "malformed JSON",
        {"content": b'{"name": "a", "password": ', "headers": {"content-type": "application/json"}},
        {400},
    ),
    (
        "not UTF-8",
        {"content": b'{"name": "\xff\xfe"}', "headers": {"content-type": "application/json"}},
        {400},
    ),
    ("wrong types", {"json": {"name": 42, "password": ["a", "b"]}}, {400, 422}),
    ("not an object", {"json": ["name", "password"]}, {400, 422}),
    ("missing password", {"json": {"name": "Nobody"}}, {400, 422}),
    ("unknown field", {"json": {"name": "N", "password": "p", "admin": True}}, {400, 422}),
    ("empty body", {"content": b"", "headers": {"content-type": "application/json"}}, {400, 422}),
    (
        "oversized body",
        {"content": _oversized(), "headers": {"content-type": "application/json"}},
        {413},
    ),
    (
        "wrong Content-Type",
        {"content": b'{"name": "a", "password": "b"}', "headers": {"content-type": "text/plain"}},
        {415},
    ),
    (
        "form encoded",
        {"data": {"name": "a", "password": "b"}},
        {415},
    ),
]


@pytest.mark.parametrize(("label", "request_kwargs", "statuses"), CASES, ids=[c[0] for c in CASES])
def test_bad_sign_up_gets_a_json_4xx(
    users: UserApi, label: str, request_kwargs: dict[str, Any], statuses: set[int]
) -> None:
    response = users.raw("POST", "/v1/user", **request_kwargs)
    assert response.status_code in statuses, (
        f"{label}: {response.status_code} {response.text[:300]}"
    )
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body.get("error"), str), body
    assert isinstance(body.get("detail"), str), body
    assert len(response.content) < 10_000, "the error must not echo the body back"


def test_bad_input_creates_nothing_and_leaves_the_service_healthy(
    system: Target, users: UserApi, audit: AuditApi
) -> None:
    password = distinctive_password("bad-input")
    since = iso_now()
    for _, request_kwargs, _ in CASES:
        users.raw("POST", "/v1/user", **request_kwargs)
    # A wrong password type must not be echoed either.
    users.raw("POST", "/v1/user", json={"name": "N", "password": {"secret": password}})
    assert all(password not in line for line in users.transcript)

    # Still serving, and the next good request is an ordinary success.
    user_id = users.create("After the storm", password)["id"]
    audit.wait_events(type="user.storeUser", subject=user_id)
    if isinstance(system, LocalTarget):
        wait_queue_drained(system)
    # The only sign-up since the bad requests is the good one: none of them made a user.
    created = {e["subject"] for e in audit.events(type="user.storeUser", since=since)}
    assert created == {user_id}
