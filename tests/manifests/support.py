"""Helpers for the manifest tests: find tools, build kustomizations, walk the objects.

Nothing here talks to a cluster. A missing tool is a skip (which the root conftest
turns into a failure when CI=true); `hack/install-test-tools.sh` installs them all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
TOOLS_BIN = REPO / ".tools" / "ci" / "bin"
INSTALL_HINT = "run hack/install-test-tools.sh"

Doc = dict[str, Any]


def find_tool(name: str) -> Path | None:
    """`name` on PATH, else in .tools/ci/bin (where hack/install-test-tools.sh puts it)."""
    found = shutil.which(name)
    if found:
        return Path(found)
    local = TOOLS_BIN / name
    return local if local.is_file() else None


def require_tool(name: str) -> Path:
    tool = find_tool(name)
    if tool is None:
        pytest.skip(f"{name} not found ({INSTALL_HINT})")
    return tool


def kustomize_build(kubectl: Path, path: Path, *flags: str) -> str:
    """`kubectl kustomize [flags] path`; fails the test with kustomize's own message."""
    result = subprocess.run(
        [str(kubectl), "kustomize", *flags, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {path} failed:\n{result.stderr}")
    return result.stdout


def load_docs(text: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def read_versions() -> dict[str, str]:
    """hack/versions.env as a dict (KEY=value lines; comments and blanks ignored)."""
    versions: dict[str, str] = {}
    for line in (REPO / "hack" / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            versions[key] = value
    return versions


def kubernetes_minor(node_image: str) -> str:
    """'kindest/node:v1.36.1@sha256:...' -> '1.36'."""
    match = re.search(r":v(\d+)\.(\d+)\.\d+", node_image)
    assert match, f"cannot read a Kubernetes version from {node_image!r}"
    return f"{match.group(1)}.{match.group(2)}"


@dataclass(frozen=True)
class Manifests:
    """One rendered kustomization, with lookups the tests need."""

    docs: list[Doc]

    def of_kind(self, kind: str) -> list[Doc]:
        return [d for d in self.docs if d.get("kind") == kind]

    def get(self, kind: str, name: str) -> Doc:
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name:
                return doc
        raise AssertionError(f"no {kind}/{name} in the rendered manifests")

    def workloads(self) -> list[Doc]:
        return [d for d in self.docs if d.get("kind") in ("Deployment", "StatefulSet")]

    def containers(self) -> Iterator[tuple[Doc, Doc]]:
        """(workload, container) for every container, init containers included."""
        for workload in self.workloads():
            pod = workload["spec"]["template"]["spec"]
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                yield workload, container

    def selected_workloads(self, selector: Mapping[str, str]) -> list[Doc]:
        """Workloads whose pod template labels carry every selector label."""
        return [
            w
            for w in self.workloads()
            if labels_match(selector, w["spec"]["template"]["metadata"].get("labels", {}))
        ]


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def container_port(container: Doc, port: int | str) -> int | None:
    """Resolve a probe/Service target port (number or name) against a container."""
    for declared in container.get("ports", []):
        if port in (declared["containerPort"], declared.get("name")):
            return int(declared["containerPort"])
    return None


def env_of(container: Doc) -> dict[str, Doc]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def apply_json_patch(document: Any, patch: list[Doc]) -> Any:
    """RFC 6902 add/replace/remove, enough to apply skaffold profile patches."""
    for operation in patch:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        parent = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        op = operation["op"]
        if isinstance(parent, list):
            if op == "add":
                parent.insert(len(parent) if last == "-" else int(last), operation["value"])
            elif op == "replace":
                parent[int(last)] = operation["value"]
            else:
                del parent[int(last)]
        elif op in ("add", "replace"):
            if op == "replace" and last not in parent:
                raise KeyError(f"replace of missing {operation['path']}")
            parent[last] = operation["value"]
        else:
            del parent[last]
    return document


#: Stand-ins that record every call in $STUB_DIR/calls: no cluster exists, no Secret
#: exists, and what `kubectl create -f -` is given lands in $STUB_DIR/created.yaml.
STUB_TOOLS = {
    "docker": """echo "docker $*" >> "$STUB_DIR/calls"
case "$1 $2" in
  "buildx version") [ ! -f "$STUB_DIR/no-buildx" ]; exit $? ;;
esac
""",
    "kind": """echo "kind $*" >> "$STUB_DIR/calls"
case "$1" in
  version) echo "kind v0.32.0 go1.25 linux/amd64" ;;
  get) [ -f "$STUB_DIR/cluster" ] && echo user-audit ;;
  create) touch "$STUB_DIR/cluster" ;;
esac
exit 0
""",
    # Serves a URL of hack/test-kits.lock from $KITS_SOURCE/<its path>, like the real
    # download would (the files there are ../shared's byte-for-byte copies).
    "curl": """echo "curl $*" >> "$STUB_DIR/calls"
out="" url=""
while [ $# -gt 0 ]; do
  case "$1" in -o) out=$2; shift ;; http*) url=$1 ;; esac
  shift
done
path=$(awk -v u="$url" '$3 == u {print $2}' "$KITS_LOCK")
[ -n "$path" ] && [ -f "$KITS_SOURCE/$path" ] || exit 22
cat "$KITS_SOURCE/$path" > "$out"
""",
    "kubectl": """echo "kubectl $*" >> "$STUB_DIR/calls"
case " $* " in
  *" get namespace "*) [ ! -f "$STUB_DIR/no-namespace" ]; exit $? ;;
  *" get secret "*) exit 1 ;;
  *" create -f - "*)
    cat >> "$STUB_DIR/created.yaml"
    printf -- '---\\n' >> "$STUB_DIR/created.yaml" ;;
  *" -f - "*) cat > /dev/null ;;
esac
exit 0
""",
}
#: What the scripts call besides the stubs; linked alone into PATH, so a kind or
#: kubectl installed on this machine cannot stand in for a stub.
SYSTEM_COMMANDS = (
    *("bash", "env", "awk", "cat", "dirname", "grep", "head", "od", "sleep", "tr"),
    *("mkdir", "mv", "rm", "sha256sum"),
)


def run_with_stubs(
    script: str,
    workdir: Path,
    *,
    without: tuple[str, ...] = (),
    command: list[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run hack/<script> (or `command`, from the repository) with only the stub tools
    and SYSTEM_COMMANDS on PATH."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in STUB_TOOLS.items():
        stub = bin_dir / name
        stub.unlink(missing_ok=True)
        if name not in without:
            stub.write_text("#!/usr/bin/env bash\n" + body)
            stub.chmod(0o755)
    for name in SYSTEM_COMMANDS:
        found = shutil.which(name)
        link = bin_dir / name
        if found and not link.exists():
            link.symlink_to(found)
    (workdir / "calls").unlink(missing_ok=True)
    argv = command or [str(bin_dir / "bash"), str(REPO / "hack" / script)]
    return subprocess.run(
        argv,
        cwd=REPO,
        env={"PATH": str(bin_dir), "STUB_DIR": str(workdir), "HOME": str(workdir), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@dataclass(frozen=True)
class SecretsRun:
    secrets: dict[str, dict[str, str]]
    calls: str


def run_create_secrets(workdir: Path) -> SecretsRun:
    """hack/create-secrets.sh against a stub kubectl: the Secrets it would create."""
    result = run_with_stubs("create-secrets.sh", workdir)
    assert result.returncode == 0, result.stderr
    secrets = {}
    for doc in load_docs((workdir / "created.yaml").read_text()):
        assert doc["kind"] == "Secret"
        secrets[doc["metadata"]["name"]] = doc["stringData"]
    return SecretsRun(secrets, (workdir / "calls").read_text())
