"""No secrets in the repository, the built manifests or the images.

- Every tracked file: private keys, well-known token formats, credentials inside URLs,
  and (outside tests/) literal values assigned to secret-looking names.
- `kubectl kustomize` of the base and every overlay: no Secret objects with values,
  every secret-looking environment variable comes from a Secret (`valueFrom`), no
  credentials in any string.
- The user and audit images (when a Docker engine is there; CI has one): nothing
  secret-looking in their configured environment or build history.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import REPO
from tests.manifests.support import (
    find_tool,
    kustomize_build,
    load_docs,
    require_tool,
)

#: Formats that are a secret wherever they appear.
TOKEN_PATTERNS = {
    "private key": re.compile(rb"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY(?: BLOCK)?-----"),
    "AWS access key id": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "Slack token": re.compile(rb"\bxox[abeprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b"),
    "Stripe live key": re.compile(rb"\b[rs]k_live_[0-9A-Za-z]{16,}"),
    "JSON Web Token": re.compile(
        rb"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"
    ),
    "npm/PyPI token": re.compile(
        rb"\b(?:npm_[A-Za-z0-9]{36}|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,})"
    ),
}
#: `scheme://user:password@host`: the password part.
URL_CREDENTIALS = re.compile(rb"\b[a-z][a-z0-9+.-]*://[^\s/:@'\"<>]+:([^\s/@'\"<>]+)@[^\s'\"]")
#: `password: value`, `TOKEN=value`, `"api_key": "value"` ...
ASSIGNMENT = re.compile(
    rb"(?i)\b[a-z0-9_]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|credential)s?"
    # One line only: `serviceAccountToken:` followed by a key on the next line is no value.
    rb"\b[\"']?[ \t]*(?:=|:)[ \t]*[\"']?([^\s\"'#,;)}\]]{8,})"
)
#: In prose (Markdown), only shell-style `NAME=value` lines count as assignments.
SHELL_ASSIGNMENT = re.compile(
    rb"\b[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY)[A-Z0-9_]*=([^\s\"'#]{8,})"
)
#: Files whose `name: value` lines are configuration (checked for literal secrets).
CONFIG_SUFFIXES = (".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".json", ".env", ".sh")
#: What a value that is not a secret looks like: a reference, a placeholder, a type.
PLACEHOLDER = re.compile(
    rb"^(?:\$|\{|<|%|\*|\.\.\.|x{3,}|changeme-placeholder|secretKeyRef|valueFrom|"
    rb"none|null|true|false|optional|required|os\.environ|settings\.|self\.|str|bytes|"
    rb"SecretStr|Field|getenv|environ)",
    re.IGNORECASE,
)
PLACEHOLDER_WORDS = {b"password", b"secret", b"token", b"pass", b"example", b"redacted"}
#: Directories whose literal "passwords" are test data, not secrets (they are still
#: searched for keys, token formats and URL credentials).
TEST_DATA = ("tests/", "bench/")
SECRET_ENV = re.compile(
    r"(?i)(password|passwd|secret|token|api_?key|access_?key|credential|database_url|dsn)"
)


def tracked_files() -> Iterator[tuple[str, bytes]]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for raw in names:
        if not raw:
            continue
        name = raw.decode()
        path = REPO / name
        if path.is_file():
            yield name, path.read_bytes()


def is_placeholder(value: bytes) -> bool:
    bare = value.strip(b"\"'`")
    return bool(PLACEHOLDER.match(bare)) or bare.lower() in PLACEHOLDER_WORDS


def findings(where: str, data: bytes, *, assignments: bool, prose: bool = False) -> list[str]:
    found = []
    for what, pattern in TOKEN_PATTERNS.items():
        for match in pattern.finditer(data):
            found.append(f"{where}: {what} at byte {match.start()}")
    for match in URL_CREDENTIALS.finditer(data):
        if not is_placeholder(match.group(1)):
            found.append(f"{where}: credentials in a URL at byte {match.start()}")
    if assignments:
        for match in (SHELL_ASSIGNMENT if prose else ASSIGNMENT).finditer(data):
            if not is_placeholder(match.group(1)):
                line = data[: match.start()].count(b"\n") + 1
                found.append(f"{where}:{line}: a literal value for a secret-looking name")
    return found


def test_repository_holds_no_secrets() -> None:
    problems: list[str] = []
    scanned = 0
    for name, data in tracked_files():
        scanned += 1
        # In code, `token = settings.x` is normal; literal assignments are checked in
        # configuration (manifests, scripts, workflows, Dockerfiles, env files) and in
        # the shell lines of docs.
        base = name.rsplit("/", 1)[-1]
        config = base.endswith(CONFIG_SUFFIXES) or base in ("Dockerfile", "Makefile")
        prose = base.endswith(".md")
        problems += findings(
            name,
            data,
            assignments=(config or prose) and not name.startswith(TEST_DATA),
            prose=prose,
        )
    assert scanned > 50
    assert not problems, "\n".join(problems)


def test_the_scanner_sees_what_it_should() -> None:
    """The patterns above, proven on planted examples (assembled here, so that this file
    itself holds none of them)."""
    key = b"-----BEGIN " + b"RSA PRIVATE KEY-----"
    aws = b"AKIA" + b"ABCDEFGHIJKLMNOP"
    url = b"postgresql://app:" + b"s3cr3t-value@db:5432/x"
    literal = b"PASSWORD" + b": hunter2hunter2"
    for sample in (key, aws, url, literal):
        assert findings("sample", sample, assignments=True), sample
    assert findings(
        "doc", b"export AUDIT_READ_" + b"TOKEN=0123456789abcdef", assignments=True, prose=True
    )
    assert not findings("doc", b"4. The DB Secrets: `hack/x.sh`", assignments=True, prose=True)
    for harmless in (
        b"postgresql://app:$PASSWORD@db/x",
        b"password: ${DB_PASSWORD}",
        b"token: <your token>",
        b"DATABASE_URL=postgresql+asyncpg://$role:$password@$db_host:5432/$database",
        b"postgresql://postgres@127.0.0.1:5432/postgres",
    ):
        assert not findings("sample", harmless, assignments=True), harmless


# ----------------------------------------------------------------------- manifests
def kustomizations() -> list[Path]:
    found = [REPO / "k8s"]
    overlays = REPO / "overlays"  # entry points outside k8s/ (docs/cluster.md)
    if overlays.is_dir():
        found += sorted(p.parent for p in overlays.glob("*/kustomization.yaml"))
    return found


def walk_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from walk_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk_strings(value)


def pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec") or {}
    template = (spec.get("template") or {}).get("spec")
    if template:
        yield template
    job = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    if job:
        yield job


@pytest.mark.parametrize("kustomization", kustomizations(), ids=lambda p: str(p.relative_to(REPO)))
def test_built_manifests_hold_no_secrets(kustomization: Path) -> None:
    kubectl = require_tool("kubectl")
    text = kustomize_build(kubectl, kustomization)
    problems = findings(f"kustomize {kustomization.name}", text.encode(), assignments=False)
    for doc in load_docs(text):
        name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
            problems.append(f"{name}: a Secret with values in the manifests")
        for pod in pod_specs(doc):
            for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
                mounts = tuple(
                    m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts", [])
                )
                for env in container.get("env", []):
                    value = str(env.get("value", ""))
                    if env["name"].endswith("_FILE") and mounts and value.startswith(mounts):
                        continue  # a path to a mounted file (a projected token), not a secret
                    if SECRET_ENV.search(env["name"]) and env.get("value"):
                        problems.append(
                            f"{name} {container['name']}: {env['name']} has a literal value"
                        )
        for value in walk_strings(doc):
            for match in URL_CREDENTIALS.finditer(value.encode()):
                if not is_placeholder(match.group(1)):
                    problems.append(f"{name}: credentials in a URL")
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------- images
IMAGES = ("knative-user-audit/user", "knative-user-audit/audit")


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def built_images() -> list[str]:
    """The images as `make images` builds them; built here (tag `pytest`, shared with
    tests/manifests/test_images.py and its layer cache) when absent."""
    if find_tool("docker") is None or docker("info").returncode != 0:
        pytest.skip("no Docker engine (CI starts one with ../shared/tools/offline-docker.sh)")
    tags = [f"{image}:pytest" for image in IMAGES]
    if any(docker("image", "inspect", tag).returncode != 0 for tag in tags):
        result = subprocess.run(
            ["bash", str(REPO / "hack" / "build-images.sh")],
            env={**os.environ, "TAG": "pytest"},
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return tags


@pytest.mark.docker
@pytest.mark.slow
def test_images_hold_no_secrets(built_images: list[str]) -> None:
    problems: list[str] = []
    for tag in built_images:
        inspected = docker("image", "inspect", tag)
        assert inspected.returncode == 0, inspected.stderr
        config = json.loads(inspected.stdout)[0]["Config"]
        for item in config.get("Env") or []:
            name, _, value = item.partition("=")
            if SECRET_ENV.search(name) and value:
                problems.append(f"{tag}: ENV {name} has a value")
            problems += findings(f"{tag} ENV {name}", value.encode(), assignments=False)
        history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag)
        assert history.returncode == 0, history.stderr
        problems += findings(f"{tag} history", history.stdout.encode(), assignments=True)
    assert not problems, "\n".join(problems)
