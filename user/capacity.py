"""How many argon2id hashes this process can run at once, from the limits it runs under.

`os.cpu_count()` is the node's CPU count, not the pod's: a pod limited to 1 CPU and
512 MiB on an 8-core node would run 8 hashes of 64 MiB at once and be OOM-killed. The
container's own limits are in its cgroup v2 files `cpu.max` ("<quota> <period>" or
"max <period>") and `memory.max` (bytes or "max"), see the Linux kernel's
Documentation/admin-guide/cgroup-v2.rst; a limit set on a parent cgroup applies too.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

N = TypeVar("N", int, float)
T = TypeVar("T")

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")

#: What the service needs besides its hashes: measured ~90 MiB resident when idle
#: (docs/user.md), plus room for requests and database buffers.
BASE_MEMORY_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CgroupLimits:
    """The tightest CPU and memory limits of this process's cgroup and its parents
    (None: no limit found)."""

    cpus: float | None = None
    memory_bytes: int | None = None


def _cpus(text: str) -> float | None:
    quota, _, period = text.strip().partition(" ")
    if quota == "max":
        return None
    try:
        value = int(quota) / int(period or "100000")
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _memory(text: str) -> int | None:
    value = text.strip()
    if value == "max" or not value.isdigit():
        return None
    return int(value)


def _tightest(current: N | None, found: N | None) -> N | None:
    if found is None:
        return current
    return found if current is None else min(current, found)


def read_cgroup_limits(
    root: Path = CGROUP_ROOT, self_cgroup: Path = PROC_SELF_CGROUP
) -> CgroupLimits:
    """The limits in cgroup v2 files for this process; none found on cgroup v1 or
    outside Linux."""
    try:
        lines = self_cgroup.read_text().splitlines()
    except OSError:
        return CgroupLimits()
    # cgroup v2 has a single line "0::<path>" (relative to the mounted root).
    path = next((line[3:] for line in lines if line.startswith("0::")), None)
    if path is None:
        return CgroupLimits()
    cpus: float | None = None
    memory: int | None = None
    directory = root / path.strip().lstrip("/")
    while True:
        if directory.is_relative_to(root):
            cpus = _tightest(cpus, _read(directory / "cpu.max", _cpus))
            memory = _tightest(memory, _read(directory / "memory.max", _memory))
        if directory == root or not directory.is_relative_to(root):
            break
        directory = directory.parent
    return CgroupLimits(cpus, memory)


def _read(path: Path, parse: Callable[[str], T | None]) -> T | None:
    try:
        return parse(path.read_text())
    except OSError:
        return None


def available_cpus() -> int:
    """CPUs this process may be scheduled on (its affinity), else the CPU count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_hash_concurrency(limits: CgroupLimits, memory_kib: int, cpus_available: int) -> int:
    """Hashes at once: one per CPU of the CPU limit (rounded up), and no more than fit
    in the memory limit beside the service itself; at least one."""
    cpus = cpus_available
    if limits.cpus is not None:
        cpus = min(cpus, math.ceil(limits.cpus))
    slots = cpus
    if limits.memory_bytes is not None:
        spare = limits.memory_bytes - BASE_MEMORY_BYTES
        slots = min(slots, spare // (memory_kib * 1024))
    return max(1, slots)
