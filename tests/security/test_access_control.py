"""Who may read what, black-box against the real processes.

audit: with `AUDIT_READ_TOKEN` set, the read API, the exports, the live stream and the
page's data answer 401 without the token or with a wrong one, 200 with it; the sink
(`POST /`, `/dead-letter`) is unaffected. Without a token, everything is open and the
service says so in its log at startup.

user: creating a user is open; reading, listing, updating and deleting need the user's
own HTTP Basic credentials (their own record only) or the admin bearer token. Every
failed login gets the same 401, whatever was wrong, and repeated failures are
throttled per user and per client (429 with Retry-After).

Clients here connect from distinct loopback addresses (127.0.0.x, still loopback
only) so that the per-client throttling of one test cannot leak into another."""

from __future__ import annotations

import base64
import json
import urllib.parse
import uuid
from collections.abc import Iterator

import httpx
import pytest

from devstack import LocalStack, ServiceProcess, new_token

SOURCE = "/security/test"


def client_from(address: str, base_url: str) -> httpx.Client:
    """A client whose connections come from `address` (a loopback address)."""
    return httpx.Client(
        base_url=base_url,
        timeout=10,
        transport=httpx.HTTPTransport(local_address=address),
    )


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def post_event(client: httpx.Client, url: str, event_id: str) -> httpx.Response:
    return client.post(
        url,
        content=b'{"k": 1}',
        headers={
            "ce-specversion": "1.0",
            "ce-id": event_id,
            "ce-source": SOURCE,
            "ce-type": "security.test",
            "content-type": "application/json",
        },
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        tmp_path_factory.mktemp("access"),
        env={
            "user": {
                "LOGIN_MAX_FAILURES_PER_USER": "3",
                "LOGIN_MAX_FAILURES_PER_IP": "8",
                "LOGIN_WINDOW_SECONDS": "60",
            }
        },
    ) as stack:
        yield stack


# ========================================================================== audit
def audit_reads(event_id: str) -> list[str]:
    key = f"{urllib.parse.quote(SOURCE, safe='')}/{event_id}"
    return [
        "/v1/events",
        "/v1/events?type=security.test",
        "/v1/events/export",
        f"/v1/events/{key}",
        "/v1/dead-letters",
        "/v1/dead-letters/export",
        f"/v1/dead-letters/{key}",
        "/v1/stats",
    ]


def wrong_authorizations(token: str) -> list[dict[str, str]]:
    """No header, and every way of almost presenting the token."""
    return [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {token[:-1]}"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": f"Bearer {token.upper()}"},
        {"Authorization": f"Bearer {new_token('audit-read')}"},
        {"Authorization": f"Basic {base64.b64encode(f'admin:{token}'.encode()).decode()}"},
        {"Authorization": token},
        {"Authorization": f"Token {token}"},
        {"X-Api-Key": token},
    ]


def stream_status(client: httpx.Client, headers: dict[str, str]) -> tuple[int, bytes]:
    """Status of the live stream, reading only the head (a 200 stream never ends)."""
    with client.stream("GET", "/v1/events/stream", headers=headers) as response:
        if response.status_code != 200:
            return response.status_code, response.read()
        return 200, b""


def test_audit_read_api_needs_the_token(stack: LocalStack) -> None:
    token = stack.audit_read_token
    assert token
    good = {"Authorization": f"Bearer {token}"}
    with client_from("127.0.0.1", stack.audit_url) as client:
        event_id = str(uuid.uuid4())
        assert post_event(client, "/", event_id).status_code == 202
        for path in audit_reads(event_id):
            for headers in wrong_authorizations(token):
                response = client.get(path, headers=headers)
                assert response.status_code == 401, (path, headers, response.text)
                assert response.json()["error"] == "unauthorized"
                assert "bearer" in response.headers.get("www-authenticate", "").lower()
                assert event_id not in response.text
            response = client.get(path, headers=good)
            expected = 404 if path.startswith("/v1/dead-letters/") and "%2F" in path else 200
            assert response.status_code == expected, (path, response.text)
        # The scheme name is case-insensitive (RFC 9110); the token is not.
        assert (
            client.get("/v1/stats", headers={"Authorization": f"bearer {token}"}).status_code == 200
        )


def test_audit_stream_needs_the_token(stack: LocalStack) -> None:
    token = stack.audit_read_token
    assert token
    with client_from("127.0.0.1", stack.audit_url) as client:
        for headers in wrong_authorizations(token):
            status, body = stream_status(client, headers)
            assert status == 401, (headers, body)
            assert json.loads(body)["error"] == "unauthorized"
        assert stream_status(client, {"Authorization": f"Bearer {token}"})[0] == 200


