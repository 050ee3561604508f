"""How the hostile properties run: one code path for CI and for the long run.

CI (default): each property runs its small `ci` example count, derandomized (the same
examples every run), no example database, and the first violation fails the test after
hypothesis has shrunk it to a minimal example.

Long run (`FUZZ_CASES=N`, what `make fuzz CASES=N` sets): N cases in total, shared
between the properties by weight, random seeds (`FUZZ_SEED` replays), and a violation
is counted with its example instead of stopping the run, so the summary says how many
cases ended in a server error, no answer or a stuck event.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from tests.chaos import report
from tests.fuzz.wire import NoAnswer, Reply

T = TypeVar("T")

#: Total cases of a long run; 0 means the CI profile.
LONG_CASES = int(os.environ.get("FUZZ_CASES") or 0)
LONG_SEED = int(os.environ.get("FUZZ_SEED") or secrets.randbelow(2**32))
#: Multiplies every CI example count (e.g. 3 for a heavier pre-merge run).
CI_SCALE = float(os.environ.get("FUZZ_HOSTILE_SCALE") or 1.0)
#: `FUZZ_EXPLICIT=0` leaves out the hand-picked corner examples: only generated ones run.
EXPLICIT = os.environ.get("FUZZ_EXPLICIT", "1") != "0"
#: Seconds hypothesis may spend shrinking a failure in CI (a stuck event costs the whole
#: delivery deadline per try); then it reports the smallest failing example so far.
SHRINK_SECONDS = float(os.environ.get("FUZZ_SHRINK_SECONDS") or 45)

#: pytest-timeout per property: every test stops by itself, the long run included
#: (about 0.1 s a case on 2 loaded cores; a property gets at most all the cases).
TEST_TIMEOUT = 600 + LONG_CASES // 2

#: Share of a long run per property (normalised at run time).
WEIGHTS: dict[str, float] = {}


class Violation(AssertionError):
    """A property does not hold for one example."""


@dataclass
class Tally:
    """What one property saw: cases, statuses, and the examples that broke it."""

    name: str
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: int = 0
    no_answer: int = 0
    stuck: int = 0
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def answered(self, reply: Reply, where: str, *, valid_http: bool = True) -> Reply:
        """Count `reply` and check the rule every answer obeys: below 500, and a 4xx
        carries a JSON error (the services' error format, `{"error", "detail"}`).
        A request that is not valid HTTP (`valid_http=False`: a control character in a
        field value) is refused by uvicorn's parser before any app code, in plain text."""
        self.statuses[reply.status] += 1
        if reply.status >= 500:
            self.server_errors += 1
            raise Violation(f"{where}: {reply.status} {reply.body[:300]!r}")
        if not valid_http and reply.status == 400:
            return reply
        if 400 <= reply.status < 500:
            try:
                document = json.loads(reply.body)
            except ValueError:
                document = None
            if not isinstance(document, dict) or "error" not in document:
                raise Violation(
                    f"{where}: {reply.status} without a JSON error: {reply.body[:200]!r}"
                )
        return reply

    def no_reply(self, exc: NoAnswer, where: str) -> Violation:
        self.no_answer += 1
        return Violation(f"{where}: {exc}")


TOTALS: list[Tally] = []


def examples_for(name: str, ci: int) -> int:
    if not LONG_CASES:
        return max(1, round(ci * CI_SCALE))
    share = WEIGHTS.get(name, 1.0) / sum(WEIGHTS.values() or [1.0])
    return max(1, round(LONG_CASES * share))


def run_property(
    name: str,
    strategy: st.SearchStrategy[T],
    check: Callable[[T, Tally], None],
    *,
    ci: int,
    explicit: Sequence[T] = (),
    after_failure: Callable[[], None] | None = None,
) -> Tally:
    """Run `check` on examples of `strategy`: `ci` of them in CI, the property's share
    of FUZZ_CASES in a long run. Records the figures; raises on a violation.

    `explicit` examples run first in every profile: the far corners of the strategy
    (e.g. the largest sizes), which a small derandomized sample may not reach.
    `after_failure` runs before the example that follows a failed one: a fresh
    process, so that what one example broke is not blamed on the next (hypothesis
    shrinks on the assumption that examples are independent)."""
    tally = Tally(name)
    TOTALS.append(tally)
    target = examples_for(name, ci)
    started = time.monotonic()

    failed: set[str] = set()
    first_failure: list[float] = []

    broken = [False]

    def one(example: Any) -> None:
        if broken[0] and after_failure is not None:
            after_failure()
        broken[0] = False
        try:
            checked(example)
        except BaseException:
            broken[0] = True
            raise

    def checked(example: Any) -> None:
        if not LONG_CASES:
            key = repr(example)
            spent = bool(first_failure) and time.monotonic() - first_failure[0] > SHRINK_SECONDS
            if spent and key not in failed:
                reject()  # shrink budget spent: no new candidates, keep the best so far
            tally.cases += 1
            try:
                check(example, tally)
            except Exception as exc:
                # schemathesis blanks hypothesis's printer process-wide (its
                # generation/hypothesis/__init__.py), so the example goes in a note.
                exc.add_note(f"hostile example: {key[:3000]}")
                failed.add(key)
                first_failure[:1] = first_failure[:1] or [time.monotonic()]
                raise
            return
        tally.cases += 1
        try:
            check(example, tally)
        except Violation as exc:
            if len(tally.violations) < 20:
                tally.violations.append(f"{exc} <- {example!r}"[:2000])
            else:
                tally.violations.append("")

    def with_explicit(test: Callable[..., None]) -> Callable[..., None]:
        for value in reversed(explicit if EXPLICIT else ()):
            test = example(example=value)(test)
        return test

    try:
        if not LONG_CASES:
            settings(
                max_examples=target,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                print_blob=True,
            )(with_explicit(given(example=strategy)(one)))()
        else:
            round_seed = LONG_SEED
            while tally.cases < target:
                before = tally.cases
                hypothesis_seed(round_seed)(
                    settings(
                        max_examples=target - tally.cases,
                        database=None,
                        deadline=None,
                        suppress_health_check=list(HealthCheck),
                    )(with_explicit(given(example=strategy)(one)))
                )()
                round_seed += 1
                if tally.cases == before:
                    break  # nothing new left to generate
    finally:
        tally.seconds = time.monotonic() - started
        report.record(
            "fuzz",
            f"hostile_{name}",
            {
                "profile": "long" if LONG_CASES else "ci",
                "seed": LONG_SEED if LONG_CASES else "derandomized",
                "cases": tally.cases,
                "seconds": round(tally.seconds, 1),
                "server_errors": tally.server_errors,
                "no_answer": tally.no_answer,
                "stuck": tally.stuck,
                "violations": len(tally.violations),
                "statuses": dict(sorted(tally.statuses.items())),
            },
        )
    if tally.violations:
        shown = "\n".join(v for v in tally.violations if v)
        raise AssertionError(
            f"{name}: {len(tally.violations)} violations (seed {LONG_SEED}):\n{shown}"
        )
    return tally


def poll(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """The first truthy value of `predicate()`, or the last falsy one at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def summary_lines() -> list[str]:
    """The long run's totals, one line each, for the terminal and the summary file."""
    cases = sum(t.cases for t in TOTALS)
    lines = [
        f"hostile fuzzing: {cases} cases, seed {LONG_SEED if LONG_CASES else 'derandomized'}",
        f"server errors (5xx): {sum(t.server_errors for t in TOTALS)}",
        f"no answer (reset, closed, timeout): {sum(t.no_answer for t in TOTALS)}",
        f"stuck events (queue depth left at the end): {sum(t.stuck for t in TOTALS)}",
        f"violations: {sum(len(t.violations) for t in TOTALS)}",
    ]
    for tally in TOTALS:
        lines.append(
            f"  {tally.name}: {tally.cases} cases in {tally.seconds:.1f} s, "
            f"{tally.server_errors} 5xx, {tally.no_answer} no answer, {tally.stuck} stuck, "
            f"{len(tally.violations)} violations, statuses {dict(sorted(tally.statuses.items()))}"
        )
    return lines
