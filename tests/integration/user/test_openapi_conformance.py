"""The OpenAPI document is the contract: schemathesis generates requests from it
(valid and invalid, single calls and create->read->update->delete sequences)
against a real service and checks every answer against the document."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.user.conftest import StartUser
from tests.integration.user.support import ADMIN_TOKEN

SCHEMATHESIS = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "schemathesis"


def schemathesis(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    command = str(SCHEMATHESIS) if SCHEMATHESIS.exists() else shutil.which("schemathesis")
    if command is None:
        pytest.skip("schemathesis is not installed")
    return subprocess.run(
        [
            command,
            "run",
            f"{url}/openapi.json",
            "-H",
            f"Authorization: Bearer {ADMIN_TOKEN}",
            "--max-examples",
            "40",
            "--seed",
            "20261127",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.slow
def test_every_answer_matches_the_openapi_document(start_user: StartUser) -> None:
    # Generous login limits: the run sends many wrong credentials on purpose.
    service = start_user(LOGIN_MAX_FAILURES_PER_IP="1000000", LOGIN_MAX_FAILURES_PER_USER="1000000")
    everything_but_listing = schemathesis(service.url, "--exclude-operation-id", "listUsers")
    assert everything_but_listing.returncode == 0, everything_but_listing.stdout[-6000:]
    # A cursor is valid only if this service issued it, which no schema can say:
    # a made-up one is rightly refused with 400.
    listing = schemathesis(
        service.url,
        "--include-operation-id",
        "listUsers",
        "--exclude-checks",
        "positive_data_acceptance",
    )
    assert listing.returncode == 0, listing.stdout[-6000:]
    assert "unhandled error" not in service.log_text()
