"""The audit service's configuration (environment variables, validated at start)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from common.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    """Every variable of ServiceSettings, plus the audit service's own."""

    port: int = Field(default=8080, ge=1, le=65535)
    # An open read API (no token) must be chosen: `make run` and the local stack do.
    audit_read_open: bool = False
    # The read API, stream, export and page data need `Authorization: Bearer <token>`.
    audit_read_token: SecretStr | None = Field(default=None, validate_default=True)
    # Most events one CloudEvents batch request may carry (413 beyond).
    max_batch_size: int = Field(default=1000, ge=1, le=100_000)
    max_sse_clients: int = Field(default=100, ge=1)
    # Group commit: most rows one transaction takes, and how many may wait for one.
    write_batch_rows: int = Field(default=5000, ge=1)
    max_pending_rows: int = Field(default=50_000, ge=1)
    # How long a sink request waits for its commit before answering 503.
    store_timeout_seconds: float = Field(default=15.0, gt=0)
    # Idle SSE streams send a comment this often so proxies keep them open.
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    # Streams also look for rows other replicas wrote this often.
    sse_poll_seconds: float = Field(default=1.0, gt=0)

    @field_validator("audit_read_open", mode="before")
    @classmethod
    def _blank_is_false(cls, value: Any) -> Any:
        return False if isinstance(value, str) and not value.strip() else value

    @field_validator("audit_read_token")
    @classmethod
    def _token_or_open(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            return value
        # A malformed AUDIT_READ_OPEN is missing here and reported under its own name.
        if info.data.get("audit_read_open", True):
            return None
        raise ValueError(
            "not set, and the read API would be open to anyone: set it (hack/create-secrets.sh"
            " makes one on a cluster) or choose an open read API with AUDIT_READ_OPEN=true"
        )

    def read_token(self) -> str | None:
        """The configured read token, or None when the read API is open."""
        if self.audit_read_token is None:
            return None
        token = self.audit_read_token.get_secret_value()
        return token or None
