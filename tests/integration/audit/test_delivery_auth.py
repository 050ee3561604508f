"""Authenticated delivery: a real audit process verifies bearer JWTs against an
OIDC issuer served from this test (discovery document + JWKS on 127.0.0.1)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from devstack import ServiceProcess
from tests.integration.audit.helpers import audit_process, event, post_binary
from tests.support.oidc_issuer import DISCOVERY_PATH, JWKS_PATH, OidcIssuer, new_key

AUDIENCE = "knative-user-audit/audit"
READER_TOKEN = "reader-token-1"  # what audit shows the issuer, as the API server wants one
TRIGGER_SA = "system:serviceaccount:user-audit:audit-user-created-oidc-eventing.knative.dev-trigger"


def oidc_env(issuer: OidcIssuer, tmp_path: Path) -> dict[str, str]:
    token_file = tmp_path / "reader-token"
    token_file.write_text(READER_TOKEN + "\n")
    return {
        "AUDIT_OIDC_AUDIENCE": AUDIENCE,
        "AUDIT_OIDC_DISCOVERY_URL": issuer.url,
        "AUDIT_OIDC_TOKEN_FILE": str(token_file),
        "AUDIT_OIDC_SUBJECTS": "system:serviceaccount:user-audit:*",
    }


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    with OidcIssuer(reader_token=READER_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def audit(issuer: OidcIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    tmp_path = tmp_path_factory.mktemp("audit-oidc")
    service = audit_process(
        tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}", **oidc_env(issuer, tmp_path)
    ).start()
    yield service
    service.stop()


@pytest.fixture
def client(audit: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=audit.url, timeout=30) as http:
        yield http


def deliver(client: httpx.Client, token: str | None, path: str = "/") -> tuple[httpx.Response, str]:
    """POST one event with `token` (if any); returns the answer and the event id."""
    ce = event()
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    client.headers.update(headers)
    try:
        return post_binary(client, ce, path), ce.id
    finally:
        client.headers.pop("Authorization", None)


def stored(client: httpx.Client, event_id: str, path: str = "/v1/events") -> bool:
    response = client.get(path, params={"id": event_id})
    assert response.status_code == 200, response.text
    return bool(response.json()["items"])


@pytest.mark.parametrize("path", ["/", "/dead-letter"])
def test_a_token_of_the_cluster_issuer_for_audits_audience_is_accepted(
    client: httpx.Client, issuer: OidcIssuer, path: str
) -> None:
    response, event_id = deliver(client, issuer.token(audience=AUDIENCE, subject=TRIGGER_SA), path)
    assert response.status_code == 202, response.text
    assert stored(client, event_id, "/v1/events" if path == "/" else "/v1/dead-letters")
    # audit fetched discovery and keys presenting its own token, as the API server requires.
    assert (DISCOVERY_PATH, f"Bearer {READER_TOKEN}") in issuer.requests
    assert (JWKS_PATH, f"Bearer {READER_TOKEN}") in issuer.requests


def _alg_none(issuer: OidcIssuer) -> str:
    now = int(time.time())
    claims = {"iss": issuer.issuer, "sub": TRIGGER_SA, "aud": AUDIENCE, "exp": now + 600}
    return jwt.encode(claims, None, algorithm="none", headers={"kid": "key-1"})


def _hmac_with_public_key(issuer: OidcIssuer) -> str:
    """The classic confusion attack: HS256 keyed with the issuer's published key."""
    now = int(time.time())
    claims = {"iss": issuer.issuer, "sub": TRIGGER_SA, "aud": AUDIENCE, "exp": now + 600}
    secret = issuer.jwks()["keys"][0]["n"].encode()
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "key-1"})


REJECTED: dict[str, Callable[[OidcIssuer], str | None]] = {
    "no token": lambda _: None,
    "expired": lambda i: i.token(audience=AUDIENCE, issued=time.time() - 3600, lifetime=600),
    "wrong audience": lambda i: i.token(audience="eventing.knative.dev/broker/user-audit/default"),
    "wrong issuer": lambda i: i.token(audience=AUDIENCE, issuer="https://elsewhere.test"),
    "bad signature": lambda i: i.token(audience=AUDIENCE, key=new_key()),
    "unknown key id": lambda i: i.token(audience=AUDIENCE, kid="key-9", key=new_key()),
    "subject from another namespace": lambda i: i.token(
        audience=AUDIENCE, subject="system:serviceaccount:default:default"
    ),
    "alg none": _alg_none,
    "hmac with the public key": _hmac_with_public_key,
    "not a JWT": lambda _: "not-a-jwt",
}


@pytest.mark.parametrize("path", ["/", "/dead-letter"])
@pytest.mark.parametrize("case", sorted(REJECTED))
def test_a_missing_or_invalid_token_is_401_and_nothing_is_stored(
    client: httpx.Client, issuer: OidcIssuer, case: str, path: str
) -> None:
    response, event_id = deliver(client, REJECTED[case](issuer), path)
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert not stored(client, event_id, "/v1/events" if path == "/" else "/v1/dead-letters")


def test_a_basic_credential_is_not_a_bearer_token(client: httpx.Client) -> None:
    response = post_binary(
        httpx.Client(base_url=str(client.base_url), headers={"Authorization": "Basic dXNlcjpw"}),
        event(),
    )
    assert response.status_code == 401


def test_an_unreachable_issuer_is_a_retriable_503_not_a_401_nor_a_500(
    tmp_path: Path,
) -> None:
    issuer = OidcIssuer(reader_token=READER_TOKEN)  # never started: nothing listens there
    env = oidc_env(issuer, tmp_path)
    service = audit_process(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", **env).start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            response, _ = deliver(http, issuer.token(audience=AUDIENCE))
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "issuer_unavailable"
            assert response.headers["retry-after"] == "1"
            # Once the issuer answers, the same kind of delivery goes through.
            issuer.start()
            try:
                response, event_id = deliver(http, issuer.token(audience=AUDIENCE))
                assert response.status_code == 202, response.text
                assert stored(http, event_id)
            finally:
                issuer.stop()
    finally:
        service.stop()


def test_without_an_audience_delivery_is_open_and_the_startup_log_says_so(
    tmp_path: Path,
) -> None:
    service = audit_process(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'a.db'}").start()
    try:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            response, event_id = deliver(http, None)
            assert response.status_code == 202, response.text
            assert stored(http, event_id)
    finally:
        service.stop()
    lines = [json.loads(line) for line in service.log_path.read_text().splitlines()]
    (starting,) = [line for line in lines if line["msg"] == "audit starting"]
    assert starting["delivery_auth"].startswith("off (AUDIT_OIDC_AUDIENCE unset")


def test_a_half_configured_verifier_stops_audit_at_start(tmp_path: Path) -> None:
    service = audit_process(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
        AUDIT_OIDC_ISSUER="https://kubernetes.default.svc.cluster.local",
    )
    with pytest.raises(RuntimeError, match="AUDIT_OIDC_ISSUER need AUDIT_OIDC_AUDIENCE"):
        service.start()
