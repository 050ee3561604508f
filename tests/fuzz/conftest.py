"""One local stack for the fuzzers (they do not break it; every case is independent),
and the figures printed at the end of the run."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from devstack import LocalStack
from tests.chaos import report

#: Examples per operation and generation mode (positive and negative).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
#: `FUZZ_SEED` replays a run; otherwise a fresh seed, printed with the results.
SEED = int(os.environ.get("FUZZ_SEED") or secrets.randbelow(2**32))


@pytest.fixture(scope="session")
def fuzz_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack(
        tmp_path_factory.mktemp("fuzz"),
        # Fuzzing sends many bad logins from one address: keep the limiter out of the way
        # of the other operations (its 429 is documented and still checked).
        env={"user": {"LOGIN_MAX_FAILURES_PER_IP": "100000"}},
    )
    with stack:
        yield stack


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = report.summary("fuzz")
    if lines:
        terminalreporter.section("reliability: fuzzing")
        for line in lines:
            terminalreporter.write_line(line)
