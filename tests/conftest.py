"""Fixtures every suite shares: databases (SQLite and PostgreSQL) and the
CI rule that a skip for a missing service is a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, create_database_from_dsn, postgres_available

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here, not in tests/e2e/conftest.py: pytest only reads options from the conftest
    # files of the directories it was pointed at, and plain `pytest` starts at tests/.
    parser.addoption(
        "--kube-context",
        default=os.environ.get("E2E_KUBE_CONTEXT") or None,
        help=(
            "run tests/e2e against the system deployed in this kubeconfig context "
            "(e.g. kind-user-audit) instead of a local stack; env E2E_KUBE_CONTEXT"
        ),
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    # In CI nothing may be skipped because a service or tool is missing.
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true makes skips failures): {report.longrepr}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    """A private PostgreSQL server for the session (None when `PG_TEST_DSN` is used)."""
    if os.environ.get("PG_TEST_DSN"):
        yield None
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer().init()
    server.start()
    yield server
    server.destroy()


def new_postgres_database(server: PostgresServer | None) -> str:
    dsn = os.environ.get("PG_TEST_DSN")
    if dsn:
        return create_database_from_dsn(dsn)
    assert server is not None
    return server.create_database()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    server = request.getfixturevalue("postgres_server")
    return new_postgres_database(server)


@pytest.fixture
def shared_dir() -> Path:
    """The read-only ../shared folder (reference data); skip when absent outside CI."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present")
    return SHARED
