"""`make bench` (`python -m bench`): how fast is it, and compared to what?

Starts every server itself (free 127.0.0.1 ports, temporary data dirs), saturates
each configuration with wrk, measures the end-to-end pipeline, and writes
bench/results.md, bench/results.png and bench/out/results.json.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench import chart, report
from bench.machine import MachineInfo
from bench.report import BenchReport
from bench.results import ConfigResult
from bench.runner import BenchSettings
from bench.scenarios import Context, all_scenarios, run_interleaved

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
AUTOGROUP = Path("/proc/self/autogroup")


def _log(message: str) -> None:
    print(message, flush=True)


def _placement(pin: bool) -> tuple[set[int] | None, set[int] | None, str]:
    """(generator CPUs, server CPUs, description): wrk on the last CPU, servers on the rest."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None, f"no pinning; load generator and servers share {len(cpus)} CPU(s)"
    generator, servers = {cpus[-1]}, set(cpus[:-1])
    return (
        generator,
        servers,
        f"wrk pinned to CPU {cpus[-1]} (1 thread); single-process servers pinned to CPU "
        f"{','.join(map(str, sorted(servers)))}; the broker's subscriber shares the generator's "
        "CPU; the end-to-end stack (user, broker, audit) and its latency driver are not pinned",
    )


def _measure(
    bench_report: BenchReport,
    ctx: Context,
    name: str,
    measure: Callable[[], list[ConfigResult]],
) -> None:
    """Run one measurement; a failure is recorded and the bench goes on."""
    try:
        measured = measure()
    except Exception as exc:
        traceback.print_exc()
        bench_report.skipped[name] = f"failed: {exc}".splitlines()[0]
        return
    bench_report.configs.extend(measured)
    ctx.done.extend(measured)


def _prioritize(niceness: int) -> int | None:
    """Run this process and its children at `niceness`; None if not set or not allowed.

    With scheduler autogroups (the default on most distributions) a thread's nice value
    only orders it against its own session, so the session's autogroup gets the value too.
    """
    if niceness == 0:
        return None
    try:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except PermissionError:
        return None
    with contextlib.suppress(OSError):
        AUTOGROUP.write_text(str(niceness))
    return niceness


def _restore_priority() -> None:
    """The autogroup outlives the bench (it is the session's): give its priority back."""
    with contextlib.suppress(OSError):
        AUTOGROUP.write_text("0")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="measured runs per configuration")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds")
    parser.add_argument("--only", default="", help="comma-separated configuration names")
    parser.add_argument("--list", action="store_true", help="list configurations and exit")
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to CPUs")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run the bench's session (itself and everything it starts) at this nice "
        "value, e.g. -10 on a machine others share (root only; default 0: leave alone)",
    )
    parser.add_argument("--keep", action="store_true", help="keep temp dirs (logs, databases)")
    parser.add_argument(
        "--sequential",
        action="store_true",
        help="measure one-server configurations one after another instead of interleaved",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=540.0,
        help="seconds after which configurations not yet started are skipped",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="re-render results.md/.png from bench/out/results.json",
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where results.md/.png go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(_arguments(argv))
    finally:
        _restore_priority()


def _main(args: argparse.Namespace) -> int:
    raw = OUT_DIR / "results.json"
    markdown, png = args.out / "results.md", args.out / "results.png"
    scenarios = all_scenarios()
    if args.list:
        for scenario in scenarios:
            print(f"{scenario.name:24} {scenario.label}")
        return 0
    if args.report_only:
        bench_report = BenchReport.from_json(raw.read_text())
        report.write(bench_report, markdown, raw)
        chart.draw(bench_report, png)
        print(report.render_terminal(bench_report))
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    unknown = only - {s.name for s in scenarios}
    if unknown:
        print(f"unknown configuration(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2

    generator_cpus, server_cpus, placement = _placement(not args.no_pin)
    niceness = _prioritize(args.nice)
    if niceness is not None:
        placement += (
            f"; the bench and every process it starts run at nice {niceness}, so other work "
            "on a shared machine disturbs the measurements less"
        )
    settings = BenchSettings(
        runs=args.runs,
        duration_s=args.duration,
        warmup_s=args.warmup,
        generator_cpus=generator_cpus,
        server_cpus=server_cpus,
        niceness=niceness,
    )
    machine = MachineInfo.collect()
    _log(
        f"make bench: {machine.cores} cores, {machine.python}, {machine.wrk}; "
        f"load average {machine.load_before}"
    )
    _log(f"placement: {placement}")
    bench_report = BenchReport(
        machine=machine.as_dict(),
        settings={
            "runs": args.runs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "placement": placement,
            "order": (
                "one configuration after another"
                if args.sequential
                else "one-server configurations interleaved run by run (run 1 of each, "
                "then run 2 of each, ...), then broker and end-to-end one after another"
            ),
        },
        configs=[],
    )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-", dir=OUT_DIR) as work:
        ctx = Context(settings, Path(work), _log, keep_dirs=args.keep)
        selected = []
        for scenario in scenarios:
            if only and scenario.name not in only:
                continue
            missing = scenario.missing()
            if missing:
                bench_report.skipped[scenario.name] = f"not available yet ({', '.join(missing)})"
                _log(f"- {scenario.name}: skipped, {', '.join(missing)} not found")
                continue
            selected.append(scenario)
        singles = [s.single for s in selected if s.single is not None and not args.sequential]
        if singles:
            _log(f"- interleaved: {', '.join(single.name for single in singles)}")
            _measure(bench_report, ctx, "interleaved", lambda: run_interleaved(singles, ctx))
        for scenario in selected:
            if scenario.single is not None and not args.sequential:
                continue
            if time.monotonic() - started > args.budget:
                bench_report.skipped[scenario.name] = f"not started: {args.budget:g} s budget used"
                _log(f"- {scenario.name}: skipped, time budget used")
                continue
            _log(f"- {scenario.name}: {scenario.label}")
            _measure(bench_report, ctx, scenario.name, partial(scenario.run, ctx))
        if args.keep:
            kept = OUT_DIR / f"kept-{int(time.time())}"
            shutil.copytree(work, kept)
            _log(f"temp dirs kept in {kept}")
    bench_report.wall_s = time.monotonic() - started
    markdown.parent.mkdir(parents=True, exist_ok=True)
    report.write(bench_report, markdown, raw)
    chart.draw(bench_report, png)
    print(report.render_terminal(bench_report))
    _log(f"wrote {markdown}, {png} and {raw} in {bench_report.wall_s / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
