"""The cluster target's decisions, on documents shaped like the API server's."""

from __future__ import annotations

import copy

import pytest

from tests.e2e import k8s_status as ks
from tests.unit.e2e_support import documents as docs


class TestKnativeReady:
    def test_ready_broker(self) -> None:
        verdict = ks.knative_ready(docs.BROKER_READY)
        assert verdict.ok
        assert verdict.why == "Broker user-audit/default: Ready=True"

    def test_broker_without_ingress_endpoints_names_the_failing_conditions(self) -> None:
        verdict = ks.knative_ready(docs.broker_ingress_down())
        assert not verdict.ok
        assert "IngressReady=False (EndpointsUnavailable" in verdict.why
        assert "Ready=False" in verdict.why
        # Conditions that are fine are not noise in the message.
        assert "FilterReady" not in verdict.why

    def test_status_not_written_yet(self) -> None:
        verdict = ks.knative_ready(docs.broker_just_created())
        assert not verdict.ok
        assert "observedGeneration None < generation 1" in verdict.why

    def test_stale_status_is_not_ready_even_if_it_says_ready(self) -> None:
        verdict = ks.knative_ready(docs.broker_spec_changed())
        assert not verdict.ok
        assert "observedGeneration 1 < generation 2" in verdict.why

    def test_no_ready_condition(self) -> None:
        doc = docs.broker_just_created()
        doc["status"] = {"observedGeneration": 1, "conditions": []}
        assert ks.knative_ready(doc) == ks.Verdict(
            False, "Broker user-audit/default: no Ready condition yet"
        )

    def test_ready_unknown_without_other_problems_reports_ready_itself(self) -> None:
        doc = docs.trigger("t", "user.storeUser")
        for entry in doc["status"]["conditions"]:
            if entry["type"] == "Ready":
                entry.update(status="Unknown", reason="Pending")
        verdict = ks.knative_ready(doc)
        assert not verdict.ok
        assert verdict.why.endswith("Ready=Unknown (Pending)")

    def test_trigger_ready_and_not(self) -> None:
        assert ks.knative_ready(docs.trigger("audit-user-created", "user.storeUser")).ok
        verdict = ks.knative_ready(
            docs.trigger("audit-user-created", "user.storeUser", ready=False)
        )
        assert not verdict.ok
        assert (
            "SubscriberResolved=False (Unable to get the Subscriber's URI: "
            'services "audit" not found)' in verdict.why
        )

    def test_trigger_broker_does_not_exist(self) -> None:
        verdict = ks.knative_ready(docs.trigger_broker_missing("audit-user-created"))
        assert "BrokerReady=False (BrokerDoesNotExist" in verdict.why

    def test_sinkbinding(self) -> None:
        assert ks.knative_ready(docs.SINKBINDING_READY).ok
        verdict = ks.knative_ready(docs.sinkbinding_broker_missing())
        assert not verdict.ok
        assert "SinkProvided=False (NotFound" in verdict.why
        assert "BindingAvailable=Unknown" in verdict.why

    def test_all_ready_requires_every_expected_name(self) -> None:
        names = ["audit-user-created", "audit-user-updated", "audit-user-deleted"]
        items = [
            docs.trigger(names[0], "user.storeUser"),
            docs.trigger(names[1], "user.updateUser"),
        ]
        verdict = ks.all_ready(items, expected=names)
        assert not verdict.ok
        assert verdict.why.startswith("missing: audit-user-deleted")
        items.append(docs.trigger(names[2], "user.deleteUser"))
        assert ks.all_ready(items, expected=names).ok
        items[1] = docs.trigger(names[1], "user.updateUser", ready=False)
        assert "Trigger user-audit/audit-user-updated" in ks.all_ready(items, expected=names).why

    def test_all_ready_of_nothing_is_not_ready(self) -> None:
        assert not ks.all_ready([]).ok


class TestDeploymentAvailable:
    def test_available(self) -> None:
        verdict = ks.deployment_available(docs.DEPLOYMENT_AVAILABLE)
        assert verdict.ok
        assert "want 2, updated 2, total 2, available 2" in verdict.why

    @pytest.mark.parametrize(
        ("document", "expected"),
        [
            (docs.deployment_rolling, "rollout in progress"),
            (docs.deployment_old_pod_left, "old replicas still running"),
            (docs.deployment_not_observed, "observedGeneration 2 < generation 3"),
            (docs.deployment_deadline_exceeded, "ProgressDeadlineExceeded"),
            (docs.deployment_starting, "replicas not yet available"),
        ],
    )
    def test_not_available(self, document: object, expected: str) -> None:
        verdict = ks.deployment_available(document())  # type: ignore[operator]
        assert not verdict.ok
        assert expected in verdict.why

    def test_scaled_to_zero_is_done(self) -> None:
        assert ks.deployment_available(docs.deployment_scaled_to_zero()).ok

    def test_available_condition_false_with_counts_that_look_fine(self) -> None:
        doc = docs.deployment_starting()
        doc["status"]["availableReplicas"] = 2
        verdict = ks.deployment_available(doc)
        assert not verdict.ok
        assert "Available=False (MinimumReplicasUnavailable" in verdict.why

    def test_typed_model_from_the_client(self) -> None:
        model = docs.to_model(docs.DEPLOYMENT_AVAILABLE, "V1Deployment")
        assert ks.deployment_available(model).ok
        model = docs.to_model(docs.deployment_rolling(), "V1Deployment")
        verdict = ks.deployment_available(model)
        assert not verdict.ok
        assert verdict.why.startswith("Deployment user-audit/audit: rollout in progress")


