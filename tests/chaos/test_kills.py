"""SIGKILL each process in turn (user, broker, audit) at random moments under sustained
load; then every 201 must have exactly one audit record, every 202 of the broker must
be in audit, and every restart must have been a plain start (no repair)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import httpx
import pytest

from devstack import LocalStack
from tests.chaos import report
from tests.chaos.harness import CHAOS_DELIVERY, bugs_logged, kill_and_restart, run_under_faults
from tests.support.secrets_scan import SecretSet, assert_clean, scan_http, scan_paths

KILLS = int(os.environ.get("CHAOS_KILLS", "21"))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_sigkill_every_process_under_load(
    tmp_path: Path, rng: random.Random, chaos_seed: int
) -> None:
    secrets = SecretSet()
    passwords = [secrets.password(f"load worker {i} password") for i in range(4)]
    stack = LocalStack(tmp_path, broker_delivery=CHAOS_DELIVERY)
    secrets.add("USER_ADMIN_TOKEN", stack.user_admin_token)
    secrets.add("AUDIT_READ_TOKEN", stack.audit_read_token)
    with stack, httpx.Client(timeout=10) as client:
        run = run_under_faults(
            stack,
            client,
            passwords=passwords,
            targets=("user", "broker", "audit"),
            count=KILLS,
            inject=kill_and_restart(stack.processes),
            rng=rng,
            seed=chaos_seed,
        )
        report.record("chaos", "sigkill", run.figures)
        print(run.figures)

        assert len(run.faults) == KILLS
        assert not run.verdict.problems, f"seed {chaos_seed}: {run.verdict.problems}"
        assert run.verdict.duplicates == 0
        assert run.users.outcomes.statuses[500] == 0
        assert run.direct.outcomes.statuses[500] == 0
        assert len(run.users.created) > 100, run.users.outcomes
        assert not bugs_logged(stack), bugs_logged(stack)
        stats = client.get(f"{stack.audit_url}/v1/stats", headers=stack.audit_headers()).json()
        assert stats["dead_letters"] == 0, stats

        hits = scan_paths([*stack.log_paths(), *stack.data_files()], secrets)
        hits += scan_http(
            client, f"{stack.audit_url}/v1/events/export", secrets, headers=stack.audit_headers()
        )
        assert_clean(hits)
