"""The sliding-window limiter behind the failed-login limits."""

from __future__ import annotations

from user.ratelimit import SlidingWindowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limit_is_reached_after_limit_events_and_slides() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(3, 60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("k") is None
        limiter.record("k")
        clock.now += 10
    # Events at 1000, 1010, 1020; now 1030: the first leaves the window at 1060.
    assert limiter.retry_after("k") == 30
    clock.now = 1060
    assert limiter.retry_after("k") is None
    assert limiter.retry_after("other") is None


def test_keys_are_independent() -> None:
    limiter = SlidingWindowLimiter(1, 60, clock=Clock())
    limiter.record("a")
    assert limiter.retry_after("a") is not None
    assert limiter.retry_after("b") is None


def test_memory_is_bounded() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(5, 60, max_keys=100, clock=clock)
    for i in range(10_000):
        limiter.record(f"key-{i}")
        limiter.record(f"key-{i}")
    assert len(limiter) == 100
    # The most recent keys are the ones kept.
    limiter_keys_last = SlidingWindowLimiter(1, 60, max_keys=2, clock=clock)
    limiter_keys_last.record("old")
    limiter_keys_last.record("mid")
    limiter_keys_last.record("new")
    assert limiter_keys_last.retry_after("old") is None
    assert limiter_keys_last.retry_after("new") is not None


def test_expired_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(2, 10, clock=clock)
    limiter.record("k")
    clock.now += 11
    assert limiter.retry_after("k") is None
    assert len(limiter) == 0


def test_reservations_count_against_the_limit_until_released() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(2, 60, clock=clock)
    limiter.reserve("k")
    limiter.reserve("k")
    # Two attempts in progress fill the limit before either is counted.
    assert limiter.retry_after("k") == 1.0
    limiter.release("k", count=False)  # it succeeded: its place is free again
    assert limiter.retry_after("k") is None
    limiter.release("k", count=True)  # it failed: counted from now on
    limiter.record("k")
    assert limiter.retry_after("k") == 60
    assert limiter.retry_after("other") is None


def test_released_keys_leave_nothing_behind() -> None:
    limiter = SlidingWindowLimiter(3, 60, clock=Clock())
    for _ in range(1000):
        limiter.reserve("k")
        limiter.release("k", count=False)
    assert limiter.retry_after("k") is None
    assert len(limiter) == 0
