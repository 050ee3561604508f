"""Configuration: defaults, and start-up errors that name the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from user.settings import UserSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "K_SINK",
        "K_CE_OVERRIDES",
        "EVENT_SOURCE",
        "PUBLIC_BASE_URL",
        "PORT",
        "USER_ADMIN_TOKEN",
        "EVENT_MODE",
        "RELAY_LEASE",
        "RELAY_SEND_TIMEOUT",
        "FORWARDED_ALLOW_IPS",
        "HASH_CONCURRENCY",
        "HASH_QUEUE_LIMIT",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    settings = UserSettings()
    assert settings.port == 3000
    assert settings.k_sink is None
    assert settings.k_ce_overrides == {}
    assert settings.event_mode == "binary"
    assert settings.event_source == "/apis/v1/namespaces/default/user"
    assert settings.base_url == "http://127.0.0.1:3000"
    assert settings.user_admin_token is None
    assert (settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism) == (
        3,
        65536,
        4,
    )


def test_overrides_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_CE_OVERRIDES", '{"extensions": {"origin": "user", "n": 2}}')
    assert UserSettings().k_ce_overrides == {"origin": "user", "n": 2}
    monkeypatch.setenv("K_CE_OVERRIDES", "")
    assert UserSettings().k_ce_overrides == {}


@pytest.mark.parametrize(
    "value", ["nope", "[]", '{"extensions": {"Upper": "x"}}', '{"extensions": {"a": [1]}}']
)
def test_invalid_overrides_name_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("K_CE_OVERRIDES", value)
    with pytest.raises(ValidationError) as caught:
        UserSettings()
    assert caught.value.errors()[0]["loc"] == ("k_ce_overrides",)


def test_no_proxy_is_trusted_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert UserSettings().forwarded_allow_ips == ""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", " 10.244.0.0/16, 127.0.0.1 ,::1")
    assert UserSettings().forwarded_allow_ips == "10.244.0.0/16,127.0.0.1,::1"


def test_public_base_url_follows_port_and_loses_its_slash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "3100")
    assert UserSettings().base_url == "http://127.0.0.1:3100"
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://users.example.com/")
    assert UserSettings().base_url == "https://users.example.com"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("K_SINK", "broker.local:80"),
        ("EVENT_SOURCE", "has space"),
        ("EVENT_MODE", "batch"),
        ("USER_ADMIN_TOKEN", "short"),
        ("RELAY_LEASE", "5"),
        ("PUBLIC_BASE_URL", "ftp://x"),
        ("FORWARDED_ALLOW_IPS", "*"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.0/8,envoy"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        UserSettings()


def test_python_m_user_stops_with_one_line_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "user"],
        env={"K_CE_OVERRIDES": "{not json", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: K_CE_OVERRIDES")
