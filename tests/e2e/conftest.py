"""The e2e suite's target, clients, diagnostics on failure and the timing record.

`pytest tests/e2e` starts a local stack (processes, SQLite in a temporary directory);
`pytest tests/e2e --kube-context kind-user-audit` (or `E2E_KUBE_CONTEXT=...`) runs the
same scenarios against the system deployed in that context. See docs/e2e.md.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.api import AuditApi, UserApi
from tests.e2e.target import Target

HERE = Path(__file__).resolve().parent
#: Seconds per scenario against a cluster (pytest-timeout), instead of the project's 300:
#: the volume scenario's own deadline there is 600 s (tests/e2e/test_volume.py), and the
#: first scenario also pays the session fixture's readiness waits (up to 300 s).
CLUSTER_TEST_TIMEOUT = 1200
_SYSTEM: list[Target] = []
_TIMINGS: dict[str, float] = {}
_MEASUREMENTS: dict[str, str] = {}


def artifacts_dir() -> Path:
    path = Path(os.environ.get("E2E_ARTIFACTS") or HERE / ".artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--kube-context"):
        return
    for item in items:
        # This hook sees the whole session's items, not only this directory's.
        if HERE in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CLUSTER_TEST_TIMEOUT))


@pytest.fixture(scope="session")
def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    context = request.config.getoption("--kube-context")
    target: Target
    if context:
        from tests.e2e.cluster import ClusterTarget

        target = ClusterTarget(context)
    else:
        from tests.e2e.local import LocalTarget

        target = LocalTarget(tmp_path_factory.mktemp("e2e-stack"))
    _SYSTEM.append(target)
    try:
        yield target
    finally:
        _SYSTEM.remove(target)
        target.close()


@pytest.fixture(autouse=True)
def _system_running(system: Target) -> None:
    """A scenario that failed half-way through an outage must not break the next one."""
    system.ensure_running()


@pytest.fixture
def users(system: Target) -> Iterator[UserApi]:
    api = UserApi(system.user_url, system.user_admin_token)
    yield api
    api.close()


@pytest.fixture
def audit(system: Target) -> Iterator[AuditApi]:
    api = AuditApi(system.audit_url, system.audit_read_token)
    yield api
    api.close()


@pytest.fixture
def measure(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """What a scenario measured about itself (shown in the summary, saved with timings)."""
    found: dict[str, str] = {}
    yield found
    for key, value in found.items():
        _MEASUREMENTS[f"{request.node.name}: {key}"] = value


def _slug(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid)[-150:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when == "call" and report.passed:
        _TIMINGS[item.nodeid] = report.duration
    if not report.failed or report.when == "teardown" or not _SYSTEM:
        return
    try:
        text = _SYSTEM[-1].diagnostics()
    except Exception as exc:  # diagnostics must never hide the failure itself
        text = f"(diagnostics failed: {type(exc).__name__}: {exc})"
    path = artifacts_dir() / f"{_slug(item.nodeid)}.txt"
    path.write_text(text)
    report.sections.append(("e2e diagnostics", f"(also in {path})\n{text}"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _TIMINGS and not _MEASUREMENTS:
        return
    target = "cluster" if terminalreporter.config.getoption("--kube-context") else "local"
    terminalreporter.section(f"e2e scenario times ({target} target)")
    for nodeid, seconds in _TIMINGS.items():
        terminalreporter.write_line(f"{seconds:8.2f}s  {nodeid}")
    for key, value in _MEASUREMENTS.items():
        terminalreporter.write_line(f"          {key}: {value}")
    record = {
        "target": target,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": _TIMINGS,
        "measurements": _MEASUREMENTS,
    }
    (artifacts_dir() / f"timings-{target}.json").write_text(json.dumps(record, indent=2))
