"""`make run` (`python -m devstack`): the README's curl reaches audit within a second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import REPO, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not ((REPO / "audit/app.py").exists() and (REPO / "user/app.py").exists()),
        reason="the audit and user services are not there yet",
    ),
]
READY_TIMEOUT = 120.0


class Stack:
    def __init__(self, data_dir: Path) -> None:
        self.ports = {name: free_port() for name in ("USER_PORT", "AUDIT_PORT", "BROKER_PORT")}
        env = {k: v for k, v in os.environ.items() if k not in ("PORT", "DATABASE_URL")}
        env.update({k: str(v) for k, v in self.ports.items()})
        env["DATA_DIR"] = str(data_dir)
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not any(line.startswith("[stack]") and "ready" in line for line in self.lines):
            if self.process.poll() is not None:
                raise AssertionError("stack exited:\n" + "\n".join(self.lines[-40:]))
            if time.monotonic() > deadline:
                raise AssertionError("stack not ready:\n" + "\n".join(self.lines[-40:]))
            time.sleep(0.05)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(60)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def stack(data_dir: Path) -> Iterator[Stack]:
    running = Stack(data_dir)
    yield running
    running.kill()


def _stored_users(audit: str, user_id: str) -> list[dict[str, object]]:
    response = httpx.get(audit + "/v1/events", params={"type": "user.storeUser"}, timeout=5)
    response.raise_for_status()
    return [item for item in response.json()["items"] if item.get("subject") == user_id]


def test_the_readme_curl_reaches_audit_within_a_second(stack: Stack, data_dir: Path) -> None:
    stack.wait_ready()
    output = "\n".join(stack.lines)
    for prefix in ("[user]", "[audit]", "[broker]"):
        assert prefix in output
    assert f"http://localhost:{stack.ports['USER_PORT']}/v1/user" in output
    assert f"http://localhost:{stack.ports['AUDIT_PORT']}/" in output
    assert f":{stack.ports['BROKER_PORT']}/user-audit/default" in output

    response = httpx.post(
        stack.url("USER_PORT") + "/v1/user",
        headers={"Content-Type": "application/json"},
        content=b'{"name": "Ozzy Osbourne", "password": "12345"}',
        timeout=30,
    )
    created = time.monotonic()
    assert response.status_code in (200, 201), response.text
    user_id = response.json()["id"]
    found: list[dict[str, object]] = []
    while not found and time.monotonic() - created < 5:
        found = _stored_users(stack.url("AUDIT_PORT"), user_id)
        if not found:
            time.sleep(0.02)
    elapsed = time.monotonic() - created
    assert found, "user.storeUser never reached audit:\n" + "\n".join(stack.lines[-30:])
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    assert found[0]["type"] == "user.storeUser"

    assert stack.interrupt() == 0
    assert any("[stack]" in line and "stopped" in line for line in stack.lines)
    for name in ("USER_PORT", "AUDIT_PORT", "BROKER_PORT"):
        with pytest.raises(httpx.TransportError):
            httpx.get(stack.url(name) + "/healthz", timeout=1)

    # A second run keeps the data.
    again = Stack(data_dir)
    try:
        again.wait_ready()
        assert _stored_users(again.url("AUDIT_PORT"), user_id)
        assert again.interrupt() == 0
    finally:
        again.kill()


def _children(parent: int, module: str) -> list[int]:
    """Pids of `python -m <module>` processes whose parent is `parent` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"-m" in argv and module.encode() in argv:
            found.append(int(entry.name))
    return found


def test_a_dying_child_stops_the_stack(stack: Stack) -> None:
    stack.wait_ready()
    pids = _children(stack.process.pid, "audit")
    assert pids, "no audit child found in /proc"
    os.kill(int(pids[0]), signal.SIGKILL)
    assert stack.process.wait(60) != 0
    output = "\n".join(stack.lines)
    assert "audit exited with" in output
    assert "its last lines" in output
