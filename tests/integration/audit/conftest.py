"""Each test gets a real audit process on a free port, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import ServiceProcess
from tests.integration.audit.helpers import audit_process


@pytest.fixture
def audit(tmp_path: Path, database_url: str) -> Iterator[ServiceProcess]:
    """A running audit service with an empty database of its own."""
    service = audit_process(tmp_path, database_url).start()
    yield service
    service.stop()


@pytest.fixture
def client(audit: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=audit.url, timeout=30) as http:
        yield http
