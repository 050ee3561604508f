"""How the three services find each other, for `make run`, the tests and the bench.

The user service sends to the Broker ingress (`K_SINK`), whose path is the Broker's
namespace and name in the manifests, as in a cluster; the broker resolves the
Triggers' Service `ref`s (`audit`, `user`) to local addresses (`BROKER_SERVICES`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from devstack.processes import REPO

BROKER_MANIFESTS = ("k8s/broker.yaml", "k8s/triggers.yaml")
SERVICES = ("broker", "audit", "user")


def service_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def broker_address(repo: Path = REPO, *, manifests: Sequence[Path] = ()) -> tuple[str, str]:
    """(namespace, name) of the first Broker in `manifests` (default: the repository's).

    Raises LookupError when there is none, OSError or yaml.YAMLError when a file
    cannot be read; the broker itself validates everything else when it starts."""
    paths = list(manifests) or [repo / manifest for manifest in BROKER_MANIFESTS]
    for path in paths:
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "Broker":
                meta = document.get("metadata")
                if isinstance(meta, dict) and meta.get("name"):
                    return str(meta.get("namespace") or "default"), str(meta["name"])
    raise LookupError(f"no Broker with a metadata.name in {', '.join(map(str, paths))}")


def wiring(
    ports: Mapping[str, int], manifests: Sequence[Path], *, extra_services: str = ""
) -> dict[str, dict[str, str]]:
    """Per service (`SERVICES`), the variables that connect it to the other two.

    `ports`: where each service listens; `manifests`: what the broker reads;
    `extra_services`: more `name=url` pairs for BROKER_SERVICES (comma-separated)."""
    namespace, name = broker_address(manifests=manifests)
    services = ",".join(f"{service}={service_url(ports[service])}" for service in ("audit", "user"))
    if extra_services:
        services = f"{services},{extra_services}"
    return {
        "audit": {},
        "broker": {
            "BROKER_MANIFESTS": ",".join(str(path) for path in manifests),
            "BROKER_SERVICES": services,
        },
        "user": {"K_SINK": f"{service_url(ports['broker'])}/{namespace}/{name}"},
    }
