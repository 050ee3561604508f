"""How the manifests are laid out and deployed, checked the way a user types it:
every kustomization builds with plain `kubectl kustomize DIR` (so `kubectl apply -k DIR`
works), skaffold deploys no Namespace (its cleanup would delete the Secrets and the
database volume with it), a before-deploy hook creates the Secrets, the status check
survives a restart while PostgreSQL comes up, and every disruption budget lets a node
drain finish."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.manifests.conftest import KUSTOMIZATIONS
from tests.manifests.support import (
    REPO,
    Manifests,
    load_docs,
    read_yaml,
    run_with_stubs,
)
from tests.manifests.test_validation import skaffold_effective_configs

SKIP_DIRS = {".git", ".venv", ".tools", "node_modules"}


def kustomization_dirs() -> list[Path]:
    """Every directory holding a Kustomization (Components are built by their users)."""
    found = []
    for path in sorted(REPO.rglob("kustomization.yaml")):
        if SKIP_DIRS & set(path.relative_to(REPO).parts):
            continue
        if read_yaml(path).get("kind", "Kustomization") == "Kustomization":
            found.append(path.parent)
    return found


@pytest.mark.parametrize("directory", kustomization_dirs(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_kustomization_builds_with_plain_kubectl_kustomize(
    directory: Path, kubectl: Path
) -> None:
    result = subprocess.run(
        [str(kubectl), "kustomize", str(directory.relative_to(REPO))],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_tests_render_every_entry_point_a_user_applies() -> None:
    entry_points = {p for p in kustomization_dirs() if p.parent != REPO / "k8s"}
    assert {path for path, _ in KUSTOMIZATIONS.values()} >= entry_points
    assert all(flags == () for _, flags in KUSTOMIZATIONS.values())


@pytest.mark.parametrize("profile", ["default", "dev", "kafka", "oidc"])
def test_skaffold_deploys_no_namespace(profile: str, rendered: dict[str, str]) -> None:
    """skaffold deletes what it deployed on Ctrl-C or a failed first deploy; a Namespace
    among it takes the Secrets and the PostgreSQL volume along."""
    kustomize = skaffold_effective_configs()[profile]["manifests"]["kustomize"]  # type: ignore[index]
    assert "buildArgs" not in kustomize, "every kustomization builds without flags"
    by_path = {path: name for name, (path, _) in KUSTOMIZATIONS.items()}
    for path in kustomize["paths"]:
        docs = load_docs(rendered[by_path[REPO / path]])
        assert [d["kind"] for d in docs if d["kind"] == "Namespace"] == [], path
    # hack/cluster-up.sh creates it instead, from the file the manifests no longer list.
    namespace = read_yaml(REPO / "k8s" / "namespace.yaml")
    assert namespace["metadata"]["name"] == "user-audit"
    cluster_up = (REPO / "hack" / "cluster-up.sh").read_text()
    assert 'apply -f "$REPO_ROOT/k8s/namespace.yaml"' in cluster_up


def before_deploy_hooks() -> list[dict[str, object]]:
    deploy = read_yaml(REPO / "skaffold.yaml")["deploy"]
    hooks: list[dict[str, object]] = deploy["kubectl"]["hooks"]["before"]
    return hooks


def test_skaffold_creates_the_secrets_before_each_deploy(tmp_path: Path) -> None:
    """The hook as skaffold runs it (command, dir relative to skaffold.yaml, the deploy
    context in SKAFFOLD_KUBE_CONTEXT: skaffold v2.24.0 pkg/skaffold/hooks/env.go)."""
    (hook,) = before_deploy_hooks()
    host = hook["host"]
    assert isinstance(host, dict)
    assert (REPO / host.get("dir", ".")).resolve() == REPO
    context = {"SKAFFOLD_KUBE_CONTEXT": "kind-user-audit"}
    result = run_with_stubs("", tmp_path, command=list(host["command"]), env=context)
    assert result.returncode == 0, result.stderr
    created = load_docs((tmp_path / "created.yaml").read_text())
    assert {d["metadata"]["name"] for d in created} == {
        "postgres-admin",
        "user-db",
        "audit-db",
        "audit-read",
    }
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls
    assert all(c.startswith("kubectl --context kind-user-audit ") for c in calls), calls


def test_create_secrets_names_the_missing_namespace(tmp_path: Path) -> None:
    (tmp_path / "no-namespace").touch()
    result = run_with_stubs("create-secrets.sh", tmp_path)
    assert result.returncode != 0
    assert "namespace user-audit does not exist" in result.stderr
    assert "kubectl apply -f k8s/namespace.yaml" in result.stderr
    assert not (tmp_path / "created.yaml").exists()


def test_skaffold_status_check_tolerates_a_restart_until_its_deadline() -> None:
    """skaffold v2.24.0 pkg/skaffold/kubernetes/status/resource/deployment.go stops at
    the first terminated or restarting container (nonRetryContainerErrors) unless
    deploy.tolerateFailuresUntilDeadline is set."""
    for profile, config in skaffold_effective_configs().items():
        deploy = config["deploy"]
        assert isinstance(deploy, dict)
        assert deploy.get("tolerateFailuresUntilDeadline") is True, profile
        assert int(deploy["statusCheckDeadlineSeconds"]) >= 300, profile


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_every_disruption_budget_lets_a_drain_evict_a_pod(
    name: str, rendered: dict[str, str]
) -> None:
    manifests = Manifests(load_docs(rendered[name]))
    for budget in manifests.of_kind("PodDisruptionBudget"):
        spec = budget["spec"]
        (workload,) = manifests.selected_workloads(spec["selector"]["matchLabels"])
        replicas = int(workload["spec"].get("replicas", 1))
        if "maxUnavailable" in spec:
            assert int(spec["maxUnavailable"]) >= 1, budget["metadata"]["name"]
        else:
            assert int(spec["minAvailable"]) < replicas, (
                f"{name}: PodDisruptionBudget {budget['metadata']['name']} needs "
                f"{spec['minAvailable']} of {replicas} available: a drain never completes"
            )
