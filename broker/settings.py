"""Broker configuration from the environment (see docs/local-broker.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from common.settings import ServiceSettings

DEFAULT_MANIFESTS = ("k8s/broker.yaml", "k8s/triggers.yaml")


class BrokerSettings(ServiceSettings):
    """`BROKER_*` variables on top of what every service reads."""

    port: int = Field(default=8081, ge=1, le=65535)
    # Comma-separated YAML files holding Broker and Trigger objects.
    broker_manifests: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path(p) for p in DEFAULT_MANIFESTS]
    )
    # `name=url` or `name.namespace=url`, comma-separated: where a `ref` to a v1 Service goes.
    broker_services: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # Deliveries in flight at once per Trigger; a slow subscriber only fills its own.
    # httpcore's pool bookkeeping grows with requests in flight; 8 per Trigger measured best.
    broker_delivery_concurrency: int = Field(default=8, ge=1, le=10_000)
    # Deliveries held in memory per Trigger; the rest wait in the queue file.
    broker_backlog_limit: int = Field(default=10_000, ge=10)
    # The same bound in bytes (events of up to MAX_BODY_BYTES make the count meaningless).
    broker_backlog_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024)
    # Seconds per delivery attempt for a Trigger (or Broker) whose delivery sets no timeout.
    broker_delivery_timeout: float = Field(default=30.0, gt=0, le=3600)
    # Longest value of one CloudEvents attribute accepted at the ingress, in UTF-8 bytes.
    broker_max_attribute_bytes: int = Field(default=4096, ge=256, le=1024 * 1024)
    # Connections kept open to all subscribers together.
    broker_max_connections: int = Field(default=512, ge=1)
    # Watch the manifests and reload Triggers when they change.
    broker_watch: bool = True

    @field_validator("broker_manifests", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            paths = [part.strip() for part in value.split(",") if part.strip()]
            if not paths:
                raise ValueError("name at least one manifest file")
            return paths
        return value

    @field_validator("broker_services", mode="before")
    @classmethod
    def _split_services(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        services: dict[str, str] = {}
        for part in value.split(","):
            if not part.strip():
                continue
            name, sep, url = part.partition("=")
            name, url = name.strip(), url.strip()
            if not sep or not name or not url:
                raise ValueError(f"{part.strip()!r} is not name=url")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{name}: {url!r} is not an http(s) URL")
            services[name] = url
        return services

    @property
    def queue_path(self) -> Path:
        """The SQLite file holding accepted events and their pending deliveries."""
        return self.data_dir / "broker.db"
