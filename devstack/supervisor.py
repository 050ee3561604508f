"""`python -m devstack` (`make run`): broker, audit and user on this machine.

Starts the three services as child processes with SQLite files under DATA_DIR
(default `.data`, kept between runs), wired by devstack.wiring (user's K_SINK at
the broker ingress the Broker manifest names, the `audit` and `user` Services
mapped for Trigger refs), on USER_PORT, AUDIT_PORT and BROKER_PORT (default 3000,
8080, 8081). It interleaves their output with a `[name]` prefix, prints the URLs once every
service answers /readyz, and stops all three on Ctrl-C or SIGTERM. If one exits
on its own, the others are stopped and its last lines are shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from devstack.wiring import BROKER_MANIFESTS, wiring

READY_DEADLINE = 60.0
STOP_TIMEOUT = 25.0
TAIL_LINES = 30
_COLOURS = {"user": "36", "audit": "35", "broker": "33", "stack": "1"}
# Variables that must differ per child; inherited values would make them collide.
_PER_SERVICE = ("PORT", "DATABASE_URL")


@dataclass
class Child:
    name: str
    module: str
    port: int
    env: dict[str, str]
    process: asyncio.subprocess.Process | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    pump: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Output:
    """Interleaved lines, each with a `[service] ` prefix (coloured on a terminal)."""

    def __init__(self) -> None:
        self.colour = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        self.width = max(len(name) for name in _COLOURS)

    def line(self, name: str, text: str) -> None:
        prefix = f"[{name}]".ljust(self.width + 3)
        if self.colour:
            prefix = f"\x1b[{_COLOURS.get(name, '0')}m{prefix}\x1b[0m"
        sys.stdout.write(f"{prefix}{text}\n")
        sys.stdout.flush()


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SystemExit(f"stack: {name}={value!r} is not a port")
    return int(value)


def _die_with_parent() -> None:
    # Linux: if the runner is killed (even -9), the children get SIGTERM.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def plan(env: Mapping[str, str]) -> list[Child]:
    """The three children with their environments (no process started)."""
    user_port = _port(env, "USER_PORT", 3000)
    audit_port = _port(env, "AUDIT_PORT", 8080)
    broker_port = _port(env, "BROKER_PORT", 8081)
    data_dir = env.get("DATA_DIR", ".data")
    manifests = env.get("BROKER_MANIFESTS", ",".join(BROKER_MANIFESTS))
    ports = {"user": user_port, "audit": audit_port, "broker": broker_port}
    try:
        wired = wiring(
            ports,
            [Path(p.strip()) for p in manifests.split(",") if p.strip()],
            extra_services=env.get("BROKER_SERVICES", ""),
        )
    except (OSError, LookupError, yaml.YAMLError) as exc:
        raise SystemExit(f"stack: cannot honour the manifests: {exc}") from None
    base = {k: v for k, v in env.items() if k not in _PER_SERVICE}
    base["DATA_DIR"] = data_dir
    base.setdefault("HOST", "127.0.0.1")
    base["PYTHONUNBUFFERED"] = "1"
    public_url = env.get("PUBLIC_BASE_URL", f"http://localhost:{user_port}")
    return [
        Child(name, name, port, {**extra, **base, "PORT": str(port), **wired[name]})
        for name, port, extra in (
            # On this machine the read API is open unless AUDIT_READ_TOKEN is set.
            ("audit", audit_port, {"AUDIT_READ_OPEN": "true"}),
            ("broker", broker_port, {}),
            ("user", user_port, {"PUBLIC_BASE_URL": public_url}),
        )
    ]


class Stack:
    def __init__(self, children: list[Child], output: Output) -> None:
        self.children = children
        self.output = output
        self.stop_requested = asyncio.Event()
        self.signals = 0

    def say(self, text: str) -> None:
        self.output.line("stack", text)

    async def start(self) -> None:
        for child in self.children:
            child.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                child.module,
                env=child.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop them in order
                preexec_fn=_die_with_parent,
                limit=1 << 20,
            )
            child.pump = asyncio.create_task(self._pump(child))

    async def _pump(self, child: Child) -> None:
        assert child.process is not None
        assert child.process.stdout is not None
        while True:
            raw = await child.process.stdout.readline()
            if not raw:
                return
            text = raw.decode("utf-8", "replace").rstrip("\n")
            child.tail.append(text)
            self.output.line(child.name, text)

    async def wait_ready(self) -> Child | None:
        """None when all answer /readyz 200; else the child that exited or was too slow."""
        deadline = time.monotonic() + READY_DEADLINE
        pending = list(self.children)
        async with httpx.AsyncClient(timeout=1.0, trust_env=False) as client:
            while pending:
                for child in list(pending):
                    assert child.process is not None
                    if child.process.returncode is not None:
                        return child
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get(child.url + "/readyz")).status_code == 200:
                            pending.remove(child)
                if self.stop_requested.is_set():
                    return None
                if time.monotonic() > deadline:
                    return pending[0]
                if pending:
                    await asyncio.sleep(0.1)
        return None

    def print_urls(self) -> None:
        by_name = {child.name: child for child in self.children}
        broker = by_name["broker"]
        sink = by_name["user"].env["K_SINK"].replace("127.0.0.1", "localhost")
        user, audit = by_name["user"].port, by_name["audit"].port
        self.say("ready")
        self.say(f"  user API     http://localhost:{user}/v1/user")
        self.say(f"  audit page   http://localhost:{audit}/")
        self.say(f"  audit API    http://localhost:{audit}/v1/events")
        self.say(f"  broker       {sink}  (triggers: http://localhost:{broker.port}/triggers)")
        self.say(
            f"  try: curl -X POST http://localhost:{user}/v1/user "
            "-H 'Content-Type: application/json' "
            """-d '{"name": "Ozzy Osbourne", "password": "12345"}'"""
        )
        self.say("Ctrl-C stops all three; the data stays in " + by_name["user"].env["DATA_DIR"])

    async def wait_exit(self) -> Child | None:
        """Until a signal (None) or a child exits on its own (that child)."""
        waits = {
            asyncio.create_task(child.process.wait()): child
            for child in self.children
            if child.process is not None
        }
        stop = asyncio.create_task(self.stop_requested.wait())
        done, _ = await asyncio.wait([*waits, stop], return_when=asyncio.FIRST_COMPLETED)
        for task in [*waits, stop]:
            if task not in done:
                task.cancel()
        if stop in done:
            return None
        return next(waits[task] for task in done if task in waits)

    async def stop_all(self) -> None:
        """Producer first, then the broker (finishing in-flight deliveries), then the sink."""
        for name in ("user", "broker", "audit"):
            child = next(c for c in self.children if c.name == name)
            process = child.process
            if process is None or process.returncode is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                self.say(f"{name} did not stop in {STOP_TIMEOUT}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for child in self.children:
            if child.pump is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(child.pump, 2)

    def on_signal(self) -> None:
        self.signals += 1
        if self.signals == 1:
            self.say("stopping (Ctrl-C again to kill)")
            self.stop_requested.set()
            return
        for child in self.children:
            if child.process is not None and child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()

    def report_failure(self, child: Child, why: str) -> None:
        self.say(f"{child.name} {why}; its last lines:")
        for text in child.tail:
            self.say(f"  {text}")


async def run(env: Mapping[str, str]) -> int:
    stack = Stack(plan(env), Output())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stack.on_signal)
    await stack.start()
    failed = await stack.wait_ready()
    if failed is not None:
        await stack.stop_all()
        assert failed.process is not None
        code = failed.process.returncode
        why = f"exited with {code}" if code is not None else "was not ready in time"
        stack.report_failure(failed, why)
        return 1
    if not stack.stop_requested.is_set():
        stack.print_urls()
    died = await stack.wait_exit()
    await stack.stop_all()
    if died is not None:
        assert died.process is not None
        stack.report_failure(died, f"exited with {died.process.returncode}")
        return 1
    stack.say("stopped")
    return 0


def main() -> None:
    raise SystemExit(asyncio.run(run(dict(os.environ))))


if __name__ == "__main__":
    main()