class TestPods:
    def test_pod_ready(self) -> None:
        assert ks.pod_ready(docs.pod("audit-1"))
        assert not ks.pod_ready(docs.pod("audit-1", ready=False))
        assert not ks.pod_ready(docs.pod("audit-1", terminating=True))
        assert not ks.pod_ready(docs.pod("audit-1", phase="Pending", ready=False))

    def test_pods_gone_counts_terminating_pods(self) -> None:
        assert ks.pods_gone([]).ok
        verdict = ks.pods_gone([docs.to_model(docs.pod("audit-1", terminating=True), "V1Pod")])
        assert not verdict.ok
        assert verdict.why == "still present: audit-1 (Running, terminating)"

    def test_select_pod_resolves_named_target_port(self) -> None:
        pods = [
            docs.pod("audit-b"),
            docs.pod("audit-a", ready=False),
            docs.pod("audit-c", terminating=True),
            docs.pod("user-x", labels={"app.kubernetes.io/name": "user"}),
        ]
        assert ks.select_pod(docs.AUDIT_SERVICE, pods, "http") == ("audit-b", 8080)
        assert ks.select_pod(docs.AUDIT_SERVICE, pods, 80) == ("audit-b", 8080)

    def test_select_pod_numeric_target_port(self) -> None:
        labels = {"eventing.knative.dev/brokerRole": "ingress"}
        pods = [
            docs.pod("broker-ingress-7d9", labels=labels, port_name="http", port=8080),
            docs.pod("broker-ingress-2ab", labels=labels, port_name="http", port=8080),
        ]
        assert ks.select_pod(docs.BROKER_INGRESS_SERVICE, pods, 80) == ("broker-ingress-2ab", 8080)
        assert ks.select_pod(docs.BROKER_INGRESS_SERVICE, pods, "http-metrics")[1] == 9092

    def test_select_pod_with_typed_models(self) -> None:
        service = docs.to_model(docs.AUDIT_SERVICE, "V1Service")
        pods = [docs.to_model(docs.pod("audit-b"), "V1Pod")]
        assert ks.select_pod(service, pods, "http") == ("audit-b", 8080)

    def test_select_pod_none_ready_says_why(self) -> None:
        pods = [docs.pod("audit-a", ready=False, waiting="CrashLoopBackOff")]
        with pytest.raises(
            LookupError, match=r"no ready pod behind Service audit: .*CrashLoopBackOff"
        ):
            ks.select_pod(docs.AUDIT_SERVICE, pods, "http")
        with pytest.raises(LookupError, match="no pods"):
            ks.select_pod(docs.AUDIT_SERVICE, [], "http")

    def test_select_pod_unknown_port(self) -> None:
        with pytest.raises(LookupError, match="has no port 9999"):
            ks.select_pod(docs.AUDIT_SERVICE, [docs.pod("audit-a")], 9999)

    def test_named_port_missing_in_pod(self) -> None:
        with pytest.raises(LookupError, match="no container port named http"):
            ks.select_pod(docs.AUDIT_SERVICE, [docs.pod("audit-a", port_name="web")], "http")

    def test_pod_summary(self) -> None:
        line = ks.pod_summary(docs.pod("audit-a", ready=False, waiting="CrashLoopBackOff"))
        assert line.startswith("audit-a: Running, not ready, audit restarts=4")
        assert "waiting=CrashLoopBackOff (back-off 1m20s" in line
        assert "last=Error exit=2" in line


def test_label_selector() -> None:
    assert ks.label_selector({"b": "2", "a": "1"}) == "a=1,b=2"


def test_conditions_report_lists_every_condition() -> None:
    report = ks.conditions_report(docs.broker_ingress_down())
    lines = report.splitlines()
    assert lines[0] == "Broker user-audit/default"
    assert (
        '  IngressReady=False (EndpointsUnavailable: Endpoints "broker-ingress" are unavailable.)'
        in lines
    )
    assert "  FilterReady=True" in lines
    assert len(lines) == 1 + len(docs.BROKER_READY["status"]["conditions"])


@pytest.mark.parametrize(
    ("plane", "service"),
    [(docs.MT_CHANNEL_BROKER, "broker-ingress"), (docs.KAFKA_BROKER, "kafka-broker-ingress")],
)
def test_broker_ingress_is_the_service_the_brokers_address_names(
    plane: docs.IngressPlane, service: str
) -> None:
    broker = docs.broker_of(plane, docs.BROKER_READY)
    assert ks.broker_ingress(broker) == ks.ServiceAddress(
        "knative-eventing", service, 80, "/user-audit/default"
    )
    with pytest.raises(LookupError, match=r"no status\.address\.url"):
        ks.broker_ingress(docs.broker_just_created())


@pytest.mark.parametrize("plane", [docs.MT_CHANNEL_BROKER, docs.KAFKA_BROKER])
def test_deployments_behind_a_service_by_its_selector_not_its_name(
    plane: docs.IngressPlane,
) -> None:
    """Upstream: Service broker-ingress selects Deployment mt-broker-ingress's pods."""
    ingress = copy.deepcopy(docs.DEPLOYMENT_AVAILABLE)
    ingress["metadata"]["name"] = plane.deployment
    ingress["spec"]["template"]["metadata"]["labels"] = plane.pod_labels
    audit = docs.DEPLOYMENT_AVAILABLE
    assert ks.deployments_behind(plane.service, [audit, ingress]) == [plane.deployment]
    assert plane.deployment != plane.service["metadata"]["name"]
    with pytest.raises(LookupError, match="no Deployment behind Service"):
        ks.deployments_behind(plane.service, [audit])
