"""The deadline loop, on a fake clock: no real time passes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.polling import Timeout, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_returns_the_first_result_that_is_done() -> None:
    clock = FakeClock()
    results = iter([0, 0, 3, 4])
    assert (
        wait_until(lambda: next(results), timeout=5, what="x", clock=clock, sleep=clock.sleep) == 3
    )
    assert len(clock.sleeps) == 2


def test_interval_grows_to_the_cap() -> None:
    clock = FakeClock()
    with pytest.raises(Timeout):
        wait_until(
            lambda: False,
            timeout=10,
            what="never",
            interval=0.1,
            max_interval=1.0,
            clock=clock,
            sleep=clock.sleep,
        )
    assert clock.sleeps[:3] == pytest.approx([0.1, 0.15, 0.225])
    assert max(clock.sleeps) == pytest.approx(1.0)


def test_timeout_reports_what_and_the_last_observation() -> None:
    clock = FakeClock()
    with pytest.raises(
        Timeout, match=r"Broker ready: not reached within 2s; last seen: Ready=False"
    ):
        wait_until(
            lambda: "Ready=False",
            lambda s: s == "Ready=True",
            timeout=2,
            what="Broker ready",
            describe=str,
            clock=clock,
            sleep=clock.sleep,
        )
    # Never sleeps past the deadline, and probes once more at it.
    assert clock.now == pytest.approx(2.0)


def test_a_last_probe_at_the_deadline_can_still_succeed() -> None:
    clock = FakeClock()
    assert wait_until(
        lambda: clock.now >= 1.0,
        timeout=1.0,
        what="x",
        interval=0.7,
        clock=clock,
        sleep=clock.sleep,
    )


def test_listed_exceptions_mean_not_yet() -> None:
    clock = FakeClock()
    calls: Iterator[Exception | str] = iter(
        [ConnectionError("refused"), ConnectionError("refused"), "up"]
    )

    def probe() -> str:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert (
        wait_until(
            probe, timeout=5, what="x", retry_on=(ConnectionError,), clock=clock, sleep=clock.sleep
        )
        == "up"
    )


def test_last_exception_is_reported() -> None:
    clock = FakeClock()

    def probe() -> str:
        raise ConnectionError("refused")

    with pytest.raises(Timeout, match="ConnectionError: refused"):
        wait_until(
            probe, timeout=1, what="x", retry_on=(ConnectionError,), clock=clock, sleep=clock.sleep
        )


def test_other_exceptions_propagate() -> None:
    clock = FakeClock()

    def probe() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        wait_until(
            probe, timeout=1, what="x", retry_on=(ConnectionError,), clock=clock, sleep=clock.sleep
        )


def test_timeout_zero_probes_once() -> None:
    clock = FakeClock()
    calls: list[int] = []
    with pytest.raises(Timeout):
        wait_until(lambda: calls.append(1), timeout=0, what="x", clock=clock, sleep=clock.sleep)
    assert calls == [1]
    assert clock.sleeps == []


def test_timeout_is_an_assertion_error_for_pytest() -> None:
    assert issubclass(Timeout, AssertionError)
