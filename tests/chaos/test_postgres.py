"""The same fault injection with PostgreSQL as the store of user and audit: the
PostgreSQL server is stopped (fast or immediate, i.e. crash-like) and started again at
random moments under load, between SIGKILLs of the three processes. The broker keeps
its own SQLite queue."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack import LocalStack
from tests.chaos import report
from tests.chaos.harness import (
    CHAOS_DELIVERY,
    RESTART_TIMEOUT,
    bugs_logged,
    kill_and_restart,
    run_under_faults,
)
from tests.support.postgres import PostgresServer, postgres_available
from tests.support.secrets_scan import (
    SecretSet,
    assert_clean,
    scan_http,
    scan_paths,
    scan_postgres,
)

FAULTS = int(os.environ.get("CHAOS_PG_FAULTS", "6"))


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server this test alone owns (it gets stopped under load)."""
    if not postgres_available() or os.environ.get("PG_TEST_DSN"):
        pytest.skip("needs a local PostgreSQL installation to stop and start")
    server = PostgresServer().init()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def postgres_outage(
    server: PostgresServer, stack: LocalStack, rng: random.Random
) -> Callable[[], None]:
    """Stop the server (clean or crash-like), leave it down a random while, start it;
    repaired when user and audit say they are ready again (nobody touches them)."""

    def inject() -> None:
        server.stop(rng.choice(("fast", "immediate")))
        time.sleep(rng.uniform(0.5, 3.0))  # the outage's length: a fault parameter
        server.start()
        for process in (stack.audit, stack.user):
            process.wait_ready(RESTART_TIMEOUT)

    return inject


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_postgres_outages_and_kills_under_load(
    tmp_path: Path, private_postgres: PostgresServer, rng: random.Random, chaos_seed: int
) -> None:
    secrets = SecretSet()
    passwords = [secrets.password(f"pg load worker {i} password") for i in range(4)]
    stack = LocalStack(
        tmp_path,
        database_urls={
            "user": private_postgres.create_database(),
            "audit": private_postgres.create_database(),
        },
        broker_delivery=CHAOS_DELIVERY,
    )
    secrets.add("USER_ADMIN_TOKEN", stack.user_admin_token)
    secrets.add("AUDIT_READ_TOKEN", stack.audit_read_token)
    kill = kill_and_restart(stack.processes)
    outage = postgres_outage(private_postgres, stack, rng)

    def inject(target: str) -> None:
        if target == "postgres":
            outage()
        else:
            kill(target)

    with stack, httpx.Client(timeout=10) as client:
        run = run_under_faults(
            stack,
            client,
            passwords=passwords,
            targets=("postgres", "user", "postgres", "broker", "postgres", "audit"),
            count=FAULTS,
            inject=inject,
            rng=rng,
            seed=chaos_seed,
        )
        report.record("chaos", "postgres", run.figures)
        print(run.figures)

        assert not run.verdict.problems, f"seed {chaos_seed}: {run.verdict.problems}"
        assert run.verdict.duplicates == 0
        assert run.users.outcomes.statuses[500] == 0
        assert run.direct.outcomes.statuses[500] == 0
        assert len(run.users.created) > 50, run.users.outcomes
        assert not bugs_logged(stack), bugs_logged(stack)

        hits = scan_paths([*stack.log_paths(), *stack.data_files()], secrets)
        hits += scan_postgres(private_postgres.admin_dsn, secrets)
        hits += scan_http(
            client, f"{stack.audit_url}/v1/events/export", secrets, headers=stack.audit_headers()
        )
        assert_clean(hits)
