"""schemathesis against the OpenAPI documents that user and audit serve: for every
operation, positive and negative cases, sent to the real process with credentials that
get past authentication. No 5xx, and every response matches the document (status
code, content type, body schema)."""

from __future__ import annotations

import base64
import secrets
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack import LocalStack
from tests.chaos import report
from tests.fuzz.conftest import EXAMPLES, SEED

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Operations that never end by design: the live tail is fuzzed through its
#: parameters in tests/fuzz/test_http.py with a bounded read instead.
ENDLESS = {"GET /v1/events/stream"}
#: Makes a new user and returns (id, Authorization header with their Basic credentials).
FreshUser = Callable[[], tuple[str, str]]


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    url: str,
    headers: dict[str, str],
    statuses: Counter[int],
    fresh_user: FreshUser | None = None,
) -> int:
    """Run EXAMPLES cases of one operation in one mode; how many were sent. With
    `fresh_user`, each case acts on a new user with that user's own credentials."""
    sent = 0
    strategy = operation.as_strategy(generation_mode=mode, headers=headers)

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=strategy)
    def one(case: schemathesis.Case[Any]) -> None:
        nonlocal sent
        sent += 1
        if fresh_user is not None:
            user_id, authorization = fresh_user()
            case.headers["Authorization"] = authorization
            if "user_id" in case.path_parameters:
                case.path_parameters["user_id"] = user_id
        response = case.call_and_validate(base_url=url, checks=CHECKS, timeout=10)
        statuses[response.status_code] += 1

    one()
    return sent


def run_operations(
    url: str,
    headers: dict[str, str],
    *,
    fresh_user: FreshUser | None = None,
    only: Callable[[str], bool] = lambda _: True,
) -> tuple[Counter[str], Counter[int]]:
    """Fuzz every operation of `url`/openapi.json; (cases per operation, statuses)."""
    schema = schemathesis.openapi.from_url(url + "/openapi.json", timeout=10)
    cases: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # Err raises: a broken document fails
        label = f"{operation.method.upper()} {operation.path}"
        if label in ENDLESS or not only(label):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                cases[label] += fuzz_operation(operation, mode, url, headers, statuses, fresh_user)
            except Unsatisfiable:
                # Nothing to send in this mode (e.g. no parameters to make invalid).
                continue
            except Exception as exc:
                failures.append(f"{label} ({mode.value}): {exc}")
    assert not failures, f"seed {SEED}:\n" + "\n\n".join(failures)
    return cases, statuses


def basic(user_id: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user_id}:{password}".encode()).decode()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_user_openapi(fuzz_stack: LocalStack) -> None:
    # Every operation as the administrator (any id: mostly 404s, the validation paths) ...
    cases, statuses = run_operations(
        fuzz_stack.user_url, {"Authorization": f"Bearer {fuzz_stack.user_admin_token}"}
    )

    # ... and the per-user ones as a real user on their own record, a new user per case
    # (a fuzzed PATCH may change the password, a DELETE removes the record).
    client = httpx.Client(base_url=fuzz_stack.user_url, timeout=10)

    def fresh_user() -> tuple[str, str]:
        password = f"Fuzz-{secrets.token_hex(8)}"
        created = client.post("/v1/user", json={"name": "fuzz-self", "password": password})
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        return user_id, basic(user_id, password)

    with client:
        own_cases, own_statuses = run_operations(
            fuzz_stack.user_url, {}, fresh_user=fresh_user, only=lambda label: "{user_id}" in label
        )
    cases += own_cases
    statuses += own_statuses
    total = sum(cases.values())
    report.record(
        "fuzz",
        "schemathesis_user",
        {
            "seed": SEED,
            "operations": len(cases),
            "cases": total,
            "server_errors": sum(n for code, n in statuses.items() if code >= 500),
            "statuses": dict(sorted(statuses.items())),
        },
    )
    assert total >= len(cases) * EXAMPLES


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_audit_openapi(fuzz_stack: LocalStack) -> None:
    cases, statuses = run_operations(
        fuzz_stack.audit_url, {"Authorization": f"Bearer {fuzz_stack.audit_read_token}"}
    )
    total = sum(cases.values())
    report.record(
        "fuzz",
        "schemathesis_audit",
        {
            "seed": SEED,
            "operations": len(cases),
            "cases": total,
            "server_errors": sum(n for code, n in statuses.items() if code >= 500),
            "statuses": dict(sorted(statuses.items())),
        },
    )
    assert total >= len(cases) * EXAMPLES
