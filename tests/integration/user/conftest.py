"""Fixtures: a strict CloudEvents sink and a way to start real user services."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack import ServiceProcess
from tests.integration.user.support import ADMIN_TOKEN, FAST_ARGON2, FAST_RELAY
from tests.support.sink import CloudEventSink

StartUser = Callable[..., ServiceProcess]


@pytest.fixture
def sink() -> Iterator[CloudEventSink]:
    for _ in range(3):
        try:
            running = CloudEventSink().up()
            break
        except RuntimeError:  # the free port was taken before we bound it; pick another
            continue
    else:
        raise RuntimeError("could not start the sink")
    yield running
    running.down()


@pytest.fixture
def user_env(database_url: str, tmp_path: Path, sink: CloudEventSink) -> dict[str, str]:
    """Environment of a user service on the test database, sending to the sink."""
    return {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "K_SINK": sink.url,
        "K_CE_OVERRIDES": "",
        "USER_ADMIN_TOKEN": ADMIN_TOKEN,
        **FAST_ARGON2,
        **FAST_RELAY,
    }


def _is_user_service(process: ServiceProcess) -> bool:
    # Other suites start servers on free ports too: make sure ours got the port.
    if process.process is None or process.process.poll() is not None:
        return False
    try:
        document = httpx.get(process.url + "/openapi.json", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(document, dict) and document.get("info", {}).get("title") == "user service"


@pytest.fixture
def start_user(user_env: dict[str, str], tmp_path: Path) -> Iterator[StartUser]:
    """`start_user(name="user", **env_overrides)` starts one more service process
    and waits until it is up; it raises RuntimeError if the process exits."""
    started: list[ServiceProcess] = []

    def start(name: str = "user", **overrides: str) -> ServiceProcess:
        env = {**user_env, **overrides}
        for _ in range(3):
            process = ServiceProcess("user", env=env, log_dir=tmp_path, name=name)
            started.append(process)
            try:
                process.start(timeout=60)
            except RuntimeError:
                if "address already in use" in process.log_text():
                    continue  # the free port was taken before we bound it
                raise
            if _is_user_service(process):
                return process
            process.kill()  # another suite's server answered on "our" port
        raise RuntimeError(f"{name}: no free port after 3 attempts")

    yield start
    for process in started:
        process.kill()
