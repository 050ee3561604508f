"""The results as Markdown: the table, the ratios, the targets, the machine.

Everything here works from plain data (a BenchReport), so a saved run can be
rendered again (`python -m bench --report-only`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import results as r
from bench.results import ConfigResult
from bench.stats import Spread, ratio

# Which baseline a configuration of ours is compared with for "the framework's limit":
# a batch request must be compared with the same batch bodies read by the ceiling app.
CEILING_FOR = {"audit-batch": "ceiling-batch"}
BASELINES = ("ceiling", "flask", "sdk")
# Fixed-rate latency runs: their throughput is the offered rate, not a capacity.
NOT_A_CAPACITY = (
    "e2e-latency",
    "e2e-latency-cheap",
    "e2e-latency-cheap-half",
    "e2e-latency-cheap-relay16",
)
BUSY_MACHINE = 0.25  # other processes' CPU share above which a row is flagged
BUSY_GENERATOR = 0.8  # wrk CPU share above which the generator may be the limit


@dataclass
class BenchReport:
    machine: dict[str, Any]
    settings: dict[str, Any]
    configs: list[ConfigResult]
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    def get(self, name: str) -> ConfigResult | None:
        return next((c for c in self.configs if c.name == name), None)

    def throughput(self, name: str) -> float | None:
        config = self.get(name)
        return config.median(r.THROUGHPUT) if config else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=list)

    @classmethod
    def from_json(cls, text: str) -> BenchReport:
        data = json.loads(text)
        data["configs"] = [
            ConfigResult(**{**c, "runs": c["runs"], "notes": tuple(c["notes"])})
            for c in data["configs"]
        ]
        return cls(**data)


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _spread(spread: Spread | None, digits: int = 0) -> str:
    if spread is None:
        return "-"
    if spread.low == spread.high:
        return _number(spread.median, digits)
    return (
        f"{_number(spread.median, digits)} "
        f"({_number(spread.low, digits)}-{_number(spread.high, digits)})"
    )


def _ms(config: ConfigResult, metric: str) -> str:
    value = config.median(metric)
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x" if value >= 0.1 else f"{value:.2g}x"


def results_table(report: BenchReport) -> list[str]:
    lines = [
        "| configuration | kind | throughput, median (min-max) | unit | p50 ms | p99 ms "
        "| errors | server CPU | per CPU-second | wrk CPU | other CPU |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for config in report.configs:
        errors = config.median(r.ERRORS)
        lines.append(
            f"| {config.label} | {config.kind} | {_spread(config.spread(r.THROUGHPUT))} "
            f"| {config.unit} | {_ms(config, r.P50_MS)} | {_ms(config, r.P99_MS)} "
            f"| {_number(errors)} | {_percent(config.median(r.SERVER_CPU))} "
            f"| {_number(config.median(r.PER_CPU_SECOND))} "
            f"| {_percent(config.median(r.GENERATOR_CPU))} "
            f"| {_percent(config.median(r.OTHER_CPU))} |"
        )
    return lines


def ratio_rows(
    report: BenchReport, metric: str = r.THROUGHPUT
) -> list[tuple[ConfigResult, dict[str, float | None]]]:
    """Each configuration of ours with its `metric` over each baseline's (medians)."""
    rows = []
    for config in report.configs:
        if config.kind != "ours" or config.name in NOT_A_CAPACITY:
            continue
        ours = config.median(metric)
        ratios: dict[str, float | None] = {}
        for baseline in BASELINES:
            name = CEILING_FOR.get(config.name, baseline) if baseline == "ceiling" else baseline
            base_config = report.get(name)
            base = base_config.median(metric) if base_config else None
            ratios[baseline] = None if ours is None or base is None else ratio(ours, base)
        rows.append((config, ratios))
    return rows


