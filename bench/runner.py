"""The measurement loop shared by every wrk-driven configuration: warm up once, then
N runs of a fixed duration and connection count, each recorded with the generator's
and the servers' CPU use."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench import results as r
from bench.servers import Server, SystemCpu
from bench.wrk import WrkRun, run_wrk


@dataclass(frozen=True)
class BenchSettings:
    """How hard and how long: the same for every configuration of one bench run."""

    runs: int = 3
    duration_s: float = 5.0
    warmup_s: float = 2.0
    generator_cpus: set[int] | None = None
    server_cpus: set[int] | None = None
    niceness: int | None = None
    """Priority for every process the bench starts (None: leave it as inherited)."""


@dataclass(frozen=True)
class Load:
    """One wrk load: script, its arguments for a run id, connections."""

    script: str
    args: Callable[[str], Sequence[str]]
    connections: int
    events_per_request: int = 1
    path: str = "/"
    timeout_s: float = 10.0


_run_ids = itertools.count(1)


def new_run_id(prefix: str) -> str:
    """Unique per process and per bench invocation, so ids never repeat on one server."""
    return f"{prefix}{int(time.time())}x{next(_run_ids)}"


def run_load(
    url: str, load: Load, duration_s: float, settings: BenchSettings, run_id: str
) -> WrkRun:
    return run_wrk(
        url + load.path,
        load.script,
        load.args(run_id),
        duration_s=duration_s,
        connections=load.connections,
        cpus=settings.generator_cpus,
        timeout_s=load.timeout_s,
        niceness=settings.niceness,
    )


def wrk_metrics(run: WrkRun, load: Load) -> dict[str, float]:
    """The numbers every wrk run yields."""
    result = run.result
    percentiles = result.percentiles_ms
    metrics = {
        r.THROUGHPUT: result.ok_per_s * load.events_per_request,
        r.REQUESTS_PER_S: result.requests_per_s,
        r.ERRORS: float(result.errors.total),
        r.GENERATOR_CPU: run.generator_cpu_share,
        r.GENERATOR_CAPACITY: run.generator_capacity_per_s,
    }
    for key, q in ((r.P50_MS, 50.0), (r.P90_MS, 90.0), (r.P99_MS, 99.0), (r.P999_MS, 99.9)):
        if q in percentiles:
            metrics[key] = percentiles[q]
    return metrics


def measured_run(
    servers: Sequence[Server],
    action: Callable[[], dict[str, float]],
) -> dict[str, float]:
    """Run `action`; add the servers' CPU share over its wall time, and what the rest of
    the machine used meanwhile (anything not ours competes for the same cores)."""
    system_before = SystemCpu.read()
    before = [server.cpu_seconds() for server in servers]
    started = time.monotonic()
    metrics = action()
    wall = time.monotonic() - started
    after = [server.cpu_seconds() for server in servers]
    system_after = SystemCpu.read()
    metrics[r.SERVER_CPU] = sum(a - b for a, b in zip(after, before, strict=True)) / wall
    if metrics[r.SERVER_CPU] > 0 and r.THROUGHPUT in metrics:
        metrics[r.PER_CPU_SECOND] = metrics[r.THROUGHPUT] / metrics[r.SERVER_CPU]
    busy = (system_after.busy - system_before.busy) / wall
    metrics[r.OTHER_CPU] = max(
        0.0, busy - metrics[r.SERVER_CPU] - metrics.get(r.GENERATOR_CPU, 0.0)
    )
    metrics[r.STEAL_CPU] = (system_after.steal - system_before.steal) / wall
    return metrics


def warm_up(url: str, load: Load, settings: BenchSettings, *, prefix: str) -> None:
    """One unmeasured wrk run, so the measured ones see a server past its first requests."""
    if settings.warmup_s > 0:
        run_load(url, load, settings.warmup_s, settings, new_run_id(prefix + "w"))


def saturated_run(
    url: str, load: Load, servers: Sequence[Server], settings: BenchSettings, *, prefix: str
) -> dict[str, float]:
    """One measured wrk run at saturation."""

    def action() -> dict[str, float]:
        run = run_load(url, load, settings.duration_s, settings, new_run_id(prefix))
        return wrk_metrics(run, load)

    return measured_run(servers, action)


def describe_run(metrics: dict[str, float]) -> str:
    return (
        f"{metrics[r.THROUGHPUT]:,.0f}/s"
        f"  p99 {metrics.get(r.P99_MS, float('nan')):.1f} ms"
        f"  errors {metrics[r.ERRORS]:.0f}"
        f"  wrk cpu {metrics[r.GENERATOR_CPU]:.0%}  server cpu {metrics[r.SERVER_CPU]:.0%}"
        f"  other cpu {metrics[r.OTHER_CPU]:.0%}"
    )


def saturate(
    url: str,
    load: Load,
    servers: Sequence[Server],
    settings: BenchSettings,
    *,
    prefix: str,
    log: Callable[[str], None],
) -> list[dict[str, float]]:
    """Warm-up, then `settings.runs` runs of wrk at saturation; one metrics dict per run."""
    warm_up(url, load, settings, prefix=prefix)
    runs = []
    for index in range(settings.runs):
        metrics = saturated_run(url, load, servers, settings, prefix=prefix)
        log(f"    run {index + 1}: {describe_run(metrics)}")
        runs.append(metrics)
    return runs
