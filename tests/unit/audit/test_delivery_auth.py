"""The delivery-token settings and the subject globs (the verifier itself is proven
against a real issuer in tests/integration/audit/test_delivery_auth.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from audit.delivery_auth import (
    CLOCK_SKEW_SECONDS,
    InvalidToken,
    OidcConfig,
    OidcVerifier,
    subject_allowed,
)
from audit.settings import DEFAULT_OIDC_DISCOVERY_URL, AuditSettings
from tests.support.oidc_issuer import OidcIssuer

TRIGGER = "system:serviceaccount:user-audit:audit-user-created-oidc-eventing.knative.dev-trigger"


@pytest.fixture(autouse=True)
def _open_read_api(monkeypatch: pytest.MonkeyPatch) -> None:
    # These settings tests are about delivery tokens; audit refuses to start with neither
    # a read token nor an explicitly open read API.
    monkeypatch.setenv("AUDIT_READ_OPEN", "true")


@pytest.mark.parametrize(
    ("patterns", "allowed"),
    [
        ((), True),
        (("system:serviceaccount:user-audit:*",), True),
        ((TRIGGER,), True),
        (("system:serviceaccount:user-audit:audit-user-created",), False),
        (("system:serviceaccount:other:*",), False),
        (("system:serviceaccount:other:*", "system:serviceaccount:user-audit:*"), True),
    ],
)
def test_subjects_match_exactly_or_by_prefix_glob(patterns: tuple[str, ...], allowed: bool) -> None:
    assert subject_allowed(TRIGGER, patterns) is allowed


def test_delivery_auth_is_off_by_default() -> None:
    settings = AuditSettings()
    assert settings.oidc() is None


def test_the_audience_turns_it_on_with_knatives_default_discovery_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUDIT_OIDC_AUDIENCE", "knative-user-audit/audit")
    monkeypatch.setenv("AUDIT_OIDC_SUBJECTS", " system:serviceaccount:a:* , ,x ")
    monkeypatch.setenv("AUDIT_OIDC_TOKEN_FILE", "/var/run/token")
    config = AuditSettings().oidc()
    assert config is not None
    assert config.audience == "knative-user-audit/audit"
    assert config.discovery_url == DEFAULT_OIDC_DISCOVERY_URL
    assert config.subjects == ("system:serviceaccount:a:*", "x")
    assert config.token_file == Path("/var/run/token")
    assert config.issuer is None


def test_a_blank_audience_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_OIDC_AUDIENCE", "  ")
    assert AuditSettings().oidc() is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUDIT_OIDC_ISSUER", "https://kubernetes.default.svc.cluster.local"),
        ("AUDIT_OIDC_SUBJECTS", "system:serviceaccount:a:*"),
        ("AUDIT_OIDC_TOKEN_FILE", "/var/run/token"),
    ],
)
def test_oidc_settings_without_an_audience_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="need AUDIT_OIDC_AUDIENCE"):
        AuditSettings()


def test_the_discovery_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_OIDC_AUDIENCE", "a")
    monkeypatch.setenv("AUDIT_OIDC_DISCOVERY_URL", "kubernetes.default.svc")
    with pytest.raises(ValidationError, match="http"):
        AuditSettings()


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_verified_token_is_checked_again_only_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    with OidcIssuer() as issuer:
        verifier = OidcVerifier(OidcConfig(audience="a", discovery_url=issuer.url), clock=clock)
        full_checks: list[str] = []
        original = verifier._verify_fully

        def counted(token: str) -> tuple[str, float]:
            full_checks.append(token)
            return original(token)

        monkeypatch.setattr(verifier, "_verify_fully", counted)
        token = issuer.token(audience="a", lifetime=600)
        assert verifier.verify(token) == verifier.verify(token)
        assert len(full_checks) == 1
        clock.now += 600 + CLOCK_SKEW_SECONDS + 1
        verifier.verify(token)  # still valid in real time; what matters is it was re-checked
        assert len(full_checks) == 2
        # Another token is never answered from the cache.
        with pytest.raises(InvalidToken):
            verifier.verify(issuer.token(audience="b"))
