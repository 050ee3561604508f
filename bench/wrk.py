"""Run wrk with one of bench/lua/*.lua and read its result.

The scripts print one `BENCH-RESULT {json}` line from wrk's `done()` hook; when it is
missing (a script without the hook) the standard text report is parsed instead.
wrk runs pinned to its own CPUs, and its own CPU time is measured (wait4 rusage), so
every result says how close the generator itself came to being the bottleneck.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULT_PREFIX = "BENCH-RESULT "

_UNITS_TO_US = {"us": 1.0, "ms": 1_000.0, "s": 1_000_000.0, "m": 60_000_000.0, "h": 3_600_000_000.0}
_DURATION = re.compile(r"^\s*([0-9.]+)(us|ms|s|m|h)\s*$")
_REQUESTS_IN = re.compile(r"^\s*(\d+) requests in ([0-9.]+(?:us|ms|s|m|h))")
_PERCENTILE_LINE = re.compile(r"^\s*([0-9.]+)%\s+([0-9.]+(?:us|ms|s|m|h))\s*$")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_LATENCY_LINE = re.compile(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)")


class WrkError(RuntimeError):
    """wrk failed, or printed something this module cannot read."""


def duration_us(text: str) -> float:
    """wrk's human durations ("1.85ms", "453.16us", "2.00s", "1.00m") in microseconds."""
    match = _DURATION.match(text)
    if match is None:
        raise WrkError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_TO_US[match.group(2)]


@dataclass(frozen=True, slots=True)
class WrkErrors:
    connect: int = 0
    read: int = 0
    write: int = 0
    status: int = 0
    timeout: int = 0

    @property
    def total(self) -> int:
        return self.connect + self.read + self.write + self.status + self.timeout


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run. Latencies in milliseconds; `percentiles_ms` keyed by 50, 90, 99, ..."""

    requests: int
    duration_s: float
    errors: WrkErrors
    latency_mean_ms: float
    latency_max_ms: float
    percentiles_ms: dict[float, float] = field(default_factory=dict)

    @property
    def ok_requests(self) -> int:
        """Completed requests answered 2xx/3xx (wrk counts non-2xx as `status` errors)."""
        return self.requests - self.errors.status

    @property
    def requests_per_s(self) -> float:
        """Completed requests per second (wrk's `Requests/sec`)."""
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ok_per_s(self) -> float:
        return self.ok_requests / self.duration_s if self.duration_s else 0.0


def parse_result_line(text: str) -> WrkResult | None:
    """The `BENCH-RESULT {...}` line printed by bench/lua/common.lua, if present."""
    for line in text.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line[len(RESULT_PREFIX) :])
            latency = data["latency_us"]
            return WrkResult(
                requests=int(data["requests"]),
                duration_s=data["duration_us"] / 1e6,
                errors=WrkErrors(**{k: int(v) for k, v in data["errors"].items()}),
                latency_mean_ms=latency["mean"] / 1000.0,
                latency_max_ms=latency["max"] / 1000.0,
                percentiles_ms={float(q): us / 1000.0 for q, us in latency["percentiles"].items()},
            )
    return None


def parse_text_report(text: str) -> WrkResult:
    """wrk's standard report (with `--latency` for the percentile table)."""
    requests: int | None = None
    duration = 0.0
    mean = maximum = 0.0
    percentiles: dict[float, float] = {}
    errors = WrkErrors()
    in_distribution = False
    for line in text.splitlines():
        if match := _REQUESTS_IN.match(line):
            requests = int(match.group(1))
            duration = duration_us(match.group(2)) / 1e6
        elif match := _LATENCY_LINE.match(line):
            mean = duration_us(match.group(1)) / 1000.0
            maximum = duration_us(match.group(3)) / 1000.0
        elif "Latency Distribution" in line:
            in_distribution = True
        elif in_distribution and (match := _PERCENTILE_LINE.match(line)):
            percentiles[float(match.group(1))] = duration_us(match.group(2)) / 1000.0
        else:
            in_distribution = False
            if match := _SOCKET_ERRORS.search(line):
                connect, read, write, timeout = (int(g) for g in match.groups())
                errors = WrkErrors(connect, read, write, errors.status, timeout)
            elif match := _NON_2XX.search(line):
                errors = WrkErrors(
                    errors.connect, errors.read, errors.write, int(match.group(1)), errors.timeout
                )
    if requests is None:
        raise WrkError("no 'N requests in T' line in wrk output:\n" + text[-2000:])
    return WrkResult(requests, duration, errors, mean, maximum, percentiles)


def parse_wrk_output(text: str) -> WrkResult:
    """The script's result line when there is one, else the standard report."""
    return parse_result_line(text) or parse_text_report(text)


@dataclass(frozen=True, slots=True)
class WrkRun:
    result: WrkResult
    started_at: float
    """Wall-clock time (time.time()) just before wrk was started."""
    wall_s: float
    cpu_s: float
    """wrk's own user + system CPU time for the run."""
    output: str

    @property
    def generator_cpu_share(self) -> float:
        """wrk's CPU time over its wall time: 1.0 = one core fully busy."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def generator_capacity_per_s(self) -> float:
        """Requests wrk could issue per second of one core, at its measured cost."""
        return self.result.requests / self.cpu_s if self.cpu_s else 0.0


def wrk_command(
    url: str,
    script: str,
    script_args: Sequence[str],
    *,
    duration_s: float,
    connections: int,
    threads: int = 1,
    timeout_s: float = 10.0,
) -> list[str]:
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={max(1, round(timeout_s))}s",
        "--latency",
        "-s",
        str(LUA_DIR / script),
        url,
        "--",
        *script_args,
    ]


def run_wrk(
    url: str,
    script: str,
    script_args: Sequence[str],
    *,
    duration_s: float,
    connections: int,
    threads: int = 1,
    cpus: set[int] | None = None,
    timeout_s: float = 10.0,
    niceness: int | None = None,
) -> WrkRun:
    """Run wrk to completion (bounded by `duration_s` plus a margin) and parse it."""
    command = wrk_command(
        url,
        script,
        script_args,
        duration_s=duration_s,
        connections=connections,
        threads=threads,
        timeout_s=timeout_s,
    )

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        if niceness is not None:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)

    started_at = time.time()
    begin = time.monotonic()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=pin
    )
    assert process.stdout is not None
    deadline = begin + duration_s + timeout_s + 30.0
    chunks: list[bytes] = []
    # wrk prints at the end only; reading to EOF then reaping with wait4 gives its rusage.
    while chunk := process.stdout.read(65536):
        chunks.append(chunk)
        if time.monotonic() > deadline:
            process.kill()
            break
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - begin
    output = b"".join(chunks).decode(errors="replace")
    if process.returncode != 0:
        raise WrkError(f"wrk exited with {process.returncode}: {' '.join(command)}\n{output}")
    return WrkRun(
        result=parse_wrk_output(output),
        started_at=started_at,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        output=output,
    )
