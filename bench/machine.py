"""Where the numbers come from: the machine, the software, the placement."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("uvicorn", "starlette", "flask", "werkzeug", "cloudevents", "sqlalchemy", "aiosqlite")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _wrk_version() -> str:
    try:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return (out.stdout or out.stderr).splitlines()[0].split(" Copyright")[0].strip()


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


@dataclass(frozen=True)
class MachineInfo:
    date: str
    cpu_model: str
    cores: int
    memory_gib: float
    python: str
    kernel: str
    wrk: str
    packages: dict[str, str]
    load_before: str

    @classmethod
    def collect(cls) -> MachineInfo:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        with open("/proc/loadavg") as loadavg:
            load = " ".join(loadavg.read().split()[:3])
        return cls(
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            cpu_model=_cpu_model(),
            cores=os.cpu_count() or 1,
            memory_gib=round(pages / 2**30, 1),
            python=f"{platform.python_implementation()} {sys.version.split()[0]}",
            kernel=platform.release(),
            wrk=_wrk_version(),
            packages={name: _package(name) for name in PACKAGES},
            load_before=load,
        )

    def as_dict(self) -> dict[str, object]:
        return asdict(self)
