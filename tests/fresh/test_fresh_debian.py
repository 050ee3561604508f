"""A fresh Debian 12 machine: `apt-get install python3 make git`, clone, `make run`, and
the README's curl ends up as a `user.storeUser` event in audit's API.

Debian ships python3 without venv and pip, so this is the machine where `make` must
bootstrap uv from the standard library alone (hack/bootstrap_uv.py). The container is
the debootstrap minbase that ../shared/tools/offline-docker.sh builds, plus exactly those
three packages (without recommends, so not even ca-certificates: the one CA bundle is
this host's, mounted and named by SSL_CERT_FILE, as behind a TLS-inspecting proxy).
The project is the working tree as it is now, committed into a throwaway repository.
uv's cache lives in a Docker volume between runs; the first run downloads everything.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack import free_port
from tests.conftest import REPO, SHARED
from tests.e2e.api import AuditApi
from tests.e2e.polling import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BASE_IMAGE = "offline/debian:bookworm"
IMAGE = "knative-user-audit/fresh-debian:bookworm"
DOCKERFILE = f"""FROM {BASE_IMAGE}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 make git \\
 && rm -rf /var/lib/apt/lists/*
"""
CACHE_VOLUME = "knative-user-audit-fresh-uv-cache"
CONTAINER_CA = "/etc/ssl/host-ca.crt"
#: How a user behind a proxy or mirror reaches the package index; passed on when set.
NETWORK_SETTINGS = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "PIP_INDEX_URL",
)
#: The first run downloads uv and every locked wheel; later ones copy from the cache.
READY_DEADLINE = 900.0
EVENT_DEADLINE = 30.0
README = REPO / "README.md"


def host_ca_bundle() -> Path:
    """The CA bundle this host trusts (a TLS-inspecting proxy's CA included)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.skip("no CA bundle on this host to hand to the container (set SSL_CERT_FILE)")


def docker(*args: str, timeout: float = 120, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["docker", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"docker {args[0]}: {result.stderr[-2000:]}"
    return result.stdout


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"git {args[0]}: {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def image() -> str:
    """Debian 12 minbase + python3, make and git from apt (the layer stays cached)."""
    if (
        shutil.which("docker") is None
        or subprocess.run(
            ["docker", "info"], capture_output=True, timeout=30, check=False
        ).returncode
    ):
        pytest.skip("no Docker engine (run ../shared/tools/offline-docker.sh)")
    inspect = ["docker", "image", "inspect", BASE_IMAGE]
    if subprocess.run(inspect, capture_output=True, timeout=30, check=False).returncode:
        script = SHARED / "tools" / "offline-docker.sh"
        if not script.is_file():
            pytest.skip(f"{BASE_IMAGE} is missing and so is {script}")
        subprocess.run(["bash", str(script)], capture_output=True, timeout=600, check=True)
    docker("build", "--network=host", "-q", "-t", IMAGE, "-", stdin=DOCKERFILE, timeout=600)
    return IMAGE


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The working tree as it is (committed or not, minus ignored files) as a one-commit repo."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO)
    tree = tmp_path / "project"
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() or source.is_symlink():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name, follow_symlinks=False)
    git("init", "-q", "-b", "main", cwd=tree)
    git("add", "-A", cwd=tree)
    git("-c", "user.name=test", "-c", "user.email=test@localhost", "commit", "-qm", "s", cwd=tree)
    return tree


class FreshMachine:
    """One container running `git clone` + `make TARGET`; removed when the test ends."""

    def __init__(self, image: str, project: Path) -> None:
        self.image = image
        self.project = project
        self.name = f"kua-fresh-{uuid.uuid4().hex[:10]}"
        self.ports = {"USER_PORT": free_port(), "AUDIT_PORT": free_port()}
        self.ports["BROKER_PORT"] = free_port()
        self.started = 0.0

    def start(self, target: str, *, host_ca: bool = True) -> None:
        env = {k: str(v) for k, v in self.ports.items()}
        env |= {k: os.environ[k] for k in NETWORK_SETTINGS if os.environ.get(k)}
        env["NO_COLOR"] = "1"
        mounts = [f"{self.project}:/src:ro", f"{CACHE_VOLUME}:/root/.cache/uv"]
        if host_ca:
            env["SSL_CERT_FILE"] = CONTAINER_CA
            mounts.append(f"{host_ca_bundle()}:{CONTAINER_CA}:ro")
        # safe.directory: /src belongs to whoever runs the tests, not to the container's root.
        script = (
            "git -c safe.directory='*' clone -q /src /root/app/project && cd /root/app/project"
            f" && exec make {target}"
        )
        docker(
            "run",
            "-d",
            f"--name={self.name}",
            "--network=host",
            *(f"--volume={mount}" for mount in mounts),
            # The clone and its .venv in memory: removing the container is then instant.
            "--tmpfs=/root/app:rw,exec,size=2g",
            *(f"--env={key}={value}" for key, value in env.items()),
            self.image,
            "sh",
            "-c",
            script,
        )
        self.started = time.monotonic()

    def wait_exit(self, timeout: float) -> int:
        """The exit status of `make`, once it has stopped by itself."""
        return int(docker("wait", self.name, timeout=timeout).strip())

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{service.upper()}_PORT']}"

    def running(self) -> bool:
        return docker("inspect", "-f", "{{.State.Running}}", self.name).strip() == "true"

    def logs(self) -> str:
        result = subprocess.run(
            ["docker", "logs", self.name], capture_output=True, text=True, timeout=60, check=False
        )
        return result.stdout + result.stderr

    def wait_ready(self) -> float:
        """Seconds until user and audit answer /readyz; fails as soon as `make run` exits."""
        with httpx.Client(timeout=2.0, trust_env=False) as client:

            def probe() -> bool:
                assert self.running(), f"make run exited:\n{self.logs()[-4000:]}"
                try:
                    return all(
                        client.get(self.url(s) + "/readyz").status_code == 200
                        for s in ("user", "audit")
                    )
                except httpx.HTTPError:
                    return False

            wait_until(
                probe,
                timeout=READY_DEADLINE,
                what="make run on a fresh Debian to answer /readyz",
                interval=1.0,
                max_interval=2.0,
                describe=lambda _: self.logs()[-4000:],
            )
        return time.monotonic() - self.started

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, timeout=60)


@pytest.fixture
def machine(image: str, project: Path) -> Iterator[FreshMachine]:
    fresh = FreshMachine(image, project)
    try:
        yield fresh
    finally:
        fresh.remove()


def readme_curl_body() -> str:
    """The JSON body of the README's `curl -X POST .../v1/user ... -d '...'`."""
    match = re.search(r"curl -X POST \S+/v1/user .*?-d '(\{.*?\})'", README.read_text(), re.S)
    assert match, "README.md has no `curl -X POST .../v1/user -d '...'`"
    return match[1]


@pytest.mark.timeout(READY_DEADLINE + 300)
def test_make_run_on_fresh_debian_carries_the_readme_curl_to_audit(
    machine: FreshMachine,
) -> None:
    machine.start("run")
    seconds = machine.wait_ready()
    logs = machine.logs()
    # No venv and no pip here: uv must have come straight from the index.
    assert "-m venv has no pip (ensurepip)" in logs, logs[-4000:]
    assert "bootstrap: downloading uv-" in logs, logs[-4000:]
    assert "Traceback" not in logs, logs[-4000:]

    with httpx.Client(timeout=30.0, trust_env=False) as client:
        created = client.post(
            machine.url("user") + "/v1/user",
            content=readme_curl_body(),
            headers={"Content-Type": "application/json"},
        )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]

    audit = AuditApi(machine.url("audit"))
    try:
        (event,) = audit.wait_events(type="user.storeUser", subject=user_id, timeout=EVENT_DEADLINE)
    finally:
        audit.close()
    assert event["data"] == {"id": user_id}
    steps = [line for line in logs.splitlines() if line.startswith(("bootstrap:", "Installed"))]
    print(f"fresh Debian: make run ready after {seconds:.0f} s", *steps, sep="\n  ")


@pytest.mark.timeout(600)
def test_without_a_ca_bundle_make_says_in_one_line_what_to_install(
    machine: FreshMachine,
) -> None:
    """Debian minbase has no ca-certificates: no traceback, the apt and dnf commands."""
    machine.start("env", host_ca=False)
    status = machine.wait_exit(timeout=240)
    logs = machine.logs()
    assert status != 0, logs
    assert "Traceback" not in logs, logs
    failures = [line for line in logs.splitlines() if line.startswith("bootstrap: cannot")]
    assert len(failures) == 1, logs
    line = failures[0]
    assert "sudo apt-get install ca-certificates" in line, line
    assert "sudo dnf install ca-certificates" in line, line
    assert "SSL_CERT_FILE" in line, line
