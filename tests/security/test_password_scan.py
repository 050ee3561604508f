"""Passwords never land anywhere: run every path that handles one (create, login right and
wrong, change, delete, invalid requests carrying one) against the real stack, on SQLite
and on PostgreSQL, then search everything the system wrote -- logs, databases (raw
SQLite bytes with WAL, pg_dump), the broker queue, the outbox, audit's records -- and
every response body for the passwords in every encoding they could leak in.

The scanner itself (tests/support/secrets_scan.py) is proven first on planted data.
The chaos suite runs the same scan after its runs (tests/chaos)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import LocalStack
from tests.conftest import new_postgres_database
from tests.e2e.polling import wait_until
from tests.support.postgres import PostgresServer
from tests.support.secrets_scan import (
    SecretSet,
    assert_clean,
    scan_bytes,
    scan_local_stack,
    scan_paths,
    variants,
)


# --------------------------------------------------------------------- the scanner
@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda s: s.encode(), id="plain"),
        pytest.param(lambda s: json.dumps({"p": s}).encode(), id="json-escaped"),
        pytest.param(lambda s: urllib.parse.quote(s).encode(), id="url-encoded"),
        pytest.param(lambda s: s.encode().hex().upper().encode(), id="hex"),
        pytest.param(lambda s: base64.b64encode(f"id:{s}".encode()), id="basic-header"),
        pytest.param(lambda s: base64.b64encode(f"xy{s}zz".encode()), id="base64-offset-2"),
        pytest.param(lambda s: base64.urlsafe_b64encode(f"x{s}".encode()), id="base64url"),
        pytest.param(lambda s: s.encode("utf-16-le"), id="utf-16"),
    ],
)
def test_scanner_finds_a_password_in_any_encoding(encode: object, tmp_path: Path) -> None:
    secrets = SecretSet()
    password = secrets.password("planted", unicode=True)
    assert callable(encode)
    planted = tmp_path / "db.sqlite-wal"
    planted.write_bytes(b"\x00" * 100 + encode(password) + b"\xff" * 100)
    (tmp_path / "clean.log").write_bytes(b"nothing to see\n" * 100)
    hits = scan_paths([tmp_path], secrets)
    assert [(hit.label, hit.where) for hit in hits] == [("planted", str(planted))]
    with pytest.raises(AssertionError) as failure:
        assert_clean(hits)
    assert password not in str(failure.value)  # a report never repeats the secret


def test_scanner_has_no_false_positives_on_near_misses() -> None:
    secrets = SecretSet()
    password = secrets.password("p")
    near = password[:-1] + ("0" if password[-1] != "0" else "1")
    data = json.dumps({"a": near, "b": base64.b64encode(near.encode()).decode()}).encode()
    assert scan_bytes("x", data, secrets) == []
    with pytest.raises(ValueError, match="too short"):
        secrets.add("short", "abc")
    assert len(variants(password)) >= 5


# --------------------------------------------------------------------- the system
@pytest.fixture(params=["sqlite", "postgres"])
def stack_and_pg(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[LocalStack, str | None]]:
    urls: dict[str, str] = {}
    admin_dsn: str | None = None
    if request.param == "postgres":
        server: PostgresServer | None = request.getfixturevalue("postgres_server")
        urls = {"user": new_postgres_database(server), "audit": new_postgres_database(server)}
        admin_dsn = server.admin_dsn if server else urls["user"].rsplit("/", 1)[0] + "/postgres"
    with LocalStack(tmp_path, database_urls=urls) as stack:
        yield stack, admin_dsn


def basic(user_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_no_password_written_anywhere(stack_and_pg: tuple[LocalStack, str | None]) -> None:
    stack, admin_dsn = stack_and_pg
    secrets = SecretSet()
    secrets.add("USER_ADMIN_TOKEN", stack.user_admin_token)
    secrets.add("AUDIT_READ_TOKEN", stack.audit_read_token)
    responses: list[bytes] = []
    with httpx.Client(base_url=stack.user_url, timeout=10) as client:

        def call(method: str, path: str, **kwargs: object) -> httpx.Response:
            response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            responses.append(response.content)
            return response

        users: dict[str, str] = {}
        for index, unicode in enumerate((False, True, False)):
            password = secrets.password(f"password of user {index}", unicode=unicode)
            created = call("POST", "/v1/user", json={"name": f"scan-{index}", "password": password})
            assert created.status_code == 201, created.text
            users[created.json()["id"]] = password
        first, second, third = users
        # Logins: right, wrong, for an unknown id; with a password as the user name.
        assert (
            call("GET", f"/v1/users/{first}", headers=basic(first, users[first])).status_code == 200
        )
        wrong = secrets.password("a wrong password tried at login")
        assert call("GET", f"/v1/users/{first}", headers=basic(first, wrong)).status_code == 401
        unknown = "00000000-0000-4000-8000-000000000000"
        assert call("GET", f"/v1/users/{unknown}", headers=basic(unknown, wrong)).status_code == 401
        assert call("GET", "/v1/users", headers=basic(wrong, wrong)).status_code == 401
        wrong_token = secrets.password("a wrong bearer token")
        bearer = {"Authorization": f"Bearer {wrong_token}"}
        assert call("GET", "/v1/users", headers=bearer).status_code == 401
        # A password change (own credentials) and one by the administrator.
        changed = secrets.password("new password of user 0")
        response = call(
            "PATCH",
            f"/v1/users/{first}",
            headers=basic(first, users[first]),
            json={"password": changed},
        )
        assert response.status_code == 200, response.text
        reset = secrets.password("password set by the administrator")
        response = call(
            "PATCH", f"/v1/users/{second}", headers=stack.admin_headers(), json={"password": reset}
        )
        assert response.status_code == 200, response.text
        assert (
            call("DELETE", f"/v1/users/{third}", headers=basic(third, users[third])).status_code
            == 204
        )
        # Invalid requests that carry a password: rejected, and the password not echoed.
        rejected = secrets.password("password in rejected requests")
        for body in (
            {"name": "", "password": rejected},
            {"name": "x", "password": rejected, "unknown": rejected},
            {"name": "x" * 500, "password": rejected},
            {"password": rejected},
        ):
            assert call("POST", "/v1/user", json=body).status_code in (400, 422)
        malformed = b'{"name": "x", "password": "%s",}' % rejected.encode()
        response = call(
            "POST", "/v1/user", content=malformed, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        response = call(
            "PATCH",
            f"/v1/users/{first}",
            headers=basic(first, changed),
            json={"password": 12, "name": rejected},
        )
        assert response.status_code in (400, 422)

    # Every event (3 created, 2 updated, 1 deleted) has reached audit before the scan.
    with httpx.Client(timeout=10) as client:

        def audit_count() -> int:
            return sum(1 for _ in stack.audit_events(client, source=stack.event_source))

        wait_until(audit_count, lambda n: n >= 6, timeout=30, what="all user events in audit")
        hits = scan_local_stack(stack, secrets, postgres_admin_dsn=admin_dsn, client=client)
    for index, content in enumerate(responses):
        hits += scan_bytes(f"response {index}", content, secrets)
    assert_clean(hits)
