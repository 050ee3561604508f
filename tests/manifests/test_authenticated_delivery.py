"""Who may send events, in the manifests: audit's NetworkPolicy admits only the pods
that deliver (labels read from upstream at the pinned tags), and overlays/oidc wires
Knative's OIDC end to end (EventPolicy, token audiences, audit's verifier). Every
upstream name used here is listed in k8s/upstream-facts.yaml. The overlay's build,
validation, namespace and disruption budgets are checked with the other kustomizations
(tests/manifests/conftest.py KUSTOMIZATIONS)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.manifests.support import (
    REPO,
    Doc,
    Manifests,
    env_of,
    load_docs,
    read_versions,
)

KNATIVE_NAMESPACE = "knative-eventing"
# Pod labels of the deployments that deliver to a Trigger subscriber or a dead-letter sink.
DELIVERING_PODS = [
    # knative/eventing knative-v1.22.2
    # config/brokers/mt-channel-broker/deployments/broker-filter.yaml
    {"eventing.knative.dev/brokerRole": "filter"},
    # knative/eventing knative-v1.22.2
    # config/channels/in-memory-channel/deployments/dispatcher.yaml
    {
        "messaging.knative.dev/channel": "in-memory-channel",
        "messaging.knative.dev/role": "dispatcher",
    },
    # knative-extensions/eventing-kafka-broker knative-v1.22.3
    # data-plane/config/broker/500-dispatcher.yaml
    {"app": "kafka-broker-dispatcher"},
]
# knative/eventing knative-v1.22.2 pkg/apis/feature/flag_names.go and
# config/core/configmaps/features.yaml
OIDC_FLAG = "authentication-oidc"
AUDIT_AUDIENCE_ENV = "AUDIT_OIDC_AUDIENCE"


# ---------------------------------------------------------------- NetworkPolicy
def test_only_knatives_delivering_pods_reach_audit(deployable: Manifests) -> None:
    spec = deployable.get("NetworkPolicy", "audit")["spec"]
    (rule,) = spec["ingress"]
    peers = rule["from"]
    # A namespace-only peer would let any pod of knative-eventing forge records.
    assert all(set(peer) == {"namespaceSelector", "podSelector"} for peer in peers), peers
    assert all(
        peer["namespaceSelector"]
        == {"matchLabels": {"kubernetes.io/metadata.name": KNATIVE_NAMESPACE}}
        for peer in peers
    )
    assert [peer["podSelector"] for peer in peers] == [
        {"matchLabels": labels} for labels in DELIVERING_PODS
    ]
    assert [(p["protocol"], p["port"]) for p in rule["ports"]] == [("TCP", 8080)]


def test_the_kafka_pin_is_the_one_the_dispatcher_labels_were_read_at() -> None:
    # If this fails, re-read data-plane/config/broker/500-dispatcher.yaml at the new tag.
    assert read_versions()["KNATIVE_KAFKA_BROKER_VERSION"].startswith("knative-v1.22.")


# ---------------------------------------------------------------- the oidc overlay
def crd_schema(shared_dir: Path, file: str, version: str) -> Doc:
    for doc in yaml.safe_load_all((shared_dir / "k8s-schemas" / "knative" / file).read_text()):
        if doc and doc.get("kind") == "CustomResourceDefinition":
            for served in doc["spec"]["versions"]:
                if served["name"] == version:
                    schema: Doc = served["schema"]["openAPIV3Schema"]
                    return schema
    raise AssertionError(f"{file} has no version {version}")


def unknown_fields(value: Any, schema: Doc, path: str = "") -> list[str]:
    """Paths in `value` the CRD schema does not declare (the validator lets them pass)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        found = []
        for key, item in value.items():
            if key not in properties:
                found.append(f"{path}.{key}")
            else:
                found += unknown_fields(item, properties[key], f"{path}.{key}")
        return found
    if isinstance(value, list):
        return [
            f
            for i, item in enumerate(value)
            for f in unknown_fields(item, schema.get("items", {}), f"{path}[{i}]")
        ]
    return []


@pytest.mark.parametrize(
    ("kind", "file"),
    [("EventPolicy", "eventpolicy.yaml"), ("Trigger", "trigger.yaml"), ("Broker", "broker.yaml")],
)
def test_knative_objects_use_only_fields_of_the_pinned_crds(
    oidc: Manifests, shared_dir: Path, kind: str, file: str
) -> None:
    docs = [d for d in oidc.docs if d["kind"] == kind]
    assert docs
    for doc in docs:
        version = doc["apiVersion"].split("/")[1]
        assert (
            unknown_fields(doc["spec"], crd_schema(shared_dir, file, version)["properties"]["spec"])
            == []
        )


def test_only_the_user_services_identity_may_send_to_the_broker(oidc: Manifests) -> None:
    (policy,) = [d for d in oidc.docs if d["kind"] == "EventPolicy"]
    assert policy["apiVersion"] == "eventing.knative.dev/v1alpha1"
    namespace = policy["metadata"]["namespace"]
    assert policy["spec"]["to"] == [
        {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}}
    ]
    pod = oidc.get("Deployment", "user")["spec"]["template"]["spec"]
    account = pod["serviceAccountName"]
    assert policy["spec"]["from"] == [{"sub": f"system:serviceaccount:{namespace}:{account}"}]
    # Nobody else runs as that account, and Kubernetes mounts no token on its own.
    for workload in oidc.docs:
        if (
            workload["kind"] in ("Deployment", "StatefulSet")
            and workload["metadata"]["name"] != "user"
        ):
            assert workload["spec"]["template"]["spec"].get("serviceAccountName") != account
    assert oidc.get("ServiceAccount", account)["automountServiceAccountToken"] is False


