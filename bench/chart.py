"""bench/results.png: throughput and latency per configuration (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from bench import results as r
from bench.report import BenchReport

COLORS = {"baseline": "#9e9e9e", "ours": "#1f77b4"}


def draw(report: BenchReport, path: Path) -> None:
    configs = [c for c in report.configs if c.median(r.THROUGHPUT) is not None]
    if not configs:
        return
    labels = [c.label for c in configs]
    height = max(4.0, 0.45 * len(configs) + 1.5)
    # A bare Figure renders with Agg and needs no display or global pyplot state.
    figure = Figure(figsize=(15, height))
    left, right = figure.subplots(1, 2, sharey=True, width_ratios=[1.3, 1])
    positions = list(range(len(configs)))

    medians, lows, highs = [], [], []
    for config in configs:
        spread = config.spread(r.THROUGHPUT)
        assert spread is not None
        medians.append(spread.median)
        lows.append(spread.median - spread.low)
        highs.append(spread.high - spread.median)
    left.barh(
        positions,
        medians,
        xerr=[lows, highs],
        color=[COLORS[c.kind] for c in configs],
        capsize=3,
    )
    left.set_xscale("log")
    left.set_xlim(right=max(m + h for m, h in zip(medians, highs, strict=True)) * 6)
    left.set_xlabel("throughput, events/s (users/s for end to end), log scale")
    left.set_yticks(positions, labels)
    left.invert_yaxis()
    for y, (value, above) in enumerate(zip(medians, highs, strict=True)):
        left.annotate(
            f"{value:,.0f}",
            (value + above, y),
            va="center",
            fontsize=8,
            xytext=(4, 0),
            textcoords="offset points",
        )
    left.set_title("Throughput\n(median of runs, min-max bars)")

    p50 = [c.median(r.P50_MS) or 0.0 for c in configs]
    p99 = [c.median(r.P99_MS) or 0.0 for c in configs]
    right.barh([y - 0.2 for y in positions], p50, height=0.4, label="p50", color="#7fb3d5")
    right.barh([y + 0.2 for y in positions], p99, height=0.4, label="p99", color="#1f4e79")
    right.set_xscale("log")
    right.set_xlabel("latency, ms, log scale")
    right.set_title("Latency p50 / p99\n(wrk at saturation; 201 rows: open loop)")
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=2, frameon=False)
    for axis in (left, right):
        axis.grid(axis="x", which="both", alpha=0.3)
    figure.suptitle(
        f"make bench - {report.machine['cores']} cores, {report.machine['python']}, "
        f"{report.machine['date']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
