"""The little statistics the bench needs: medians of runs, percentiles of samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks.

    Same definition as numpy's default (`method="linear"`): rank = q/100 * (n - 1).
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(samples)
    rank = q / 100.0 * (len(ordered) - 1)
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    """The median (the mean of the middle two for an even count)."""
    return percentile(values, 50.0)


@dataclass(frozen=True, slots=True)
class Spread:
    """Median, minimum and maximum of repeated measurements of one number."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("spread of no values")
        return cls(median(values), min(values), max(values))

    @property
    def relative_range(self) -> float:
        """(max - min) / median: how much the runs disagree."""
        return (self.high - self.low) / self.median if self.median else 0.0


def ratio(ours: float, baseline: float) -> float | None:
    """ours / baseline, or None when the baseline is missing or zero."""
    if not baseline:
        return None
    return ours / baseline
