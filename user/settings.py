"""The user service's configuration: environment variables, validated at start."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from common.events import AttributeValue, CloudEventError, parse_ce_overrides
from common.events.attributes import check_uri_reference
from common.settings import ServiceSettings
from user.capacity import available_cpus, default_hash_concurrency, read_cgroup_limits

DEFAULT_EVENT_SOURCE = "/apis/v1/namespaces/default/user"


class UserSettings(ServiceSettings):
    """Every knob of the user service. Field names are the variable names, upper-cased."""

    port: int = Field(default=3000, ge=1, le=65535)

    # Where events go (a SinkBinding injects both), and how they look.
    k_sink: str | None = None
    k_ce_overrides: Annotated[dict[str, AttributeValue], NoDecode] = Field(default_factory=dict)
    event_source: str = DEFAULT_EVENT_SOURCE
    event_mode: Literal["binary", "structured"] = "binary"
    public_base_url: str | None = None
    # A file holding the bearer token for K_SINK (a projected service-account token
    # whose audience is the Broker); read again whenever it is replaced.
    relay_token_file: Path | None = None

    # Authentication: Bearer token that may read and change any user.
    user_admin_token: SecretStr | None = None
    login_window_seconds: float = Field(default=60.0, gt=0)
    login_max_failures_per_ip: int = Field(default=20, ge=1)
    login_max_failures_per_user: int = Field(default=5, ge=1)
    # Proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For names the client.
    forwarded_allow_ips: str = ""

    # Password policy and argon2id cost (RFC 9106 section 4, second recommended option).
    password_min_length: int = Field(default=1, ge=1, le=1024)
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Hashes at once (each holds ARGON2_MEMORY_KIB); unset: from the cgroup's CPU and
    # memory limits (user/capacity.py). Past HASH_QUEUE_LIMIT waiting: 503.
    hash_concurrency: int | None = Field(default=None, ge=1)
    # Waiting costs little memory (a validated password): the bound is on queueing time.
    hash_queue_limit: int = Field(default=256, ge=0)

    # Group commit: at most this many writes share one transaction.
    write_batch_max: int = Field(default=64, ge=1, le=1000)

    # Outbox relay timing.
    relay_batch_size: int = Field(default=32, ge=1, le=1000)
    relay_poll_interval: float = Field(default=1.0, gt=0)
    relay_backoff_base: float = Field(default=0.5, gt=0)
    relay_backoff_max: float = Field(default=60.0, gt=0)
    relay_send_timeout: float = Field(default=10.0, gt=0)
    relay_lease: float = Field(default=60.0, gt=0)
    relay_max_attempts: int = Field(default=0, ge=0)
    relay_concurrency: int = Field(default=1, ge=1, le=64)
    outbox_retention: float = Field(default=7 * 24 * 3600.0, ge=0)
    outbox_prune_interval: float = Field(default=60.0, gt=0)

    @field_validator("k_sink", "public_base_url", "relay_token_file", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("k_sink")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("k_ce_overrides", mode="before")
    @classmethod
    def _parse_overrides(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        try:
            return parse_ce_overrides(value)
        except CloudEventError as exc:
            raise ValueError(exc.detail) from exc

    @field_validator("event_source")
    @classmethod
    def _uri_reference(cls, value: str) -> str:
        try:
            check_uri_reference("EVENT_SOURCE", value)
        except CloudEventError as exc:
            raise ValueError("must be a non-empty URI-reference") from exc
        return value

    @field_validator("user_admin_token")
    @classmethod
    def _token_strength(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _addresses(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR") from None
        return ",".join(entries)

    @model_validator(mode="after")
    def _consistent(self) -> UserSettings:
        if self.public_base_url is None:
            self.public_base_url = f"http://127.0.0.1:{self.port}"
        self.public_base_url = self.public_base_url.rstrip("/")
        if not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_BASE_URL must be an http:// or https:// URL")
        if self.relay_backoff_max < self.relay_backoff_base:
            raise ValueError("RELAY_BACKOFF_MAX must be at least RELAY_BACKOFF_BASE")
        # A claim must outlive the send it covers, or another replica could resend.
        if self.relay_lease < 2 * self.relay_send_timeout:
            raise ValueError("RELAY_LEASE must be at least twice RELAY_SEND_TIMEOUT")
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise ValueError("ARGON2_MEMORY_KIB must be at least 8 x ARGON2_PARALLELISM")
        if self.hash_concurrency is None:
            self.hash_concurrency = default_hash_concurrency(
                read_cgroup_limits(), self.argon2_memory_kib, available_cpus()
            )
        return self

    @property
    def hashes_at_once(self) -> int:
        """HASH_CONCURRENCY, or the value derived from the limits (set after validation)."""
        assert self.hash_concurrency is not None
        return self.hash_concurrency

    @property
    def base_url(self) -> str:
        """PUBLIC_BASE_URL without a trailing slash (always set after validation)."""
        assert self.public_base_url is not None
        return self.public_base_url
