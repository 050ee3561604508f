"""The audit read API is never open by accident.

On a cluster, hack/create-secrets.sh creates the `audit-read` Secret with a random token
and the Deployment requires it. audit itself refuses to start without a token unless
open mode is chosen explicitly (`AUDIT_READ_OPEN=true`), as `make run` and the local
test stack do.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from audit.settings import AuditSettings
from devstack import REPO, free_port
from devstack.supervisor import plan
from tests.manifests.support import run_create_secrets


def start_audit(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m audit` with `env` (no AUDIT_READ_* inherited from this shell); fails
    the test if it is still running after 30 s, i.e. if it started serving."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AUDIT_READ_")}
    port = str(free_port())
    command = [sys.executable, "-m", "audit"]
    env = {**inherited, "DATA_DIR": str(tmp_path), "DATABASE_URL": "", "PORT": port, **env}
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"audit started (no token, {env.get('AUDIT_READ_OPEN')=}):\n{stdout}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.parametrize("open_mode", [None, "", "false", "0"])
def test_audit_refuses_to_start_without_a_token(tmp_path: Path, open_mode: str | None) -> None:
    env = {"AUDIT_READ_TOKEN": ""}
    if open_mode is not None:
        env["AUDIT_READ_OPEN"] = open_mode
    result = start_audit(tmp_path, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: AUDIT_READ_TOKEN"), lines[0]
    assert "AUDIT_READ_OPEN=true" in lines[0]
    assert not list(tmp_path.iterdir()), "nothing may be created before the check"


def test_a_malformed_open_switch_names_itself(tmp_path: Path) -> None:
    result = start_audit(tmp_path, AUDIT_READ_TOKEN="", AUDIT_READ_OPEN="sure")
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: AUDIT_READ_OPEN"), result.stderr


def test_a_token_wins_over_open_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIT_READ_OPEN", "true")
    monkeypatch.setenv("AUDIT_READ_TOKEN", "a-token-that-is-long-enough")
    assert AuditSettings().read_token() == "a-token-that-is-long-enough"
    monkeypatch.setenv("AUDIT_READ_TOKEN", "")
    assert AuditSettings().read_token() is None


def test_make_run_chooses_open_mode_explicitly() -> None:
    children = {child.name: child for child in plan({})}
    assert children["audit"].env["AUDIT_READ_OPEN"] == "true"
    assert "AUDIT_READ_OPEN" not in children["user"].env
    # A developer's token still protects it (a token wins over open mode).
    children = {child.name: child for child in plan({"AUDIT_READ_TOKEN": "t" * 32})}
    assert children["audit"].env["AUDIT_READ_TOKEN"] == "t" * 32


def audit_token_ref() -> dict[str, Any]:
    documents = yaml.safe_load_all((REPO / "k8s/audit/deployment.yaml").read_text())
    deployment = next(d for d in documents if d and d.get("kind") == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (entry,) = [e for e in container["env"] if e["name"] == "AUDIT_READ_TOKEN"]
    ref: dict[str, Any] = entry["valueFrom"]["secretKeyRef"]
    return ref


def test_the_cluster_deployment_requires_the_token() -> None:
    ref = audit_token_ref()
    assert (ref["name"], ref["key"]) == ("audit-read", "token")
    assert not ref.get("optional", False), "a missing Secret must stop the pod, not open the API"


def test_create_secrets_makes_a_random_audit_read_token(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = run_create_secrets(tmp_path / "one").secrets
    second = run_create_secrets(tmp_path / "two").secrets
    tokens = [run["audit-read"]["token"] for run in (first, second)]
    for token in tokens:
        assert re.fullmatch(r"[0-9a-f]{32}", token), token
    assert tokens[0] != tokens[1]
    passwords = {s.get("password") for s in first.values()} - {None}
    assert tokens[0] not in passwords
