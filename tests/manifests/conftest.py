"""Rendered kustomizations shared by the manifest tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.manifests.support import (
    K8S,
    REPO,
    Manifests,
    SecretsRun,
    kustomize_build,
    load_docs,
    require_tool,
    run_create_secrets,
)

#: name -> (directory, extra `kubectl kustomize` flags: none, as users type it)
KUSTOMIZATIONS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "base": (K8S, ()),
    "kafka": (REPO / "overlays" / "kafka", ()),
    "dev": (REPO / "overlays" / "dev", ()),
    "oidc": (REPO / "overlays" / "oidc", ()),
}


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return require_tool("kubectl")


@pytest.fixture(scope="session")
def rendered(kubectl: Path) -> dict[str, str]:
    """`kubectl kustomize` output of the base and of each overlay."""
    return {
        name: kustomize_build(kubectl, path, *flags)
        for name, (path, flags) in KUSTOMIZATIONS.items()
    }


@pytest.fixture(scope="session")
def base(rendered: dict[str, str]) -> Manifests:
    return Manifests(load_docs(rendered["base"]))


@pytest.fixture(scope="session")
def kafka(rendered: dict[str, str]) -> Manifests:
    return Manifests(load_docs(rendered["kafka"]))


@pytest.fixture(scope="session")
def dev(rendered: dict[str, str]) -> Manifests:
    return Manifests(load_docs(rendered["dev"]))


@pytest.fixture(scope="session")
def oidc(rendered: dict[str, str]) -> Manifests:
    return Manifests(load_docs(rendered["oidc"]))


@pytest.fixture(scope="session", params=["base", "kafka", "oidc"])
def deployable(request: pytest.FixtureRequest, rendered: dict[str, str]) -> Manifests:
    """The manifests meant for shared clusters (the dev overlay relaxes some rules)."""
    return Manifests(load_docs(rendered[request.param]))


@pytest.fixture(scope="session")
def secrets_run(tmp_path_factory: pytest.TempPathFactory) -> SecretsRun:
    """What hack/create-secrets.sh creates on a cluster that has none yet."""
    return run_create_secrets(tmp_path_factory.mktemp("create-secrets"))


@pytest.fixture(scope="session")
def generated_secrets(secrets_run: SecretsRun) -> dict[str, dict[str, str]]:
    return secrets_run.secrets