def test_audit_page_shows_no_data_without_the_token(stack: LocalStack) -> None:
    """The page is a static shell: it may be served to anyone, but it must not carry
    any event, and the data it loads comes from the token-protected API."""
    with client_from("127.0.0.1", stack.audit_url) as client:
        event_id = str(uuid.uuid4())
        assert post_event(client, "/", event_id).status_code == 202
        page = client.get("/")
        assert page.status_code in (200, 401)
        if page.status_code == 200:
            assert page.headers["content-type"].startswith("text/html")
            assert event_id not in page.text
            assert SOURCE not in page.text
            assert stack.audit_read_token not in page.text  # type: ignore[operator]


def test_audit_sink_is_not_behind_the_token(stack: LocalStack) -> None:
    with client_from("127.0.0.1", stack.audit_url) as client:
        assert post_event(client, "/", str(uuid.uuid4())).status_code == 202
        assert post_event(client, "/dead-letter", str(uuid.uuid4())).status_code == 202
        for path in ("/healthz", "/readyz", "/metrics"):
            assert client.get(path).status_code == 200, path


@pytest.fixture(scope="module")
def open_audit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("open-audit")
    process = ServiceProcess(
        "audit",
        env={
            "DATA_DIR": str(root / "data"),
            "DATABASE_URL": "",
            "AUDIT_READ_TOKEN": "",
            "AUDIT_READ_OPEN": "true",
        },
        log_dir=root,
        ready_path="/readyz",
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_audit_without_token_is_open_and_says_so(open_audit: ServiceProcess) -> None:
    with client_from("127.0.0.1", open_audit.url) as client:
        event_id = str(uuid.uuid4())
        assert post_event(client, "/", event_id).status_code == 202
        for path in audit_reads(event_id):
            expected = 404 if path.startswith("/v1/dead-letters/") and "%2F" in path else 200
            assert client.get(path).status_code == expected, path
        assert stream_status(client, {})[0] == 200
    warnings = [
        json.loads(line)
        for line in open_audit.log_text().splitlines()
        if line.startswith("{") and "AUDIT_READ_TOKEN" in line
    ]
    assert any(w["level"] in ("warning", "error") for w in warnings), open_audit.tail()


# ========================================================================== user
def create(client: httpx.Client, name: str, password: str) -> str:
    response = client.post("/v1/user", json={"name": name, "password": password})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_creating_a_user_is_open(stack: LocalStack) -> None:
    with client_from("127.0.0.2", stack.user_url) as client:
        response = client.post("/v1/user", json={"name": "open", "password": "open-sesame-1"})
        assert response.status_code == 201
        assert "password" not in response.json()


def test_user_routes_need_credentials(stack: LocalStack) -> None:
    with client_from("127.0.0.3", stack.user_url) as client:
        user_id = create(client, "private", "private-password-1")
        for method, path, body in (
            ("GET", "/v1/users", None),
            ("GET", f"/v1/users/{user_id}", None),
            ("PATCH", f"/v1/users/{user_id}", {"name": "changed"}),
            ("DELETE", f"/v1/users/{user_id}", None),
        ):
            response = client.request(method, path, json=body)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"] == "unauthorized"
            assert "basic" in response.headers["www-authenticate"].lower()
        # Nothing changed.
        record = client.get(f"/v1/users/{user_id}", headers=stack.admin_headers())
        assert record.status_code == 200
        assert record.json()["name"] == "private"


def test_own_credentials_reach_only_the_own_record(stack: LocalStack) -> None:
    with client_from("127.0.0.4", stack.user_url) as client:
        alice = create(client, "alice", "alice-password-1")
        bob = create(client, "bob", "bob-password-1")
        as_alice = basic(alice, "alice-password-1")
        assert client.get(f"/v1/users/{alice}", headers=as_alice).json()["name"] == "alice"
        # Another user's record: authenticated but not allowed.
        for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
            response = client.request(method, f"/v1/users/{bob}", headers=as_alice, json=body)
            assert response.status_code in (401, 403), (method, response.text)
            assert "bob" not in response.text
        # Listing everyone is for the administrator.
        assert client.get("/v1/users", headers=as_alice).status_code in (401, 403)
        # Own record: read, update (the new password works, the old one no more), delete.
        response = client.patch(
            f"/v1/users/{alice}",
            headers=as_alice,
            json={"name": "alice2", "password": "alice-password-2"},
        )
        assert response.status_code == 200, response.text
        assert "password" not in response.text
        assert client.get(f"/v1/users/{alice}", headers=as_alice).status_code == 401
        as_alice = basic(alice, "alice-password-2")
        assert client.get(f"/v1/users/{alice}", headers=as_alice).json()["name"] == "alice2"
        assert client.delete(f"/v1/users/{alice}", headers=as_alice).status_code == 204
        assert client.get(f"/v1/users/{alice}", headers=as_alice).status_code == 401
        assert client.get(f"/v1/users/{bob}", headers=stack.admin_headers()).status_code == 200


def test_admin_token_reaches_every_record(stack: LocalStack) -> None:
    admin = stack.admin_headers()
    with client_from("127.0.0.5", stack.user_url) as client:
        user_id = create(client, "carol", "carol-password-1")
        listed = client.get("/v1/users", params={"limit": 500}, headers=admin)
        assert listed.status_code == 200
        assert "password" not in listed.text
        assert client.get(f"/v1/users/{user_id}", headers=admin).status_code == 200
        response = client.patch(f"/v1/users/{user_id}", headers=admin, json={"name": "carol2"})
        assert response.status_code == 200
        assert response.json()["name"] == "carol2"
        assert client.delete(f"/v1/users/{user_id}", headers=admin).status_code == 204
        assert client.get(f"/v1/users/{user_id}", headers=admin).status_code == 404
        for wrong in (
            f"Bearer {stack.user_admin_token}x",
            f"Bearer {new_token('user-admin')}",
            f"Basic {stack.user_admin_token}",
        ):
            response = client.get("/v1/users", headers={"Authorization": wrong})
            assert response.status_code == 401, wrong


def test_failed_logins_all_look_the_same(stack: LocalStack) -> None:
    with client_from("127.0.0.6", stack.user_url) as setup:
        user_id = create(setup, "dave", "dave-password-1")
    path = f"/v1/users/{user_id}"
    attempts = {
        "wrong password": basic(user_id, "not-daves-password"),
        "unknown user": basic(str(uuid.uuid4()), "dave-password-1"),
        "not an id": basic("dave", "dave-password-1"),
        "empty password": basic(user_id, ""),
        "no colon": {"Authorization": "Basic " + base64.b64encode(user_id.encode()).decode()},
        "not base64": {"Authorization": "Basic !!!"},
        "wrong bearer": {"Authorization": f"Bearer {new_token('nope')}"},
    }
    seen: dict[str, tuple[int, bytes, str | None, str | None]] = {}
    for index, (what, headers) in enumerate(attempts.items()):
        # One fresh client address per attempt: no throttling interferes.
        with client_from(f"127.0.1.{index + 1}", stack.user_url) as client:
            response = client.get(path, headers=headers)
        seen[what] = (
            response.status_code,
            response.content,
            response.headers.get("www-authenticate"),
            response.headers.get("content-type"),
        )
    reference = seen["wrong password"]
    assert reference[0] == 401
    different = {what: answer for what, answer in seen.items() if answer != reference}
    assert not different, f"failed logins tell causes apart: {different} vs {reference}"


def test_failures_for_one_user_are_throttled(stack: LocalStack) -> None:
    """LOGIN_MAX_FAILURES_PER_USER=3: the 4th try on that user within the window gets
    429 with Retry-After, even from another client and even with the right password;
    other users are not affected."""
    with client_from("127.0.0.7", stack.user_url) as setup:
        victim = create(setup, "erin", "erin-password-1")
        other = create(setup, "frank", "frank-password-1")
    for index in range(3):
        with client_from(f"127.0.2.{index + 1}", stack.user_url) as client:
            response = client.get(f"/v1/users/{victim}", headers=basic(victim, f"guess-{index}"))
            assert response.status_code == 401
    with client_from("127.0.2.9", stack.user_url) as client:
        throttled = client.get(f"/v1/users/{victim}", headers=basic(victim, "erin-password-1"))
        assert throttled.status_code == 429, throttled.text
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert throttled.json()["error"] == "too_many_requests"
        other_user = client.get(f"/v1/users/{other}", headers=basic(other, "frank-password-1"))
        assert other_user.status_code == 200


def test_failures_from_one_client_are_throttled(stack: LocalStack) -> None:
    """LOGIN_MAX_FAILURES_PER_IP=8: a client guessing across many user ids is stopped
    (429), while another client is served."""
    with client_from("127.0.0.8", stack.user_url) as setup:
        user_id = create(setup, "grace", "grace-password-1")
    with client_from("127.0.3.1", stack.user_url) as attacker:
        statuses = [
            attacker.get(
                f"/v1/users/{user_id}", headers=basic(str(uuid.uuid4()), "spray-password")
            ).status_code
            for _ in range(12)
        ]
        assert statuses[:8] == [401] * 8, statuses
        assert set(statuses[8:]) == {429}, statuses
        blocked = attacker.get(f"/v1/users/{user_id}", headers=basic(user_id, "grace-password-1"))
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) >= 1
    with client_from("127.0.3.2", stack.user_url) as bystander:
        response = bystander.get(f"/v1/users/{user_id}", headers=basic(user_id, "grace-password-1"))
        assert response.status_code == 200, response.text


def test_the_server_sees_each_client_address(stack: LocalStack) -> None:
    """The premise of the per-client tests: the user service sees the 127.x.y.z source
    address of each client (it logs it with a failed login)."""
    with client_from("127.0.4.4", stack.user_url) as client:
        response = client.get("/v1/users", headers={"Authorization": "Bearer wrong-wrong-wrong"})
        assert response.status_code == 401
    assert '"client_ip":"127.0.4.4"' in stack.user.log_text().replace(" ", "")