def projected_file(pod: Doc, container: Doc, file: str) -> Doc:
    """The projected-volume source that provides `file` inside `container`."""
    for mount in container["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if file.startswith(prefix):
            (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            for source in volume["projected"]["sources"]:
                for kind, item in source.items():
                    paths = (
                        [item["path"]]
                        if "path" in item
                        else [i["path"] for i in item.get("items", [])]
                    )
                    if file[len(prefix) :] in paths:
                        return {kind: item}
    raise AssertionError(f"nothing is mounted at {file}")


def test_user_sends_a_token_whose_audience_is_the_brokers(oidc: Manifests) -> None:
    broker = oidc.get("Broker", "default")["metadata"]
    pod = oidc.get("Deployment", "user")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    token_file = env_of(container)["RELAY_TOKEN_FILE"]["value"]
    source = projected_file(pod, container, token_file)["serviceAccountToken"]
    # <group>/<kind>/<namespace>/<name>, lower case
    # (knative/eventing knative-v1.22.2 pkg/auth/audience.go)
    assert (
        source["audience"] == f"eventing.knative.dev/broker/{broker['namespace']}/{broker['name']}"
    )


def test_every_delivery_to_audit_names_the_audience_audit_verifies(oidc: Manifests) -> None:
    (audit,) = oidc.get("Deployment", "audit")["spec"]["template"]["spec"]["containers"]
    audience = env_of(audit)[AUDIT_AUDIENCE_ENV]["value"]
    destinations = []
    for doc in oidc.docs:
        if doc["kind"] == "Trigger":
            destinations.append(doc["spec"]["subscriber"])
        if doc["kind"] in ("Trigger", "Broker") and "delivery" in doc["spec"]:
            destinations.append(doc["spec"]["delivery"]["deadLetterSink"])
    assert len(destinations) == 5  # three subscribers, the Broker's and one Trigger's DLS
    for destination in destinations:
        assert destination["ref"]["name"] == "audit"
        assert destination["audience"] == audience


def test_audit_reads_the_issuer_with_its_own_token_and_the_cluster_ca(oidc: Manifests) -> None:
    pod = oidc.get("Deployment", "audit")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {name: item["value"] for name, item in env_of(container).items() if "value" in item}
    assert env["AUDIT_OIDC_DISCOVERY_URL"] == "https://kubernetes.default.svc"
    token = projected_file(pod, container, env["AUDIT_OIDC_TOKEN_FILE"])["serviceAccountToken"]
    assert "audience" not in token  # the API server's own audience
    ca = projected_file(pod, container, env["AUDIT_OIDC_CA_FILE"])["configMap"]
    assert ca["name"] == "kube-root-ca.crt"
    namespace = oidc.get("Deployment", "audit")["metadata"]["namespace"]
    assert env["AUDIT_OIDC_SUBJECTS"] == f"system:serviceaccount:{namespace}:*"
    egress = oidc.get("NetworkPolicy", "audit-apiserver-egress")["spec"]
    assert egress["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "audit"}}


@pytest.mark.parametrize("name", ["base", "kafka", "dev"])
def test_without_the_overlay_nothing_is_authenticated(name: str, rendered: dict[str, str]) -> None:
    manifests = Manifests(load_docs(rendered[name]))
    for app in ("user", "audit"):
        (container,) = manifests.get("Deployment", app)["spec"]["template"]["spec"]["containers"]
        names = set(env_of(container))
        assert not {n for n in names if n.startswith("AUDIT_OIDC_") or n == "RELAY_TOKEN_FILE"}
    assert not [d for d in manifests.docs if d["kind"] == "EventPolicy"]


# ---------------------------------------------------------------- hack/enable-oidc.sh
STUB_KUBECTL = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$STUB_DIR/calls"
if [[ $1 == get ]]; then cat "$STUB_DIR/flag"; fi
"""


def run_enable_oidc(
    tmp_path: Path, current: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "kubectl"
    stub.write_text(STUB_KUBECTL)
    stub.chmod(0o755)
    (tmp_path / "flag").write_text(current)
    (tmp_path / "calls").write_text("")
    bash = shutil.which("bash")
    assert bash
    result = subprocess.run(
        [bash, str(REPO / "hack" / "enable-oidc.sh")],
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STUB_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return result, (tmp_path / "calls").read_text().splitlines()


def test_enable_oidc_patches_only_the_flag_in_config_features(tmp_path: Path) -> None:
    result, calls = run_enable_oidc(tmp_path, "disabled")
    assert result.returncode == 0, result.stderr
    assert calls[-1] == (
        "patch -n knative-eventing configmap config-features --type merge "
        f'-p {{"data":{{"{OIDC_FLAG}":"enabled"}}}}'
    )


def test_enable_oidc_is_idempotent(tmp_path: Path) -> None:
    result, calls = run_enable_oidc(tmp_path, "enabled")
    assert result.returncode == 0, result.stderr
    assert [c for c in calls if c.startswith("patch")] == []
