"""Percentiles and medians as the bench computes them."""

from __future__ import annotations

import random

import pytest

from bench.stats import Spread, median, percentile, ratio


def test_percentile_interpolates_between_closest_ranks() -> None:
    samples = [1.0, 2.0, 3.0, 4.0]
    assert percentile(samples, 0) == 1.0
    assert percentile(samples, 100) == 4.0
    assert percentile(samples, 50) == 2.5
    assert percentile(samples, 25) == pytest.approx(1.75)
    assert percentile(samples, 99) == pytest.approx(3.97)


def test_percentile_ignores_input_order() -> None:
    values = [float(v) for v in range(1, 1001)]
    shuffled = values[:]
    random.Random(7).shuffle(shuffled)
    assert percentile(shuffled, 99) == percentile(values, 99) == pytest.approx(990.01)
    assert percentile(shuffled, 50) == 500.5


def test_percentile_of_one_sample_is_that_sample() -> None:
    assert percentile([42.0], 99.9) == 42.0


@pytest.mark.parametrize("q", [-1.0, 100.5])
def test_percentile_outside_0_100_is_rejected(q: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], q)


def test_percentile_of_nothing_is_rejected() -> None:
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_spread_of_runs() -> None:
    spread = Spread.of([14_835.0, 29_692.0, 6_430.0])
    assert spread == Spread(14_835.0, 6_430.0, 29_692.0)
    assert spread.relative_range == pytest.approx((29_692 - 6_430) / 14_835)


def test_ratio_without_a_baseline_is_none() -> None:
    assert ratio(10.0, 0.0) is None
    assert ratio(30.0, 10.0) == 3.0
