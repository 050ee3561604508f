"""Server processes for the bench: real `python -m ...` processes on free 127.0.0.1
ports (devstack.ServiceProcess), each with a temporary data dir,
optionally pinned to CPUs, with their CPU time readable from /proc."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from devstack import ServiceProcess

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def pin_process(pid: int, cpus: set[int]) -> None:
    """Pin every thread of `pid` (threads it starts later inherit the mask)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(task), cpus)
        except ProcessLookupError:  # the thread ended meanwhile
            continue


def prioritize(pid: int, niceness: int) -> bool:
    """Set every thread of `pid` to `niceness` (Linux keeps it per thread; new threads
    inherit it). False when not permitted (raising priority needs root/CAP_SYS_NICE)."""
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                os.setpriority(os.PRIO_PROCESS, int(task), niceness)
            except ProcessLookupError:
                continue
    except PermissionError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process, all its threads included."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        # The command name (field 2) may hold spaces; fields are counted after its ')'.
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class SystemCpu:
    """Machine-wide CPU seconds from /proc/stat: busy (user, nice, system, irq, softirq)
    and steal (taken by the hypervisor)."""

    busy: float
    steal: float

    @classmethod
    def read(cls) -> SystemCpu:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
        return cls((user + nice + system + irq + softirq) / _CLOCK_TICKS, steal / _CLOCK_TICKS)


@dataclass
class Server:
    """A started service: its URL, process and CPU placement."""

    name: str
    process: ServiceProcess
    cpus: set[int] | None

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def pid(self) -> int:
        assert self.process.process is not None
        return self.process.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)


class ServerGroup:
    """Servers started for one configuration, stopped together (in reverse order)."""

    def __init__(self, work_dir: Path, niceness: int | None = None) -> None:
        self.work_dir = work_dir
        self.niceness = niceness
        self.servers: list[Server] = []

    def start(
        self,
        name: str,
        module: str,
        *,
        env: Mapping[str, str] | None = None,
        cpus: set[int] | None = None,
        ready_path: str = "/healthz",
        timeout: float = 60.0,
    ) -> Server:
        """Start `python -m module` with DATA_DIR=<work_dir>/<name> and wait until ready."""
        data_dir = self.work_dir / name
        data_dir.mkdir(parents=True, exist_ok=True)
        process = ServiceProcess(
            module,
            env={"DATA_DIR": str(data_dir), **(env or {})},
            log_dir=self.work_dir,
            name=name,
            ready_path=ready_path,
        )
        process.start(wait=False)
        server = Server(name, process, cpus)
        self.servers.append(server)
        self._place(server)
        process.wait_ready(timeout)
        self._place(server)  # threads started while it came up
        return server

    def _place(self, server: Server) -> None:
        if server.cpus:
            pin_process(server.pid, server.cpus)
        if self.niceness is not None:
            prioritize(server.pid, self.niceness)

    def stop_all(self) -> None:
        for server in reversed(self.servers):
            try:
                server.process.stop()
            except Exception:  # a server that will not stop must not stop the bench
                server.process.kill()
        self.servers.clear()


@contextmanager
def server_group(
    root: Path, name: str, *, keep: bool = False, niceness: int | None = None
) -> Iterator[ServerGroup]:
    """A ServerGroup in a fresh temporary directory, removed afterwards unless `keep`."""
    work_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    group = ServerGroup(work_dir, niceness)
    try:
        yield group
    finally:
        group.stop_all()
        if not keep:
            shutil.rmtree(work_dir, ignore_errors=True)
