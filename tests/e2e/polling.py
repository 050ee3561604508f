"""Wait for a condition by polling it until a deadline: the only synchronisation the
e2e suite uses (no fixed sleeps). Pure: the clock and the sleep are injectable."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    """The condition did not hold before the deadline. An AssertionError so that pytest
    shows it as a test failure (with the last observed state), not as an error."""


def wait_until(
    probe: Callable[[], T],
    done: Callable[[T], bool] = bool,
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    max_interval: float = 1.0,
    describe: Callable[[T], str] = repr,
    retry_on: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `probe` until `done(result)`; return that result.

    The interval grows by half each round up to `max_interval`. One last probe runs at
    the deadline, so a condition that becomes true while we sleep is not missed.
    Exceptions listed in `retry_on` count as "not yet" (e.g. a port-forward whose pod is
    restarting); the last one is reported on timeout. Raises `Timeout` naming `what`
    and the last observation.
    """
    if timeout < 0:
        raise ValueError("timeout must be >= 0")
    deadline = clock() + timeout
    pause = interval
    last: str = "never probed"
    while True:
        final = clock() >= deadline
        try:
            result = probe()
        except retry_on as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if done(result):
                return result
            last = describe(result)
        if final:
            raise Timeout(f"{what}: not reached within {timeout:g}s; last seen: {last}")
        remaining = deadline - clock()
        sleep(max(0.0, min(pause, remaining)))
        pause = min(pause * 1.5, max_interval)
