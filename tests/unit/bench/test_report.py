"""Ratios and targets in bench/results.md, computed from plain run records."""

from __future__ import annotations

import pytest

from bench import results as r
from bench.report import BenchReport, ratio_rows, render_markdown, target_table
from bench.results import ConfigResult


def config(name: str, kind: r.Kind, *throughputs: float, **metrics: float) -> ConfigResult:
    runs = [{r.THROUGHPUT: value, **metrics} for value in throughputs]
    return ConfigResult(name, name, kind, "events/s", runs)


def report(*configs: ConfigResult) -> BenchReport:
    machine = {
        "date": "2026-11-27 12:00 UTC",
        "cpu_model": "test",
        "cores": 2,
        "memory_gib": 1.0,
        "python": "CPython 3.11",
        "kernel": "6",
        "wrk": "wrk 4.1.0",
        "packages": {},
        "load_before": "0 0 0",
    }
    settings = {"runs": 3, "duration_s": 5.0, "warmup_s": 2.0, "placement": "test"}
    return BenchReport(machine, settings, list(configs))


def test_ratios_use_medians_and_the_batch_ceiling_for_batches() -> None:
    bench = report(
        config("ceiling", "baseline", 20_000, 10_000, 30_000),
        config("ceiling-batch", "baseline", 1_000_000),
        config("flask", "baseline", 1_000, 2_000, 1_500),
        config("sdk", "baseline", 8_000),
        config("audit-binary", "ours", 12_000, 16_000, 14_000),
        config("audit-batch", "ours", 50_000),
    )
    rows = {c.name: ratios for c, ratios in ratio_rows(bench)}
    assert rows["audit-binary"] == {
        "ceiling": pytest.approx(14_000 / 20_000),
        "flask": pytest.approx(14_000 / 1_500),
        "sdk": pytest.approx(14_000 / 8_000),
    }
    assert rows["audit-batch"]["ceiling"] == pytest.approx(50_000 / 1_000_000)


def test_fixed_rate_latency_runs_get_no_capacity_ratio() -> None:
    bench = report(config("ceiling", "baseline", 1.0), config("e2e-latency", "ours", 300.0))
    assert ratio_rows(bench) == []


def test_targets_met_and_missed() -> None:
    bench = report(
        config("ceiling", "baseline", 10_000),
        config("flask", "baseline", 1_000),
        config("audit-binary", "ours", 7_000),
        config("audit-batch", "ours", 20_000),
    )
    table = "\n".join(target_table(bench))
    assert "| audit binary ingestion >= 0.6x the ceiling | 0.70x | met |" in table
    assert "| audit binary ingestion >= 8x the Flask receiver | 7.0x | **missed** |" in table
    assert "| audit batch ingestion >= 30,000 events/s | 20,000 events/s | **missed** |" in table
    assert "end to end >= 1,000 users/s (production argon2id) | not measured | - |" in table


def test_latency_target_at_a_rate_the_stack_cannot_take_is_missed() -> None:
    slow = config("e2e-latency", "ours", 7.0, **{r.SENT_PER_S: 7.5, r.P99_MS: 40.0})
    table = "\n".join(target_table(report(slow)))
    assert "cannot take 300 users/s; p99 40.0 ms at 7.5 users/s | **missed** |" in table


def test_report_survives_a_json_round_trip() -> None:
    bench = report(config("ceiling", "baseline", 10_000, **{r.P99_MS: 3.0}))
    again = BenchReport.from_json(bench.to_json())
    assert render_markdown(again) == render_markdown(bench)


def test_a_ratio_met_only_because_the_baseline_got_less_cpu_is_flagged() -> None:
    # On a shared core a single-threaded baseline can get less CPU than a server with
    # a database thread; per CPU-second the comparison is fair again.
    bench = report(
        config("ceiling", "baseline", 10_000, **{r.PER_CPU_SECOND: 40_000.0}),
        config("flask", "baseline", 1_000, **{r.PER_CPU_SECOND: 2_000.0}),
        config("audit-binary", "ours", 7_000, **{r.PER_CPU_SECOND: 9_000.0}),
    )
    table = "\n".join(target_table(bench))
    assert (
        "| audit binary ingestion >= 0.6x the ceiling | 0.70x (per CPU-second 0.23x) "
        "| met in throughput, not per CPU-second: the machine was busy |"
    ) in table
    assert "| 7.0x (per CPU-second 4.5x) | **missed** |" in table
