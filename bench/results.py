"""What a configuration's measurement produces, independent of how it was taken."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bench.stats import Spread

Kind = Literal["baseline", "ours"]

# Metric names every run record may carry (a scenario fills what it measures).
THROUGHPUT = "throughput"  # events/s (or users/s) - the headline number
REQUESTS_PER_S = "requests_per_s"
P50_MS = "p50_ms"
P90_MS = "p90_ms"
P99_MS = "p99_ms"
P999_MS = "p99.9_ms"
ERRORS = "errors"
GENERATOR_CPU = "generator_cpu"  # wrk's CPU time / wall time (1.0 = one core)
GENERATOR_CAPACITY = "generator_capacity"  # requests wrk can issue per CPU-second
SERVER_CPU = "server_cpu"  # servers' CPU time / wall time, summed over processes
PER_CPU_SECOND = "per_cpu_second"  # throughput / SERVER_CPU: work per server CPU-second
OTHER_CPU = "other_cpu"  # the rest of the machine's busy CPU / wall time (not ours)
STEAL_CPU = "steal_cpu"  # CPU time the hypervisor took / wall time
SENT_PER_S = "sent_per_s"  # rate an open-loop driver offered


@dataclass(frozen=True)
class ConfigResult:
    """One configuration: the medians (and spread) of its measured runs."""

    name: str
    label: str
    kind: Kind
    unit: str
    runs: Sequence[Mapping[str, float]]
    notes: Sequence[str] = field(default_factory=tuple)
    setup: str = ""

    def spread(self, metric: str) -> Spread | None:
        values = [run[metric] for run in self.runs if metric in run]
        return Spread.of(values) if values else None

    def median(self, metric: str) -> float | None:
        spread = self.spread(metric)
        return spread.median if spread else None
