"""DeliverySpec: retries, backoff, per-request timeout, dead-letter sink, format.

Backoff follows the reference code (knative/eventing pkg/kncloudevents), the one a
cluster runs: before retry n (n = 0 for the first retry) the wait is
`delay * 2**n` (exponential) or `delay * n` (linear, so the first retry is
immediate). No policy or no delay: retries without waiting.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# Knative's defaults for a Broker without `spec.delivery` (config-br-defaults).
DEFAULT_RETRY = 10
DEFAULT_BACKOFF_DELAY = 0.2
# Longest wait before a retry: `delay * 2**n` overflows a float past n = 1029 or so.
MAX_BACKOFF_SECONDS = 86_400.0

_NUMBER = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"P(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?"
)


class BackoffPolicy(enum.StrEnum):
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class DeliveryFormat(enum.StrEnum):
    BINARY = "binary"
    JSON = "json"


def parse_duration(text: str) -> float:
    """An ISO-8601 duration (`PT0.2S`, `PT1M30S`, `P1D`) in seconds.

    Years and months have no fixed length, so they are refused rather than guessed.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO-8601 duration such as PT0.5S")
    years, months, weeks, days, hours, minutes, seconds = (
        float(g.replace(",", ".")) if g else 0.0 for g in match.groups()
    )
    if years or months:
        raise ValueError(f"{text!r}: years and months have no fixed length; use days (D) or less")
    return ((weeks * 7 + days) * 24 + hours) * 3600 + minutes * 60 + seconds


@dataclass(frozen=True, slots=True)
class DeliverySpec:
    """The effective delivery settings of one Trigger (URLs already resolved)."""

    retry: int = 0
    backoff_policy: BackoffPolicy | None = None
    backoff_delay: float | None = None
    timeout: float | None = None
    dead_letter_sink: str | None = None
    format: DeliveryFormat | None = None

    @property
    def attempts(self) -> int:
        """Total attempts per destination: the first one plus `retry`."""
        return self.retry + 1

    def backoff(self, retry_index: int) -> float:
        """Seconds to wait before retry `retry_index` (0 for the first retry)."""
        return backoff_seconds(self.backoff_policy, self.backoff_delay, retry_index)


def backoff_seconds(policy: BackoffPolicy | None, delay: float | None, retry_index: int) -> float:
    """The reference code's formula (see the module docstring), capped at a day."""
    if policy is None or not delay:
        return 0.0
    if policy is BackoffPolicy.EXPONENTIAL:
        # Float powers: an overflow becomes inf (then the cap), never an OverflowError.
        return min(delay * 2.0 ** min(retry_index, 1023), MAX_BACKOFF_SECONDS)
    return min(float(delay * retry_index), MAX_BACKOFF_SECONDS)


BROKER_DEFAULT_DELIVERY = DeliverySpec(
    retry=DEFAULT_RETRY,
    backoff_policy=BackoffPolicy.EXPONENTIAL,
    backoff_delay=DEFAULT_BACKOFF_DELAY,
)
