"""The audit service's configuration (environment variables, validated at start)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from common.settings import ServiceSettings


class AuditSettings(ServiceSettings):
    """Every variable of ServiceSettings, plus the audit service's own."""

    port: int = Field(default=8080, ge=1, le=65535)
    # When set, the read API, stream, export and page data need `Authorization: Bearer <token>`.
    audit_read_token: SecretStr | None = None
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

    def read_token(self) -> str | None:
        """The configured read token, or None when the read API is open."""
        if self.audit_read_token is None:
            return None
        token = self.audit_read_token.get_secret_value()
        return token or None
