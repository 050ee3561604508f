"""Fixtures of the fault-injection suite: the seed of its random moments, and the
figures printed at the end of the run."""

from __future__ import annotations

import os
import random
import secrets

import pytest

from tests.chaos import report


@pytest.fixture
def chaos_seed(request: pytest.FixtureRequest) -> int:
    """`CHAOS_SEED` to replay a run; otherwise a fresh seed, printed with the test's
    report so a failing run can be repeated exactly."""
    seed = int(os.environ.get("CHAOS_SEED") or secrets.randbelow(2**32))
    request.node.user_properties.append(("chaos_seed", seed))
    print(f"chaos seed: {seed} (CHAOS_SEED={seed} replays it)")
    return seed


@pytest.fixture
def rng(chaos_seed: int) -> random.Random:
    return random.Random(chaos_seed)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = report.summary("chaos")
    if lines:
        terminalreporter.section("reliability: fault injection")
        for line in lines:
            terminalreporter.write_line(line)
