"""k8s/upstream-facts.yaml against the code and manifests: every upstream name they rely
on is listed once with where it was read, at the tag hack/versions.env pins, and the
files that use a fact still say the same. The fake API server holds the same objects."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.manifests.support import REPO, read_versions, read_yaml
from tests.unit.e2e_support import documents as docs

FACTS_FILE = REPO / "k8s" / "upstream-facts.yaml"
#: Which pin in hack/versions.env a repository's tag must equal.
PINNED_BY = {
    "knative/eventing": "KNATIVE_EVENTING_VERSION",
    "knative-extensions/eventing-kafka-broker": "KNATIVE_KAFKA_BROKER_VERSION",
    "projectcontour/contour": "CONTOUR_VERSION",
    "kubernetes-sigs/kind": "KIND_VERSION",
    "GoogleContainerTools/skaffold": "SKAFFOLD_VERSION",
}
#: Kubernetes itself: the release the pinned kind node image runs.
NODE_RELEASE = "kubernetes/kubernetes"
#: knative/pkg has no release tags of its own: the commit knative/eventing's go.mod pins.
UNTAGGED = {"knative/pkg"}
FIELDS = {"name", "value", "what", "repo", "tag", "path", "used_in"}
#: Where the project relies on upstream names: manifests, scripts, workflows, e2e code.
SCANNED = [
    *sorted((REPO / "k8s").rglob("*.yaml")),
    *sorted((REPO / "overlays").rglob("*.yaml")),
    REPO / "skaffold.yaml",
    *sorted((REPO / "hack").glob("*")),
    *sorted((REPO / ".github" / "workflows").glob("*.yaml")),
    *sorted((REPO / "tests" / "e2e").glob("*.py")),
    *sorted((REPO / "tests" / "unit" / "e2e_support").glob("*.py")),
]
#: Label, annotation and API keys of Knative and Contour (not URLs: no `/` or `.` before).
UPSTREAM_KEY = re.compile(
    r"(?<![\w./-])(?:[a-z-]+\.)*(?:knative\.dev|projectcontour\.io)/[A-Za-z][\w.-]*"
)


def load_facts() -> list[dict[str, Any]]:
    facts: list[dict[str, Any]] = read_yaml(FACTS_FILE)
    return facts


def fact(name: str) -> str:
    (found,) = [f["value"] for f in load_facts() if f["name"] == name]
    return str(found)


def test_every_fact_says_where_it_was_read_at_the_pinned_tag() -> None:
    facts = load_facts()
    assert isinstance(facts, list)
    duplicates = [n for n, c in Counter(f.get("name") for f in facts).items() if c > 1]
    assert not duplicates, duplicates
    versions = read_versions()
    for entry in facts:
        assert set(entry) == FIELDS, entry
        repo, tag = entry["repo"], entry["tag"]
        if repo in UNTAGGED:
            assert re.fullmatch(r"[0-9a-f]{40}", tag), entry["name"]
        elif repo == NODE_RELEASE:
            node_tag = versions["KIND_NODE_IMAGE"].split("@")[0].rsplit(":", 1)[1]
            assert tag == node_tag, f"{entry['name']}: re-read it at the node's release"
        else:
            assert tag == versions[PINNED_BY[repo]], f"{entry['name']}: re-read it at the pin"
        assert not Path(entry["path"]).is_absolute(), entry["name"]


@pytest.mark.parametrize("entry", load_facts(), ids=lambda f: f["name"])
def test_files_that_use_a_fact_still_say_it(entry: dict[str, Any]) -> None:
    assert entry["used_in"], entry["name"]
    for used in entry["used_in"]:
        text = (REPO / used).read_text()
        assert str(entry["value"]) in text, f"{used} no longer says {entry['value']!r}"


def test_every_knative_and_contour_key_in_use_is_a_listed_fact() -> None:
    listed = {str(f["value"]) for f in load_facts()}
    unlisted = {
        f"{match} ({path.relative_to(REPO)})"
        for path in SCANNED
        if path.is_file() and path != FACTS_FILE
        for match in UPSTREAM_KEY.findall(path.read_text())
        if match not in listed
    }
    assert not unlisted, "read these upstream and list them in k8s/upstream-facts.yaml:\n" + (
        "\n".join(sorted(unlisted))
    )


@pytest.mark.parametrize(
    ("plane", "prefix"),
    [(docs.MT_CHANNEL_BROKER, "knative.mt-broker"), (docs.KAFKA_BROKER, "kafka")],
)
def test_the_fake_api_server_holds_upstreams_ingress_objects(
    plane: docs.IngressPlane, prefix: str
) -> None:
    if prefix == "kafka":
        service, deployment, address = (
            "kafka.ingress-service",
            "kafka.ingress-deployment",
            "kafka.address",
        )
        assert plane.broker_class == fact("kafka.broker-class")
        assert plane.selector == {"app": fact("kafka.ingress-deployment")}
    else:
        service = "knative.mt-broker-ingress-service"
        deployment = "knative.mt-broker-ingress-deployment"
        address = "knative.mt-broker-address"
        assert plane.broker_class == fact("knative.mt-broker-class")
        assert plane.selector == {fact("knative.mt-broker-ingress-selector"): "ingress"}
    assert plane.service["metadata"]["name"] == fact(service)
    assert plane.service["metadata"]["namespace"] == fact("knative.namespace")
    assert plane.service["spec"]["selector"] == plane.selector
    assert plane.deployment == fact(deployment)
    assert plane.address == fact(address)
    assert all(plane.pod_labels[k] == v for k, v in plane.selector.items())


def test_the_ingress_annotation_and_broker_classes_come_from_the_list() -> None:
    ingress = read_yaml(REPO / "k8s" / "user" / "ingress.yaml")
    assert fact("contour.response-timeout") in ingress["metadata"]["annotations"]
    assert ingress["spec"]["ingressClassName"] == fact("contour.ingress-class")
    broker = read_yaml(REPO / "k8s" / "broker.yaml")
    annotations = broker["metadata"]["annotations"]
    assert annotations[fact("knative.broker-class-annotation")] == fact("knative.mt-broker-class")
    assert read_versions()["KIND_NODE_IMAGE"] == fact("kind.node-image")
