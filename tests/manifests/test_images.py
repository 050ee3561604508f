"""The container images, built by `make images` (hack/build-images.sh), run the way
the manifests run them: as uid 10001, read-only root, /tmp and /data the only
writable paths, no capabilities. All three services start in them, answer their
probes, carry an event from user through the local broker to audit, and stop on
SIGTERM. Needs a Docker engine (../shared/tools/offline-docker.sh starts one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from devstack import free_port
from tests.manifests.support import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]

TAG = "pytest"
IMAGES = {"user": f"knative-user-audit/user:{TAG}", "audit": f"knative-user-audit/audit:{TAG}"}
#: What the k8s securityContext does, in docker terms.
LOCKED_DOWN = (
    "--read-only",
    "--tmpfs=/tmp:rw,size=64m",
    "--cap-drop=ALL",
    "--security-opt=no-new-privileges",
    "--network=host",
)


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    if shutil.which("docker") is None or docker("info").returncode != 0:
        pytest.skip("no Docker engine (run ../shared/tools/offline-docker.sh)")
    result = subprocess.run(
        ["bash", str(REPO / "hack" / "build-images.sh")],
        env={**os.environ, "TAG": TAG},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return IMAGES


def run_in(image: str, *command: str) -> subprocess.CompletedProcess[str]:
    return docker("run", "--rm", *LOCKED_DOWN, image, *command)


def inspect(image: str) -> dict[str, Any]:
    result = docker("image", "inspect", image)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)[0]["Config"]
    return config


@pytest.mark.parametrize("service", ["user", "audit"])
def test_image_runs_as_10001_with_every_package_importable(
    service: str, images: dict[str, str]
) -> None:
    result = run_in(
        images[service],
        "python",
        "-c",
        "import os, common, user, audit, broker, cesql; print(os.getuid(), os.getgid())",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["10001", "10001"]


@pytest.mark.parametrize("service", ["user", "audit"])
def test_only_data_and_tmp_are_writable(service: str, images: dict[str, str]) -> None:
    script = (
        "touch /data/probe && touch /tmp/probe && "
        "! touch /app/probe 2>/dev/null && ! touch /app/user/probe 2>/dev/null && "
        "! touch /app/.venv/probe 2>/dev/null && echo ok"
    )
    result = run_in(images[service], "sh", "-c", script)
    assert result.stdout.strip() == "ok", result.stderr


@pytest.mark.parametrize(("service", "port"), [("user", "3000"), ("audit", "8080")])
def test_image_configuration(service: str, port: str, images: dict[str, str]) -> None:
    config = inspect(images[service])
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HOST"] == "0.0.0.0"
    assert env["PORT"] == port
    assert env["DATA_DIR"] == "/data"
    assert env["PYTHONDONTWRITEBYTECODE"] == env["PYTHONUNBUFFERED"] == "1"
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["python", "-m", service]
    assert config["StopSignal"] == "SIGTERM"
    assert set(config["ExposedPorts"]) == {f"{port}/tcp"}
    assert config["WorkingDir"] == "/app"


def test_image_holds_no_build_tools_tests_or_dev_dependencies(images: dict[str, str]) -> None:
    script = (
        "import importlib.util as u, os; "
        "print([m for m in ('pytest', 'ruff', 'mypy', 'uv') if u.find_spec(m)], "
        "sorted(os.listdir('/app')))"
    )
    result = run_in(images["user"], "python", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] ['.venv', 'audit', 'broker', 'cesql', 'common', 'user']"


@dataclass
class Containers:
    """Containers started by one test; removed (logs kept for the failure report) after."""

    names: list[str] = field(default_factory=list)

    def start(self, image: str, *args: str, env: dict[str, str], mounts: Sequence[str] = ()) -> str:
        name = f"kua-test-{uuid.uuid4().hex[:10]}"
        flags = [f"--env={key}={value}" for key, value in env.items()]
        flags += [f"--volume={mount}" for mount in mounts]
        result = docker("run", "-d", f"--name={name}", *LOCKED_DOWN, *flags, image, *args)
        assert result.returncode == 0, result.stderr
        self.names.append(name)
        return name

    def logs(self) -> str:
        parts = []
        for name in self.names:
            result = docker("logs", name)
            parts.append(f"--- {name}\n{(result.stdout + result.stderr)[-3000:]}")
        return "\n".join(parts)

    def remove(self) -> None:
        for name in self.names:
            docker("rm", "-f", name)


@pytest.fixture
def containers() -> Iterator[Containers]:
    started = Containers()
    yield started
    started.remove()


def wait_ready(url: str, containers: Containers, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} not ready after {timeout}s\n{containers.logs()}")


def test_user_to_broker_to_audit_in_locked_down_containers(
    images: dict[str, str], containers: Containers
) -> None:
    for package in ("user", "audit", "broker"):
        if not (REPO / package / "__main__.py").is_file():
            pytest.skip(f"`python -m {package}` does not exist in this tree yet")
    ports = {name: free_port() for name in ("user", "broker", "audit")}
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    containers.start(images["audit"], env={"PORT": str(ports["audit"]), "AUDIT_READ_OPEN": "true"})
    # The local broker ships in the same image and reads the very k8s/ manifests.
    containers.start(
        images["user"],
        "python",
        "-m",
        "broker",
        env={
            "PORT": str(ports["broker"]),
            "BROKER_MANIFESTS": "/manifests/broker.yaml,/manifests/triggers.yaml",
            "BROKER_SERVICES": f"audit={url['audit']}",
        },
        mounts=[f"{REPO / 'k8s'}:/manifests:ro"],
    )
    user = containers.start(
        images["user"],
        env={
            "PORT": str(ports["user"]),
            "K_SINK": f"{url['broker']}/user-audit/default",
            "EVENT_SOURCE": "/apis/v1/namespaces/user-audit/user",
            "PUBLIC_BASE_URL": "http://localhost",
        },
    )
    for name in ("audit", "broker", "user"):
        wait_ready(url[name], containers)

    # The original curl, against the container.
    created = httpx.post(
        f"{url['user']}/v1/user",
        json={"name": "Ozzy Osbourne", "password": "12345"},
        timeout=10,
    )
    assert created.status_code in (200, 201), created.text
    user_id = created.json()["id"]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = httpx.get(f"{url['audit']}/v1/events", timeout=5)
        if user_id in events.text:
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"audit never stored the event for {user_id}\n{containers.logs()}")
    assert "12345" not in events.text

    # SIGTERM (docker stop) ends the process cleanly, well inside the grace period.
    started = time.monotonic()
    assert docker("stop", "--time=20", user).returncode == 0
    assert time.monotonic() - started < 10
    state = json.loads(docker("inspect", user).stdout)[0]["State"]
    assert state["ExitCode"] == 0, containers.logs()