def ratio_table(report: BenchReport) -> list[str]:
    lines = [
        "| ours | throughput | / ceiling | / Flask tutorial | / SDK parse "
        "| per CPU-second: / ceiling | / Flask | / SDK |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    per_cpu = {c.name: ratios for c, ratios in ratio_rows(report, r.PER_CPU_SECOND)}
    for config, ratios in ratio_rows(report):
        cpu = per_cpu.get(config.name, {})
        lines.append(
            f"| {config.label} | {_number(config.median(r.THROUGHPUT))} {config.unit} "
            f"| {_ratio(ratios['ceiling'])} | {_ratio(ratios['flask'])} "
            f"| {_ratio(ratios['sdk'])} | {_ratio(cpu.get('ceiling'))} "
            f"| {_ratio(cpu.get('flask'))} | {_ratio(cpu.get('sdk'))} |"
        )
    return lines


@dataclass(frozen=True)
class Target:
    text: str
    measured: Callable[[BenchReport], float | None]
    goal: float
    at_most: bool = False
    describe: Callable[[float], str] = lambda v: f"{v:,.2f}"
    not_applicable: Callable[[BenchReport], str | None] = lambda _: None
    """A reason the target cannot be tested as stated in this run, or None."""
    per_cpu: Callable[[BenchReport], float | None] = lambda _: None
    """The same ratio per server CPU-second, for targets that are ratios."""

    def check(self, report: BenchReport) -> tuple[str, str]:
        reason = self.not_applicable(report)
        if reason is not None:
            return reason, "**missed**"
        value = self.measured(report)
        if value is None:
            return "not measured", "-"
        met = self._met(value)
        verdict = "met" if met else "**missed**"
        shown = self.describe(value)
        per_cpu = self.per_cpu(report)
        if per_cpu is not None:
            shown += f" (per CPU-second {self.describe(per_cpu)})"
            if self._met(per_cpu) != met:
                verdict += " in throughput, not per CPU-second: the machine was busy"
        return shown, verdict

    def _met(self, value: float) -> bool:
        return value <= self.goal if self.at_most else value >= self.goal


def _over(
    ours: str, base: str, metric: str = r.THROUGHPUT
) -> Callable[[BenchReport], float | None]:
    def measured(report: BenchReport) -> float | None:
        a, b = report.get(ours), report.get(base)
        if a is None or b is None:
            return None
        x, y = a.median(metric), b.median(metric)
        return None if x is None or y is None else ratio(x, y)

    return measured


def _per_cpu(ours: str, base: str) -> Callable[[BenchReport], float | None]:
    return _over(ours, base, r.PER_CPU_SECOND)


def _metric(name: str, metric: str) -> Callable[[BenchReport], float | None]:
    def measured(report: BenchReport) -> float | None:
        config = report.get(name)
        return config.median(metric) if config else None

    return measured


def _rate_not_offered(name: str, rate: float) -> Callable[[BenchReport], str | None]:
    """The latency target is stated at `rate`; a stack that cannot take it misses it."""

    def reason(report: BenchReport) -> str | None:
        config = report.get(name)
        offered = config.median(r.SENT_PER_S) if config else None
        if offered is None or offered >= 0.95 * rate:
            return None
        p99 = config.median(r.P99_MS) if config else None
        at = f"; p99 {p99:,.1f} ms at {offered:,.1f} users/s" if p99 is not None else ""
        return f"cannot take {rate:,.0f} users/s{at}"

    return reason


TARGETS: Sequence[Target] = (
    Target(
        "audit binary ingestion >= 0.6x the ceiling",
        _over("audit-binary", "ceiling"),
        0.6,
        describe=lambda v: f"{v:.2f}x",
        per_cpu=_per_cpu("audit-binary", "ceiling"),
    ),
    Target(
        "audit binary ingestion >= 8x the Flask receiver",
        _over("audit-binary", "flask"),
        8.0,
        describe=lambda v: f"{v:.1f}x",
        per_cpu=_per_cpu("audit-binary", "flask"),
    ),
    Target(
        "audit batch ingestion >= 30,000 events/s",
        _metric("audit-batch", r.THROUGHPUT),
        30_000,
        describe=lambda v: f"{v:,.0f} events/s",
    ),
    Target(
        "end to end >= 1,000 users/s (production argon2id)",
        _metric("e2e-saturation", r.THROUGHPUT),
        1_000,
        describe=lambda v: f"{v:,.0f} users/s",
    ),
    Target(
        "end to end >= 1,000 users/s (cheap argon2id, labelled)",
        _metric("e2e-saturation-cheap", r.THROUGHPUT),
        1_000,
        describe=lambda v: f"{v:,.0f} users/s",
    ),
    Target(
        "end to end >= 1,000 users/s (cheap argon2id + RELAY_CONCURRENCY=16, labelled)",
        _metric("e2e-saturation-cheap-relay16", r.THROUGHPUT),
        1_000,
        describe=lambda v: f"{v:,.0f} users/s",
    ),
    Target(
        "p99 201 -> queryable <= 100 ms at 300 users/s (production argon2id)",
        _metric("e2e-latency", r.P99_MS),
        100,
        at_most=True,
        describe=lambda v: f"{v:,.1f} ms",
        not_applicable=_rate_not_offered("e2e-latency", 300),
    ),
    Target(
        "p99 201 -> queryable <= 100 ms at 300 users/s (cheap argon2id, labelled)",
        _metric("e2e-latency-cheap", r.P99_MS),
        100,
        at_most=True,
        describe=lambda v: f"{v:,.1f} ms",
        not_applicable=_rate_not_offered("e2e-latency-cheap", 300),
    ),
    Target(
        "p99 201 -> queryable <= 100 ms at 300 users/s (cheap + RELAY_CONCURRENCY=16)",
        _metric("e2e-latency-cheap-relay16", r.P99_MS),
        100,
        at_most=True,
        describe=lambda v: f"{v:,.1f} ms",
        not_applicable=_rate_not_offered("e2e-latency-cheap-relay16", 300),
    ),
)


def target_table(report: BenchReport) -> list[str]:
    lines = ["| target | measured | |", "|---|---:|---|"]
    for target in TARGETS:
        value, verdict = target.check(report)
        lines.append(f"| {target.text} | {value} | {verdict} |")
    return lines


def generator_lines(report: BenchReport) -> list[str]:
    ceiling = report.get("ceiling")
    if ceiling is None or ceiling.median(r.GENERATOR_CPU) is None:
        return []
    lines = [
        f"Against the minimal endpoint wrk completed "
        f"{_number(ceiling.median(r.REQUESTS_PER_S))} requests/s while using "
        f"{_percent(ceiling.median(r.GENERATOR_CPU))} of its own core; at its measured cost "
        f"per request it could issue about {_number(ceiling.median(r.GENERATOR_CAPACITY))} "
        "requests/s on that core, so it is not what limits the rows below the ceiling."
    ]
    busiest = max(report.configs, key=lambda c: c.median(r.GENERATOR_CPU) or 0.0)
    lines.append(
        f"Busiest generator in this run: {busiest.label} at "
        f"{_percent(busiest.median(r.GENERATOR_CPU))} of a core."
    )
    return lines


def machine_lines(report: BenchReport) -> list[str]:
    m = report.machine
    s = report.settings
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    return [
        f"- Date: {m['date']}; wall time of this `make bench`: {report.wall_s / 60:.1f} min",
        f"- Machine: {m['cores']} cores ({m['cpu_model']}), {m['memory_gib']} GiB RAM, "
        f"Linux {m['kernel']}; load average before the run: {m['load_before']}",
        f"- {m['python']}; {m['wrk']}; {packages}",
        f"- Placement: {s['placement']}",
        f"- Each configuration: {s['warmup_s']:g} s warm-up, then {s['runs']} runs of "
        f"{s['duration_s']:g} s; medians, (min-max) over the runs",
        f"- Order: {s.get('order', 'one configuration after another')}",
    ]


def warnings(report: BenchReport) -> list[str]:
    """Conditions that make rows less trustworthy, found in the measurements themselves."""
    found = []
    for config in report.configs:
        other = config.spread(r.OTHER_CPU)
        if other is not None and other.high > BUSY_MACHINE:
            found.append(
                f"{config.label}: other processes used up to {other.high:.0%} of a core during "
                "its runs; the machine was not quiet, so this row is pessimistic"
            )
        generator = config.spread(r.GENERATOR_CPU)
        if generator is not None and generator.high > BUSY_GENERATOR:
            found.append(
                f"{config.label}: wrk used up to {generator.high:.0%} of its core; the "
                "generator may be what limits this row"
            )
        throughput = config.spread(r.THROUGHPUT)
        if throughput is not None and len(config.runs) > 1 and throughput.relative_range > 0.25:
            found.append(
                f"{config.label}: runs differ by {throughput.relative_range:.0%} of the median"
            )
    return found


def render_markdown(report: BenchReport) -> str:
    parts = [
        "# `make bench` results",
        "",
        "Generated by `make bench` (bench/__main__.py); method and analysis in "
        "[docs/performance.md](../docs/performance.md).",
        "",
        *machine_lines(report),
        "",
        "## Results",
        "",
        *results_table(report),
        "",
        "Latencies are wrk's at saturation (fixed connections, closed loop) except the "
        "201 -> queryable rows, which come from an open-loop driver at a fixed rate. "
        "CPU columns: CPU time / wall time (100% = one core); per CPU-second = throughput / "
        "server CPU, which stays comparable when the servers did not get a full core; "
        "other CPU = what the rest "
        "of the machine used meanwhile (kernel threads, anything not started by the bench).",
        "",
        "## Ratios (ours / baseline, events per second, medians)",
        "",
        *ratio_table(report),
        "",
        "The first three ratios compare throughput; the last three compare throughput per "
        "CPU-second of the server, which is what a ratio means when every server had its "
        "core to itself (see the other-CPU column) and stays meaningful when it did not.",
        "",
        "## Targets",
        "",
        *target_table(report),
        "",
        "## Load generator",
        "",
        *generator_lines(report),
    ]
    for config in report.configs:
        if config.notes or config.setup:
            parts += ["", f"**{config.label}** ({config.setup})" if config.setup else ""]
            parts += [f"- {note}" for note in config.notes]
    if report.skipped:
        parts += ["", "## Not measured", ""]
        parts += [f"- {name}: {reason}" for name, reason in report.skipped.items()]
    notes = [*report.notes, *warnings(report)]
    if notes:
        parts += ["", "## Warnings and notes", ""]
        parts += [f"- {note}" for note in notes]
    return "\n".join(parts).rstrip() + "\n"


def render_terminal(report: BenchReport) -> str:
    """The same tables, for the terminal."""
    return "\n".join(
        [
            "",
            *results_table(report),
            "",
            *ratio_table(report),
            "",
            *target_table(report),
            "",
            *generator_lines(report),
            "",
            *(f"warning: {w}" for w in warnings(report)),
        ]
    )


def write(report: BenchReport, markdown: Path, raw: Path) -> None:
    markdown.write_text(render_markdown(report))
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(report.to_json())
