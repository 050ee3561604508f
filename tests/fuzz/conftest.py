"""One local stack for the fuzzers (they do not break it; every case is independent),
and the figures printed at the end of the run."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator

import pytest

from devstack import LocalStack
from tests.chaos import report
from tests.fuzz import harness

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
    if harness.TOTALS:
        totals = harness.summary_lines()
        terminalreporter.section("hostile fuzzing: totals")
        for line in totals:
            terminalreporter.write_line(line)
        if harness.LONG_CASES:
            # `make fuzz` points here for the figures docs/reliability.md reports.
            target = report.REPORT_DIR / "fuzz-long-summary.txt"
            with contextlib.suppress(OSError):
                target.parent.mkdir(parents=True, exist_ok=True)
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                target.write_text("\n".join([f"finished {stamp}", *totals]) + "\n")
                terminalreporter.write_line(f"summary written to {target}")
