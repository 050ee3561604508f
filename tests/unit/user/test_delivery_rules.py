"""Which sink answers are retried, parked or delivered; Retry-After; backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from user.relay import Outcome, backoff_delay, classify, parse_retry_after


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    assert classify(status) is Outcome.DELIVERED


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_and_5xx_are_retried(status: int) -> None:
    assert classify(status) is Outcome.RETRY


@pytest.mark.parametrize(
    "status", [100, 300, 301, 302, 307, 308, 400, 401, 403, 404, 410, 413, 415, 422]
)
def test_other_answers_park(status: int) -> None:
    assert classify(status) is Outcome.PARK


def test_retry_after_in_seconds_and_as_a_date() -> None:
    now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now) == 7
    assert parse_retry_after(" 0 ", now) == 0
    assert parse_retry_after("Fri, 27 Nov 2026 12:00:30 GMT", now) == 30
    assert parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0
    for junk in (None, "", "soon", "-5", "1.5"):
        assert parse_retry_after(junk, now) is None


def test_backoff_grows_exponentially_within_bounds_with_jitter() -> None:
    rng = random.Random(7)
    for attempts in range(1, 40):
        ceiling = min(60.0, 0.5 * 2 ** (attempts - 1))
        delays = {backoff_delay(attempts, 0.5, 60.0, rng) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered
    assert backoff_delay(0, 0.5, 60.0, rng) <= 0.5
