"""Backoff math and ISO-8601 durations."""

from __future__ import annotations

import pytest

from broker.delivery import BackoffPolicy, DeliverySpec, backoff_seconds, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT0.2S", 0.2),
        ("PT0,5S", 0.5),
        ("PT1M30S", 90.0),
        ("PT2H", 7200.0),
        ("P1D", 86400.0),
        ("P1W", 604800.0),
        ("P1DT1S", 86401.0),
        ("PT0S", 0.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "1S", "PT1", "0.5", "PT-1S", "P1Y", "P2M", "pt1s"])
def test_invalid_or_ambiguous_durations(text: str) -> None:
    with pytest.raises(ValueError, match=r"ISO-8601|fixed length"):
        parse_duration(text)


def test_exponential_doubles_from_the_delay() -> None:
    waits = [backoff_seconds(BackoffPolicy.EXPONENTIAL, 0.5, n) for n in range(5)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]  # the comment in k8s/broker.yaml


def test_linear_first_retry_is_immediate_as_in_the_reference_code() -> None:
    waits = [backoff_seconds(BackoffPolicy.LINEAR, 0.3, n) for n in range(4)]
    assert waits == pytest.approx([0.0, 0.3, 0.6, 0.9])


@pytest.mark.parametrize(
    ("policy", "delay"), [(None, 1.0), (BackoffPolicy.EXPONENTIAL, None), (None, None)]
)
def test_no_policy_or_no_delay_means_no_wait(
    policy: BackoffPolicy | None, delay: float | None
) -> None:
    assert backoff_seconds(policy, delay, 3) == 0.0


def test_attempts_are_retry_plus_one() -> None:
    spec = DeliverySpec(retry=5, backoff_policy=BackoffPolicy.EXPONENTIAL, backoff_delay=0.1)
    assert spec.attempts == 6
    assert spec.backoff(2) == pytest.approx(0.4)


@pytest.mark.parametrize("policy", [BackoffPolicy.EXPONENTIAL, BackoffPolicy.LINEAR])
def test_a_huge_retry_count_waits_at_most_a_day_instead_of_overflowing(
    policy: BackoffPolicy,
) -> None:
    # 0.2 * 2**1030 no longer fits a float: the attempt used to raise OverflowError.
    waits = [backoff_seconds(policy, 0.2, n) for n in (1029, 1030, 5000, 10**6)]
    assert all(0 < wait <= 86_400 for wait in waits)
    assert backoff_seconds(BackoffPolicy.EXPONENTIAL, 0.5, 4) == 8.0  # unchanged below the cap
