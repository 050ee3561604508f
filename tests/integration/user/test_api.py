"""The HTTP API of a real user service process: create (open), read/list/update/
delete (authenticated), validation, errors, OpenAPI and event schemas."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import httpx
import pytest

from tests.integration.user.conftest import StartUser
from tests.integration.user.support import ADMIN, basic, create_user, users_rows


def test_the_original_curl_creates_a_user(start_user: StartUser) -> None:
    service = start_user()
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    result = subprocess.run(
        [
            curl,
            "-s",
            "-i",
            "-X",
            "POST",
            f"{service.url}/v1/user",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"name": "John Doe", "password": "secret"}',
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    head, _, body = result.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 201")
    created = httpx.Response(201, content=body).json()
    assert set(created) == {"id", "name"}
    assert created["name"] == "John Doe"
    assert str(uuid.UUID(created["id"])) == created["id"]
    assert f"location: /v1/users/{created['id']}" in head.lower()


def test_names_are_not_unique_and_ids_are(start_user: StartUser) -> None:
    service = start_user()
    first = create_user(service.url, "Same Name")
    second = create_user(service.url, "Same Name")
    assert first["id"] != second["id"]


def test_user_reads_updates_and_deletes_their_own_record(start_user: StartUser) -> None:
    service = start_user()
    user = create_user(service.url, "Ann", "first-password")
    me = basic(user["id"], "first-password")
    location = f"{service.url}/v1/users/{user['id']}"

    read = httpx.get(location, headers=me)
    assert read.status_code == 200
    assert read.json()["name"] == "Ann"
    assert set(read.json()) == {"id", "name", "created_at", "updated_at"}

    renamed = httpx.patch(location, json={"name": "Anna"}, headers=me)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Anna"

    changed = httpx.patch(location, json={"password": "second-password"}, headers=me)
    assert changed.status_code == 200
    assert httpx.get(location, headers=me).status_code == 401
    me = basic(user["id"], "second-password")
    assert httpx.get(location, headers=me).json()["name"] == "Anna"

    assert httpx.delete(location, headers=me).status_code == 204
    # The credentials died with the user.
    assert httpx.get(location, headers=me).status_code == 401
    assert httpx.get(location, headers=ADMIN).status_code == 404


def test_users_cannot_touch_each_other(start_user: StartUser) -> None:
    service = start_user()
    alice = create_user(service.url, "alice", "alice-password")
    bob = create_user(service.url, "bob", "bob-password")
    as_bob = basic(bob["id"], "bob-password")
    target = f"{service.url}/v1/users/{alice['id']}"
    assert httpx.get(target, headers=as_bob).status_code == 403
    assert httpx.patch(target, json={"name": "x"}, headers=as_bob).status_code == 403
    assert httpx.delete(target, headers=as_bob).status_code == 403
    assert httpx.get(f"{service.url}/v1/users", headers=as_bob).status_code == 403
    assert httpx.get(target, headers=ADMIN).json()["name"] == "alice"


def test_admin_manages_any_user(start_user: StartUser) -> None:
    service = start_user()
    user = create_user(service.url, "carol")
    target = f"{service.url}/v1/users/{user['id']}"
    assert httpx.patch(target, json={"name": "Carol"}, headers=ADMIN).json()["name"] == "Carol"
    assert httpx.get(f"{service.url}/v1/users/{uuid.uuid4()}", headers=ADMIN).status_code == 404
    assert httpx.get(f"{service.url}/v1/users/not-a-uuid", headers=ADMIN).status_code == 404
    assert httpx.delete(target, headers=ADMIN).status_code == 204
    assert httpx.delete(target, headers=ADMIN).status_code == 404


def test_list_is_paginated_by_cursor_in_creation_order(start_user: StartUser) -> None:
    service = start_user()
    created = [create_user(service.url, f"user-{i}")["id"] for i in range(7)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = httpx.get(f"{service.url}/v1/users", params=params, headers=ADMIN)
        assert page.status_code == 200
        body = page.json()
        assert all("password" not in item and "password_hash" not in item for item in body["items"])
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == created
    assert pages == 3


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"cursor": "bogus"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),
    ],
)
def test_bad_list_parameters_are_400(
    start_user: StartUser, params: dict[str, str], parameter: str
) -> None:
    service = start_user()
    response = httpx.get(f"{service.url}/v1/users", params=params, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "x"}, "name"),
        ({"name": "x"}, "password"),
        ({"name": "", "password": "x"}, "name"),
        ({"name": "   ", "password": "x"}, "name"),
        ({"name": "x", "password": ""}, "password"),
        ({"name": "x" * 201, "password": "x"}, "name"),
        ({"name": "x", "password": "x" * 1025}, "password"),
        ({"name": 5, "password": "x"}, "name"),
        ({"name": "x", "password": ["x"]}, "password"),
        ({"name": None, "password": "x"}, "name"),
        ({"name": "x", "password": "x", "admin": True}, "admin"),
        ({"name": "a\u0000b", "password": "x"}, "name"),
        ([], "(body)"),
        ("John", "(body)"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    start_user: StartUser, body: object, field: str
) -> None:
    service = start_user()
    response = httpx.post(f"{service.url}/v1/user", json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "validation_failed"
    assert field in [problem["field"] for problem in error["fields"]]


def test_malformed_requests_get_clear_4xx(start_user: StartUser) -> None:
    service = start_user(MAX_BODY_BYTES="2048")
    url = f"{service.url}/v1/user"
    json_type = {"Content-Type": "application/json"}
    cases = [
        (httpx.post(url, content=b"{not json", headers=json_type), 400, "malformed_json"),
        (
            httpx.post(url, content=b'{"name": "a", "password": "b"', headers=json_type),
            400,
            "malformed_json",
        ),
        (
            httpx.post(url, content=b'{"name": "\xff", "password": "b"}', headers=json_type),
            400,
            "malformed_json",
        ),
        (
            httpx.post(
                url, content=b'{"name":"a","password":"b"}', headers={"Content-Type": "text/plain"}
            ),
            415,
            "unsupported_media_type",
        ),
        (httpx.post(url, content=b'{"name":"a","password":"b"}'), 415, "unsupported_media_type"),
        (httpx.post(url, data={"name": "a", "password": "b"}), 415, "unsupported_media_type"),
        (httpx.post(url, content=b" " * 4096, headers=json_type), 413, "payload_too_large"),
        (httpx.put(url, json={}), 405, "method_not_allowed"),
        (httpx.get(f"{service.url}/v1/nothing"), 404, "not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (response.request.content[:40], response.text)
        assert response.json()["error"] == code
        assert response.json()["detail"]


def test_update_validation(start_user: StartUser) -> None:
    service = start_user()
    user = create_user(service.url, "dave")
    target = f"{service.url}/v1/users/{user['id']}"
    assert httpx.patch(target, json={}, headers=ADMIN).status_code == 422
    assert httpx.patch(target, json={"id": "x"}, headers=ADMIN).status_code == 422
    assert httpx.patch(target, json={"name": ""}, headers=ADMIN).status_code == 422
    assert httpx.patch(target, content=b"x", headers=ADMIN).status_code == 415
    merge_patch = {**ADMIN, "Content-Type": "application/merge-patch+json"}
    response = httpx.patch(target, content=b'{"name": "Dave"}', headers=merge_patch)
    assert response.status_code == 200


def test_authentication_failures_look_the_same(start_user: StartUser) -> None:
    service = start_user()
    user = create_user(service.url, "erin", "erin-password")
    target = f"{service.url}/v1/users/{user['id']}"
    attempts = [
        {},
        basic(user["id"], "wrong-password"),
        basic(str(uuid.uuid4()), "erin-password"),
        basic("not-a-uuid", "x"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Digest abc"},
    ]
    bodies = set()
    for headers in attempts:
        response = httpx.get(target, headers=headers)
        assert response.status_code == 401
        assert "Basic" in response.headers["www-authenticate"]
        bodies.add(response.content)
    assert len(bodies) == 1
    assert httpx.get(f"{service.url}/v1/users", headers=basic(user["id"], "x")).status_code == 401


def test_failed_logins_are_rate_limited_per_user(start_user: StartUser) -> None:
    service = start_user(LOGIN_MAX_FAILURES_PER_USER="3", LOGIN_MAX_FAILURES_PER_IP="100")
    user = create_user(service.url, "frank", "frank-password")
    target = f"{service.url}/v1/users/{user['id']}"
    for _ in range(3):
        assert httpx.get(target, headers=basic(user["id"], "guess")).status_code == 401
    limited = httpx.get(target, headers=basic(user["id"], "frank-password"))
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"] == "too_many_requests"
    # Another user from the same IP is unaffected.
    other = create_user(service.url, "grace", "grace-password")
    me = basic(other["id"], "grace-password")
    assert httpx.get(f"{service.url}/v1/users/{other['id']}", headers=me).status_code == 200


def test_failed_logins_are_rate_limited_per_ip(start_user: StartUser) -> None:
    service = start_user(LOGIN_MAX_FAILURES_PER_USER="100", LOGIN_MAX_FAILURES_PER_IP="4")
    user = create_user(service.url, "heidi", "heidi-password")
    for _ in range(4):
        response = httpx.get(f"{service.url}/v1/users", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401
    limited = httpx.get(
        f"{service.url}/v1/users/{user['id']}", headers=basic(user["id"], "heidi-password")
    )
    assert limited.status_code == 429
    wrong = httpx.get(f"{service.url}/v1/users", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 429
    # Others' failures from a shared address (a proxy) never lock the administrator out.
    assert httpx.get(f"{service.url}/v1/users", headers=ADMIN).status_code == 200


def test_passwords_are_stored_as_argon2id_and_never_leak(
    start_user: StartUser, database_url: str
) -> None:
    service = start_user()
    password = "Pa55-" + uuid.uuid4().hex
    user = create_user(service.url, "ivan", password)
    me = basic(user["id"], password)
    httpx.get(f"{service.url}/v1/users/{user['id']}", headers=me)
    httpx.get(f"{service.url}/v1/users/{user['id']}", headers=basic(user["id"], password + "x"))
    new_password = "Ne55-" + uuid.uuid4().hex
    response = httpx.patch(
        f"{service.url}/v1/users/{user['id']}", json={"password": new_password}, headers=me
    )
    assert password not in response.text
    assert new_password not in response.text
    (row,) = [r for r in users_rows(database_url) if r["id"] == user["id"]]
    assert row["password_hash"].startswith("$argon2id$")
    assert password not in row["password_hash"]
    assert new_password not in row["password_hash"]
    log = service.log_text()
    for secret in (password, new_password, row["password_hash"], "Basic "):
        assert secret not in log
    listing = httpx.get(f"{service.url}/v1/users", headers=ADMIN).text
    assert "argon2" not in listing
    assert password not in listing


def test_openapi_document_describes_the_api(start_user: StartUser) -> None:
    service = start_user()
    document = httpx.get(f"{service.url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert set(paths["/v1/user"]) == {"post"}
    assert {"get", "post"} <= set(paths["/v1/users"])
    assert {"get", "patch", "delete"} <= set(paths["/v1/users/{user_id}"])
    assert "/v1/schemas/{event_type}.json" in paths
    assert set(document["components"]["securitySchemes"]) == {"basicAuth", "bearerAuth"}


def test_event_data_schemas_are_served(start_user: StartUser) -> None:
    service = start_user()
    for event_type in ("user.storeUser", "user.updateUser", "user.deleteUser"):
        response = httpx.get(f"{service.url}/v1/schemas/{event_type}.json")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/schema+json")
        schema = response.json()
        assert schema["$id"] == f"{service.url}/v1/schemas/{event_type}.json"
        assert "id" in schema["required"]
    assert httpx.get(f"{service.url}/v1/schemas/user.other.json").status_code == 404
