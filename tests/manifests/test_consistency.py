"""Cross-checks between the rendered manifests, skaffold.yaml, the Dockerfiles and
hack/: the links a schema cannot see (a Trigger's subscriber really reaches audit's
container port, the SinkBinding really selects user, every Secret key exists, ...)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.manifests.support import (
    REPO,
    Doc,
    Manifests,
    container_port,
    env_of,
    labels_match,
    read_versions,
    read_yaml,
    run_create_secrets,
)

NAMESPACE = "user-audit"
PART_OF = "app.kubernetes.io/part-of"
APP_IMAGES = {"user": "knative-user-audit/user", "audit": "knative-user-audit/audit"}
APP_PORTS = {"user": 3000, "audit": 8080}
EVENT_TYPES = {"user.storeUser", "user.updateUser", "user.deleteUser"}
SECRET_LIKE = re.compile(r"PASSWORD|TOKEN|SECRET|DATABASE_URL|PRIVATE_KEY|CREDENTIAL", re.I)


def image_repository(image: str) -> str:
    """'knative-user-audit/user:dev' -> 'knative-user-audit/user' (digest/tag dropped)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def app_container(manifests: Manifests, app: str) -> Doc:
    workload = manifests.get("Deployment", app)
    containers: list[Doc] = workload["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == [app]
    return containers[0]


def service_reaches(manifests: Manifests, service_name: str, port: int = 80) -> int:
    """The container port that `service_name:port` forwards to (asserting it exists)."""
    service = manifests.get("Service", service_name)
    ports = [p for p in service["spec"]["ports"] if p["port"] == port]
    assert ports, f"Service {service_name} has no port {port}"
    targets = manifests.selected_workloads(service["spec"]["selector"])
    assert targets, f"Service {service_name} selects no workload"
    resolved = set()
    for workload in targets:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            number = container_port(container, ports[0].get("targetPort", port))
            if number is not None:
                resolved.add(number)
    assert len(resolved) == 1, f"Service {service_name} port {port} reaches {resolved}"
    return resolved.pop()


def trigger_types(trigger: Doc) -> set[str]:
    spec = trigger["spec"]
    types = set()
    if "type" in spec.get("filter", {}).get("attributes", {}):
        types.add(spec["filter"]["attributes"]["type"])
    for element in spec.get("filters", []):
        if "type" in element.get("exact", {}):
            types.add(element["exact"]["type"])
    return types


# ---------------------------------------------------------------- Broker / Triggers
def test_every_trigger_delivers_to_audits_sink_port(deployable: Manifests) -> None:
    triggers = deployable.of_kind("Trigger")
    assert triggers
    for trigger in triggers:
        ref = trigger["spec"]["subscriber"]["ref"]
        assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("v1", "Service", "audit")
        assert ref.get("namespace", NAMESPACE) == trigger["metadata"]["namespace"]
        # Knative addresses a Service ref as http://<name>.<ns>.svc, i.e. port 80.
        assert service_reaches(deployable, "audit") == APP_PORTS["audit"]


def test_triggers_cover_every_user_event_type_once_with_both_filter_dialects(
    deployable: Manifests,
) -> None:
    triggers = deployable.of_kind("Trigger")
    covered = [t for trigger in triggers for t in trigger_types(trigger)]
    assert sorted(covered) == sorted(EVENT_TYPES)
    assert any("filter" in t["spec"] for t in triggers)
    assert any("filters" in t["spec"] for t in triggers)
    broker = deployable.get("Broker", "default")
    assert {t["spec"]["broker"] for t in triggers} == {broker["metadata"]["name"]}


def test_failed_deliveries_always_reach_audits_dead_letter_endpoint(
    deployable: Manifests,
) -> None:
    broker = deployable.get("Broker", "default")
    delivery_specs = [broker["spec"]["delivery"]]
    # A Trigger's delivery replaces the Broker's as a whole, so it must name a DLS too.
    delivery_specs += [
        t["spec"]["delivery"] for t in deployable.of_kind("Trigger") if "delivery" in t["spec"]
    ]
    for delivery in delivery_specs:
        sink = delivery["deadLetterSink"]
        assert sink["ref"] == {"apiVersion": "v1", "kind": "Service", "name": "audit"}
        assert sink["uri"] == "/dead-letter"
        assert delivery["backoffPolicy"] == "exponential"
        assert delivery["retry"] >= 1


def test_broker_class_is_in_memory_in_the_base_and_kafka_in_the_kafka_overlay(
    base: Manifests, kafka: Manifests
) -> None:
    annotation = "eventing.knative.dev/broker.class"
    assert base.get("Broker", "default")["metadata"]["annotations"][annotation] == (
        "MTChannelBasedBroker"
    )
    broker = kafka.get("Broker", "default")
    assert broker["metadata"]["annotations"][annotation] == "Kafka"
    ref = broker["spec"]["config"]
    config = kafka.get("ConfigMap", ref["name"])
    assert (ref["kind"], ref["namespace"]) == ("ConfigMap", config["metadata"]["namespace"])
    required = {"bootstrap.servers", "default.topic.partitions", "default.topic.replication.factor"}
    assert required <= set(config["data"])


def test_the_local_broker_accepts_broker_and_triggers_yaml() -> None:
    """The local broker reads the same two files and refuses what it cannot honour."""
    manifests = pytest.importorskip("broker.manifests")
    config = manifests.load_config(
        [REPO / "k8s" / "broker.yaml", REPO / "k8s" / "triggers.yaml"],
        {"audit": "http://127.0.0.1:8080"},
    )
    assert len(config.triggers) == len(EVENT_TYPES)


# ---------------------------------------------------------------- SinkBinding, Ingress
def test_sinkbinding_binds_only_the_user_deployment_to_the_broker(deployable: Manifests) -> None:
    (binding,) = deployable.of_kind("SinkBinding")
    subject = binding["spec"]["subject"]
    assert (subject["apiVersion"], subject["kind"]) == ("apps/v1", "Deployment")
    selector = subject["selector"]["matchLabels"]
    bound = [
        d["metadata"]["name"]
        for d in deployable.of_kind("Deployment")
        if labels_match(selector, d["metadata"].get("labels", {}))
    ]
    assert bound == ["user"]
    sink = binding["spec"]["sink"]["ref"]
    assert (sink["apiVersion"], sink["kind"]) == ("eventing.knative.dev/v1", "Broker")
    deployable.get("Broker", sink["name"])


def test_ingress_routes_the_user_api_paths_to_users_container_port(deployable: Manifests) -> None:
    (ingress,) = deployable.of_kind("Ingress")
    assert ingress["spec"]["ingressClassName"] == "contour"
    paths = {}
    for rule in ingress["spec"]["rules"]:
        assert "host" not in rule, "no host rule, so http://localhost matches on kind"
        for path in rule["http"]["paths"]:
            paths[path["path"]] = path["backend"]["service"]
    assert {"/v1/user", "/v1/users", "/v1/schemas"} <= set(paths)
    for backend in paths.values():
        assert backend["name"] == "user"
        port = backend["port"].get("number") or next(
            p["port"]
            for p in deployable.get("Service", "user")["spec"]["ports"]
            if p["name"] == backend["port"]["name"]
        )
        assert service_reaches(deployable, "user", port) == APP_PORTS["user"]


# ---------------------------------------------------------------- workloads
def test_every_project_image_is_a_skaffold_artifact_and_vice_versa(deployable: Manifests) -> None:
    artifacts = {a["image"] for a in read_yaml(REPO / "skaffold.yaml")["build"]["artifacts"]}
    used = set()
    for _, container in deployable.containers():
        repository = image_repository(container["image"])
        if repository.startswith("knative-user-audit/"):
            used.add(repository)
        else:
            # Third-party images carry an explicit tag, never the moving "latest".
            assert ":" in container["image"], container["image"]
            assert not container["image"].endswith(":latest"), container["image"]
        assert container.get("imagePullPolicy") == "IfNotPresent"
    assert used == artifacts == set(APP_IMAGES.values())


def test_app_containers_listen_where_the_dockerfile_and_probes_say(deployable: Manifests) -> None:
    for app, port in APP_PORTS.items():
        container = app_container(deployable, app)
        assert container_port(container, "http") == port
        assert env_of(container)["PORT"]["value"] == str(port)
        assert env_of(container)["HOST"]["value"] == "0.0.0.0"
        dockerfile = (REPO / app / "Dockerfile").read_text()
        assert f"EXPOSE {port}" in dockerfile
        assert f'CMD ["python", "-m", "{app}"]' in dockerfile
        for probe, path in (
            ("readinessProbe", "/readyz"),
            ("livenessProbe", "/healthz"),
            ("startupProbe", "/healthz"),
        ):
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{app} {probe}"
            assert container_port(container, get["port"]) == port


def test_every_container_has_probes_and_bounded_resources(deployable: Manifests) -> None:
    for workload, container in deployable.containers():
        where = f"{workload['metadata']['name']}/{container['name']}"
        assert "readinessProbe" in container, where
        assert "livenessProbe" in container, where
        resources = container["resources"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[bound]), f"{where} {bound}"


def test_every_container_is_locked_down(deployable: Manifests) -> None:
    for workload, container in deployable.containers():
        where = f"{workload['metadata']['name']}/{container['name']}"
        pod = workload["spec"]["template"]["spec"]
        context = container["securityContext"]
        assert pod["automountServiceAccountToken"] is False, where
        assert context["runAsNonRoot"] is True, where
        assert context["runAsUser"] > 0, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["capabilities"]["drop"] == ["ALL"], where
        assert "add" not in context["capabilities"], where
        seccomp = context.get("seccompProfile") or pod["securityContext"]["seccompProfile"]
        assert seccomp["type"] == "RuntimeDefault", where
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{where}: /tmp must be an emptyDir"


def test_app_containers_run_as_the_images_uid(deployable: Manifests) -> None:
    for app in APP_PORTS:
        context = app_container(deployable, app)["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (10001, 10001)
        assert "USER 10001:10001" in (REPO / app / "Dockerfile").read_text()


def test_apps_get_the_environment_they_require(deployable: Manifests) -> None:
    user = env_of(app_container(deployable, "user"))
    audit = env_of(app_container(deployable, "audit"))
    for env in (user, audit):
        assert env["LOG_LEVEL"]["value"] in {"debug", "info", "warning", "error"}
        assert int(env["MAX_BODY_BYTES"]["value"]) >= 1024
        assert "secretKeyRef" in env["DATABASE_URL"]["valueFrom"]
    assert user["EVENT_MODE"]["value"] in {"binary", "structured"}
    assert user["EVENT_SOURCE"]["value"] == "/apis/v1/namespaces/$(POD_NAMESPACE)/user"
    assert user["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    base_url = urlparse(user["PUBLIC_BASE_URL"]["value"])
    assert base_url.scheme in {"http", "https"}
    assert base_url.netloc
    # The SinkBinding injects these; a literal value would shadow the binding.
    assert "K_SINK" not in user
    assert "K_CE_OVERRIDES" not in user
    assert user["USER_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["optional"] is True
    # Without its token audit would serve every event to anyone: the Secret is required.
    assert not audit["AUDIT_READ_TOKEN"]["valueFrom"]["secretKeyRef"].get("optional")


def test_no_secret_value_is_written_in_the_manifests(deployable: Manifests) -> None:
    assert not deployable.of_kind("Secret"), "Secrets are generated by hack/create-secrets.sh"
    for workload, container in deployable.containers():
        for name, entry in env_of(container).items():
            if SECRET_LIKE.search(name) and name.endswith("_FILE"):
                # A path to a mounted file (a projected token), never the secret itself.
                mounts = [m["mountPath"].rstrip("/") + "/" for m in container["volumeMounts"]]
                assert any(entry["value"].startswith(m) for m in mounts), name
            elif SECRET_LIKE.search(name):
                assert "value" not in entry, f"{workload['metadata']['name']}: {name} in clear"
                assert "secretKeyRef" in entry["valueFrom"], name


def test_workloads_with_more_than_one_replica_have_a_disruption_budget(
    deployable: Manifests,
) -> None:
    budgets = deployable.of_kind("PodDisruptionBudget")
    for workload in deployable.workloads():
        if workload["spec"].get("replicas", 1) > 1:
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert any(
                labels_match(b["spec"]["selector"]["matchLabels"], labels) for b in budgets
            ), workload["metadata"]["name"]
    for budget in budgets:
        assert deployable.selected_workloads(budget["spec"]["selector"]["matchLabels"])


def test_everything_is_in_one_restricted_namespace(deployable: Manifests) -> None:
    # k8s/namespace.yaml is applied by hack/cluster-up.sh, not deployed with the rest.
    namespace = read_yaml(REPO / "k8s" / "namespace.yaml")
    assert namespace["metadata"]["name"] == NAMESPACE
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in deployable.docs:
        assert doc["metadata"]["namespace"] == NAMESPACE, doc["metadata"]["name"]
        # What `kubectl get all -l app.kubernetes.io/part-of=...` and cleanups select.
        labels = doc["metadata"].get("labels", {})
        assert labels.get(PART_OF) == "knative-user-audit", doc["metadata"]["name"]


# ---------------------------------------------------------------- NetworkPolicies
def policy(manifests: Manifests, name: str) -> Doc:
    spec: Doc = manifests.get("NetworkPolicy", name)["spec"]
    return spec


def peers_namespace(rule: Doc) -> set[str]:
    peers: list[Doc] = rule["from"] if "from" in rule else rule["to"]
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in peers
        if "namespaceSelector" in peer
    }


def test_network_policies_deny_by_default_and_allow_dns(deployable: Manifests) -> None:
    deny = policy(deployable, "default-deny")
    assert deny["podSelector"] == {}
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny
    assert "egress" not in deny
    dns = policy(deployable, "allow-dns-egress")
    assert peers_namespace(dns["egress"][0]) == {"kube-system"}
    assert {(p["protocol"], p["port"]) for p in dns["egress"][0]["ports"]} == {
        ("UDP", 53),
        ("TCP", 53),
    }


def test_only_the_ingress_controller_reaches_user_and_only_knative_reaches_audit(
    deployable: Manifests,
) -> None:
    for app, allowed in (("user", "projectcontour"), ("audit", "knative-eventing")):
        spec = policy(deployable, app)
        assert deployable.selected_workloads(spec["podSelector"]["matchLabels"]) == [
            deployable.get("Deployment", app)
        ]
        (rule,) = spec["ingress"]
        assert peers_namespace(rule) == {allowed}
        assert [p["port"] for p in rule["ports"]] == [APP_PORTS[app]]


def test_postgres_is_reachable_only_from_user_and_audit(deployable: Manifests) -> None:
    spec = policy(deployable, "postgres")
    (rule,) = spec["ingress"]
    sources = {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"]
    }
    assert sources == {"user", "audit"}
    postgres = deployable.get("StatefulSet", "postgres")["spec"]["template"]["spec"]
    assert [p["port"] for p in rule["ports"]] == [
        container_port(postgres["containers"][0], "postgres")
    ]
    for app in ("user", "audit"):
        egress_ports = {p["port"] for r in policy(deployable, app)["egress"] for p in r["ports"]}
        assert 5432 in egress_ports, app


# ---------------------------------------------------------------- Secrets and PostgreSQL
def test_every_required_secret_key_is_created_by_hack(
    deployable: Manifests, generated_secrets: dict[str, dict[str, str]]
) -> None:
    for workload, container in deployable.containers():
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                where = f"{workload['metadata']['name']}: {entry['name']}"
                assert ref["key"] in generated_secrets.get(ref["name"], {}), where


def test_generated_database_urls_match_the_database_and_role(
    deployable: Manifests, generated_secrets: dict[str, dict[str, str]]
) -> None:
    service = deployable.get("Service", "postgres")
    for name in ("user-db", "audit-db"):
        secret = generated_secrets[name]
        url = urlparse(secret["DATABASE_URL"])
        assert url.scheme == "postgresql+asyncpg"
        assert (url.username, url.password) == (secret["username"], secret["password"])
        assert url.path == "/" + secret["database"]
        assert url.hostname == f"{service['metadata']['name']}.{NAMESPACE}.svc.cluster.local"
        assert url.port == service["spec"]["ports"][0]["port"]
        assert len(secret["password"]) >= 32


def test_generated_passwords_differ_between_secrets_and_runs(
    generated_secrets: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    again = run_create_secrets(tmp_path).secrets
    passwords = [s.get("password") or s["token"] for s in generated_secrets.values()]
    passwords += [s.get("password") or s["token"] for s in again.values()]
    assert len(set(passwords)) == len(passwords)


def test_postgres_init_script_is_mounted_executable_from_the_generated_configmap(
    deployable: Manifests,
) -> None:
    pod = deployable.get("StatefulSet", "postgres")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "initdb")
    config = deployable.get("ConfigMap", volume["configMap"]["name"])
    assert volume["configMap"]["defaultMode"] == 0o555
    script = (REPO / "k8s/postgres/initdb/10-service-databases.sh").read_text()
    assert config["data"]["10-service-databases.sh"] == script
    env = env_of(pod["containers"][0])
    for variable in re.findall(r"\$([A-Z_]+_DB_[A-Z]+)", script):
        assert "secretKeyRef" in env[variable]["valueFrom"], variable


# ---------------------------------------------------------------- overlays and kind
def test_dev_overlay_reloads_and_lets_skaffold_sync_write(dev: Manifests) -> None:
    for app in APP_PORTS:
        container = app_container(dev, app)
        assert env_of(container)["RELOAD"]["value"] == "true"
        assert container["securityContext"]["readOnlyRootFilesystem"] is False
        assert "FROM runtime AS dev" in (REPO / app / "Dockerfile").read_text()


def test_kind_config_maps_the_ingress_ports_to_localhost_only() -> None:
    cluster = read_yaml(REPO / "k8s/kind/cluster.yaml")
    assert cluster["name"] == read_versions()["KIND_CLUSTER_NAME"]
    (node,) = cluster["nodes"]
    assert node["labels"]["ingress-ready"] == "true"
    mappings = {
        (m["containerPort"], m["hostPort"], m["listenAddress"]) for m in node["extraPortMappings"]
    }
    assert mappings == {(80, 80, "127.0.0.1"), (443, 443, "127.0.0.1")}


def go_duration_seconds(text: str) -> float:
    """A Go duration as Contour reads it (`90s`, `2m`, `1m30s`)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    assert parts, f"not a duration: {text}"
    assert "".join(n + u for n, u in parts) == text, f"not a duration: {text}"
    return sum(float(n) * units[u] for n, u in parts)


def test_ingress_waits_for_sign_ups_queued_behind_argon2id(deployable: Manifests) -> None:
    """Envoy's route timeout is 15 s unless projectcontour.io/response-timeout says
    otherwise (projectcontour/contour v1.33.6, site/content/docs/main/config/annotations.md);
    a sign-up queued behind 50 argon2id hashes on one CPU takes longer than that."""
    from tests.e2e.api import SIGN_UP_TIMEOUT

    (ingress,) = deployable.of_kind("Ingress")
    annotations = ingress["metadata"].get("annotations", {})
    seconds = go_duration_seconds(annotations.get("projectcontour.io/response-timeout", "15s"))
    assert seconds >= 60
    # The e2e client waits longer than Envoy does, so a slow answer is Envoy's, not ours.
    assert SIGN_UP_TIMEOUT.read is not None
    assert seconds < SIGN_UP_TIMEOUT.read
