"""Everything the cluster path applies passes the shared offline validator
(../shared/tools/validate-manifests): Kubernetes kinds strictly against the pinned
node's Kubernetes version, Knative kinds against the Knative v1.22.2 CRDs the way the
admission webhook decodes them, skaffold.yaml (and each profile) against the
skaffold/v4beta14 schema, and the kind cluster config against kind's schema."""

from __future__ import annotations

import copy
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.manifests.conftest import KUSTOMIZATIONS
from tests.manifests.support import (
    REPO,
    apply_json_patch,
    kubernetes_minor,
    kustomize_build,
    load_docs,
    read_versions,
    read_yaml,
)

KNATIVE_KINDS = {"Broker", "Trigger", "SinkBinding"}


@dataclass(frozen=True)
class ValidatorReport:
    returncode: int
    lines: list[str]
    summary: str

    def with_status(self, status: str) -> list[str]:
        return [line for line in self.lines if line.startswith(status)]


def run_validator(shared_dir: Path, *args: str, stdin: str | None = None) -> ValidatorReport:
    tool = shared_dir / "tools" / "validate-manifests"
    if not tool.is_file():
        pytest.skip(f"{tool} not found")
    result = subprocess.run(
        ["bash", str(tool), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    summary = [line for line in result.stderr.splitlines() if "document(s):" in line]
    if not summary:
        # The wrapper could not build its virtualenv (no PyPI?): a missing tool.
        pytest.skip(f"validate-manifests did not run:\n{result.stderr[-2000:]}")
    return ValidatorReport(result.returncode, result.stdout.splitlines(), summary[-1])


def assert_all_ok(report: ValidatorReport, expected_docs: int) -> None:
    problems = report.with_status("ERROR") + report.with_status("SKIP")
    assert not problems, "\n".join(problems)
    assert report.returncode == 0, report.summary
    assert len(report.with_status("OK")) == expected_docs, report.summary


@pytest.fixture(scope="module")
def k8s_minor() -> str:
    """Validate against the Kubernetes version kind runs (hack/versions.env)."""
    return kubernetes_minor(read_versions()["KIND_NODE_IMAGE"])


@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_rendered_kustomization_passes_the_validator(
    name: str, rendered: dict[str, str], shared_dir: Path, k8s_minor: str
) -> None:
    docs = load_docs(rendered[name])
    report = run_validator(shared_dir, "-k", k8s_minor, "--fail-on-skip", "-", stdin=rendered[name])
    assert_all_ok(report, len(docs))
    # The Knative objects were checked against their CRDs, not waved through.
    knative_lines = [
        line for line in report.lines if line.split()[2].split("/")[0] in KNATIVE_KINDS
    ]
    assert len(knative_lines) == sum(1 for d in docs if d["kind"] in KNATIVE_KINDS)
    assert all("crd knative/" in line for line in knative_lines), knative_lines


def test_kind_cluster_config_passes_the_validator(shared_dir: Path) -> None:
    report = run_validator(
        shared_dir, "--fail-on-skip", str(REPO / "k8s" / "kind" / "cluster.yaml")
    )
    assert_all_ok(report, 1)


def skaffold_effective_configs() -> dict[str, dict[str, object]]:
    """skaffold.yaml as is, and with each profile's patches applied (as skaffold does)."""
    config = read_yaml(REPO / "skaffold.yaml")
    effective: dict[str, dict[str, object]] = {"default": config}
    for profile in config.get("profiles", []):
        patched = copy.deepcopy(config)
        patched.pop("profiles")
        effective[profile["name"]] = apply_json_patch(patched, profile.get("patches", []))
    return effective


def test_skaffold_config_and_every_profile_pass_the_validator(
    shared_dir: Path, tmp_path: Path
) -> None:
    configs = skaffold_effective_configs()
    assert set(configs) == {"default", "dev", "kafka", "oidc"}
    paths = []
    for name, config in configs.items():
        path = tmp_path / f"skaffold-{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        paths.append(str(path))
    report = run_validator(shared_dir, "--fail-on-skip", *paths)
    assert_all_ok(report, len(paths))


@pytest.mark.parametrize("profile", ["default", "dev", "kafka", "oidc"])
def test_skaffold_profile_renders_with_its_kustomize_settings(profile: str, kubectl: Path) -> None:
    """What skaffold would run (`kustomize build <buildArgs> <path>`) succeeds."""
    manifests = skaffold_effective_configs()[profile]["manifests"]
    assert isinstance(manifests, dict)
    kustomize = manifests["kustomize"]
    for path in kustomize["paths"]:
        docs = load_docs(kustomize_build(kubectl, REPO / path, *kustomize.get("buildArgs", [])))
        assert any(d["kind"] == "Broker" for d in docs)
