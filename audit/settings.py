"""The audit service's configuration (environment variables, validated at start)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import NoDecode

from audit.delivery_auth import OidcConfig
from common.settings import ServiceSettings

# Knative's default for `oidc-discovery-base-url` (knative/eventing knative-v1.22.2
# pkg/apis/feature/features.go): the API server, from inside the cluster.
DEFAULT_OIDC_DISCOVERY_URL = "https://kubernetes.default.svc"


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

    # Authenticated delivery (audit/delivery_auth.py): on when the audience is set.
    audit_oidc_audience: str | None = None
    audit_oidc_discovery_url: str = DEFAULT_OIDC_DISCOVERY_URL
    # Pins the issuer; unset, the issuer the discovery document names is trusted.
    audit_oidc_issuer: str | None = None
    # CA bundle for the discovery URL, and a token to present there (both files).
    audit_oidc_ca_file: Path | None = None
    audit_oidc_token_file: Path | None = None
    # Comma-separated `sub` values allowed to deliver; `prefix*` globs; empty: any.
    audit_oidc_subjects: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator(
        "audit_oidc_audience",
        "audit_oidc_issuer",
        "audit_oidc_ca_file",
        "audit_oidc_token_file",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("audit_oidc_subjects", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("audit_oidc_discovery_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> AuditSettings:
        # A half-configured verifier would look on while it is off.
        stray = [
            name
            for name in ("audit_oidc_issuer", "audit_oidc_ca_file", "audit_oidc_token_file")
            if getattr(self, name) is not None
        ] + (["audit_oidc_subjects"] if self.audit_oidc_subjects else [])
        if self.audit_oidc_audience is None and stray:
            raise ValueError(f"{', '.join(stray).upper()} need AUDIT_OIDC_AUDIENCE")
        return self

    def oidc(self) -> OidcConfig | None:
        """The delivery-token check, or None when deliveries are not authenticated."""
        if self.audit_oidc_audience is None:
            return None
        return OidcConfig(
            audience=self.audit_oidc_audience,
            discovery_url=self.audit_oidc_discovery_url,
            issuer=self.audit_oidc_issuer,
            ca_file=self.audit_oidc_ca_file,
            token_file=self.audit_oidc_token_file,
            subjects=self.audit_oidc_subjects,
        )

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
