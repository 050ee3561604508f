"""API documents as a kind cluster with Knative Eventing v1.22 returns them
(`kubectl get -o yaml`), trimmed of managedFields. Used to prove the cluster target's
logic before a cluster runs it."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import yaml

BROKER_READY = yaml.safe_load(
    """
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata:
  annotations:
    eventing.knative.dev/broker.class: MTChannelBasedBroker
    eventing.knative.dev/creator: kubernetes-admin
    eventing.knative.dev/lastModifier: kubernetes-admin
  creationTimestamp: "2026-11-27T14:02:11Z"
  generation: 1
  name: default
  namespace: user-audit
  resourceVersion: "2215"
  uid: 5b0c8a8e-2f4e-4d0e-9a43-0d1d1f8c2b6a
spec:
  config:
    apiVersion: v1
    kind: ConfigMap
    name: config-br-default-channel
    namespace: knative-eventing
  delivery:
    backoffDelay: PT0.5S
    backoffPolicy: exponential
    deadLetterSink:
      ref:
        apiVersion: v1
        kind: Service
        name: audit
        namespace: user-audit
      uri: /dead-letter
    retry: 5
    timeout: PT10S
status:
  address:
    name: http
    url: http://broker-ingress.knative-eventing.svc.cluster.local/user-audit/default
  addresses:
  - name: http
    url: http://broker-ingress.knative-eventing.svc.cluster.local/user-audit/default
  annotations:
    knative.dev/channelAPIVersion: messaging.knative.dev/v1
    knative.dev/channelAddress: http://default-kne-trigger-kn-channel.user-audit.svc.cluster.local
    knative.dev/channelKind: InMemoryChannel
    knative.dev/channelName: default-kne-trigger
  conditions:
  - lastTransitionTime: "2026-11-27T14:02:13Z"
    status: "True"
    type: Addressable
  - lastTransitionTime: "2026-11-27T14:02:12Z"
    status: "True"
    type: DeadLetterSinkResolved
  - lastTransitionTime: "2026-11-27T14:02:12Z"
    message: Default authz mode is "allow-same-namespace"
    reason: DefaultAuthorizationMode
    status: "True"
    type: EventPoliciesReady
  - lastTransitionTime: "2026-11-27T14:02:13Z"
    status: "True"
    type: FilterReady
  - lastTransitionTime: "2026-11-27T14:02:13Z"
    status: "True"
    type: IngressReady
  - lastTransitionTime: "2026-11-27T14:02:13Z"
    status: "True"
    type: Ready
  - lastTransitionTime: "2026-11-27T14:02:12Z"
    status: "True"
    type: TriggerChannelReady
  deliveryStatus:
    deadLetterSinkUri: http://audit.user-audit.svc.cluster.local/dead-letter
  observedGeneration: 1
"""
)


def broker_ingress_down() -> dict[str, Any]:
    """The Broker while knative-eventing/broker-ingress has no ready endpoints."""
    doc = copy.deepcopy(BROKER_READY)
    for entry in doc["status"]["conditions"]:
        if entry["type"] in ("IngressReady", "Ready"):
            entry.update(
                status="False",
                reason="EndpointsUnavailable",
                message='Endpoints "broker-ingress" are unavailable.',
            )
    return doc


def broker_just_created() -> dict[str, Any]:
    """Right after `kubectl apply`: generation 1, the controller has not written status."""
    doc = copy.deepcopy(BROKER_READY)
    doc["status"] = {}
    return doc


def broker_spec_changed() -> dict[str, Any]:
    """The spec was edited (generation 2); the status still describes generation 1."""
    doc = copy.deepcopy(BROKER_READY)
    doc["metadata"]["generation"] = 2
    return doc


def trigger(name: str, event_type: str, *, ready: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(
        f"""
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata:
  creationTimestamp: "2026-11-27T14:02:11Z"
  generation: 1
  labels:
    eventing.knative.dev/broker: default
  name: {name}
  namespace: user-audit
  resourceVersion: "2240"
  uid: 0e7f7d3c-9d0a-4ad4-8c64-5a8a3c1f0f11
spec:
  broker: default
  filter:
    attributes:
      type: {event_type}
  subscriber:
    ref:
      apiVersion: v1
      kind: Service
      name: audit
      namespace: user-audit
status:
  conditions:
  - lastTransitionTime: "2026-11-27T14:02:13Z"
    status: "True"
    type: BrokerReady
  - lastTransitionTime: "2026-11-27T14:02:12Z"
    status: "True"
    type: DeadLetterSinkResolved
  - lastTransitionTime: "2026-11-27T14:02:12Z"
    status: "True"
    type: DependencyReady
  - lastTransitionTime: "2026-11-27T14:02:12Z"
    message: authentication-oidc feature disabled
    reason: AuthenticationOIDCFeatureDisabled
    status: "True"
    type: OIDCIdentityCreated
  - lastTransitionTime: "2026-11-27T14:02:13Z"
    status: "True"
    type: Ready
  - lastTransitionTime: "2026-11-27T14:02:12Z"
    status: "True"
    type: SubscriberResolved
  - lastTransitionTime: "2026-11-27T14:02:13Z"
    status: "True"
    type: SubscriptionReady
  deadLetterSinkUri: http://audit.user-audit.svc.cluster.local/dead-letter
  observedGeneration: 1
  subscriberUri: http://audit.user-audit.svc.cluster.local
"""
    )
    if not ready:
        # audit's Service not applied yet.
        for entry in doc["status"]["conditions"]:
            if entry["type"] in ("SubscriberResolved", "Ready"):
                entry.update(
                    status="False",
                    reason="Unable to get the Subscriber's URI",
                    message='services "audit" not found',
                )
        del doc["status"]["subscriberUri"]
    return doc


def trigger_broker_missing(name: str) -> dict[str, Any]:
    doc = trigger(name, "user.storeUser")
    for entry in doc["status"]["conditions"]:
        if entry["type"] in ("BrokerReady", "Ready"):
            entry.update(
                status="False",
                reason="BrokerDoesNotExist",
                message='Broker "default" does not exist',
            )
    return doc


SINKBINDING_READY = yaml.safe_load(
    """
apiVersion: sources.knative.dev/v1
kind: SinkBinding
metadata:
  generation: 1
  name: user
  namespace: user-audit
spec:
  sink:
    ref:
      apiVersion: eventing.knative.dev/v1
      kind: Broker
      name: default
      namespace: user-audit
  subject:
    apiVersion: apps/v1
    kind: Deployment
    namespace: user-audit
    selector:
      matchLabels:
        app.kubernetes.io/name: user
status:
  conditions:
  - lastTransitionTime: "2026-11-27T14:02:14Z"
    status: "True"
    type: BindingAvailable
  - lastTransitionTime: "2026-11-27T14:02:14Z"
    message: authentication-oidc feature disabled
    reason: AuthenticationOIDCFeatureDisabled
    status: "True"
    type: OIDCIdentityCreated
  - lastTransitionTime: "2026-11-27T14:02:14Z"
    status: "True"
    type: Ready
  - lastTransitionTime: "2026-11-27T14:02:14Z"
    status: "True"
    type: SinkProvided
  observedGeneration: 1
  sinkUri: http://broker-ingress.knative-eventing.svc.cluster.local/user-audit/default
"""
)


NOT_FOUND = (
    "failed to get ref &ObjectReference{Kind:Broker,Namespace:user-audit,Name:default,"
    'APIVersion:eventing.knative.dev/v1,...}: brokers.eventing.knative.dev "default" not found'
)


def sinkbinding_broker_missing() -> dict[str, Any]:
    doc = copy.deepcopy(SINKBINDING_READY)
    del doc["status"]["sinkUri"]
    doc["status"]["conditions"] = [
        {
            "lastTransitionTime": "2026-11-27T14:02:12Z",
            "status": "Unknown",
            "type": "BindingAvailable",
        },
        {
            "lastTransitionTime": "2026-11-27T14:02:12Z",
            "message": NOT_FOUND,
            "reason": "NotFound",
            "status": "False",
            "type": "Ready",
        },
        {
            "lastTransitionTime": "2026-11-27T14:02:12Z",
            "message": NOT_FOUND,
            "reason": "NotFound",
            "status": "False",
            "type": "SinkProvided",
        },
    ]
    return doc


DEPLOYMENT_AVAILABLE = yaml.safe_load(
    """
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    deployment.kubernetes.io/revision: "2"
  creationTimestamp: "2026-11-27T14:02:11Z"
  generation: 2
  labels:
    app.kubernetes.io/name: audit
    app.kubernetes.io/part-of: knative-user-audit
  name: audit
  namespace: user-audit
spec:
  progressDeadlineSeconds: 600
  replicas: 2
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: audit
  strategy:
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
    type: RollingUpdate
  template:
    metadata:
      labels:
        app.kubernetes.io/name: audit
    spec:
      containers:
      - image: knative-user-audit/audit:3f2a1c9
        name: audit
        ports:
        - containerPort: 8080
          name: http
          protocol: TCP
status:
  availableReplicas: 2
  conditions:
  - lastTransitionTime: "2026-11-27T14:02:40Z"
    lastUpdateTime: "2026-11-27T14:02:40Z"
    message: Deployment has minimum availability.
    reason: MinimumReplicasAvailable
    status: "True"
    type: Available
  - lastTransitionTime: "2026-11-27T14:02:11Z"
    lastUpdateTime: "2026-11-27T14:03:02Z"
    message: ReplicaSet "audit-6d4cf56db6" has successfully progressed.
    reason: NewReplicaSetAvailable
    status: "True"
    type: Progressing
  observedGeneration: 2
  readyReplicas: 2
  replicas: 2
  updatedReplicas: 2
"""
)


def deployment_rolling() -> dict[str, Any]:
    """Mid rollout with maxSurge 1 / maxUnavailable 0: one new pod starting next to the
    two old ones."""
    doc = copy.deepcopy(DEPLOYMENT_AVAILABLE)
    doc["metadata"]["generation"] = 3
    doc["status"].update(
        observedGeneration=3, replicas=3, updatedReplicas=1, availableReplicas=2,
        readyReplicas=2, unavailableReplicas=1,
    )  # fmt: skip
    doc["status"]["conditions"][1].update(
        reason="ReplicaSetUpdated", message='ReplicaSet "audit-7f9b8c5d4" is progressing.'
    )
    return doc


def deployment_old_pod_left() -> dict[str, Any]:
    """Every new pod is up, one old pod is still terminating out of the status."""
    doc = copy.deepcopy(DEPLOYMENT_AVAILABLE)
    doc["status"].update(replicas=3, updatedReplicas=2, availableReplicas=3)
    return doc


def deployment_not_observed() -> dict[str, Any]:
    doc = copy.deepcopy(DEPLOYMENT_AVAILABLE)
    doc["metadata"]["generation"] = 3
    return doc


def deployment_deadline_exceeded() -> dict[str, Any]:
    doc = deployment_rolling()
    doc["status"]["conditions"][1].update(
        status="False",
        reason="ProgressDeadlineExceeded",
        message='ReplicaSet "audit-7f9b8c5d4" has timed out progressing.',
    )
    return doc


def deployment_scaled_to_zero() -> dict[str, Any]:
    """After `kubectl scale --replicas 0`: the count fields disappear from the status."""
    doc = copy.deepcopy(DEPLOYMENT_AVAILABLE)
    doc["metadata"]["generation"] = 3
    doc["spec"]["replicas"] = 0
    doc["status"] = {
        "conditions": doc["status"]["conditions"],
        "observedGeneration": 3,
    }
    return doc


def deployment_starting() -> dict[str, Any]:
    """Pods created, none ready yet (Available False, MinimumReplicasUnavailable)."""
    doc = copy.deepcopy(DEPLOYMENT_AVAILABLE)
    doc["status"] = {
        "conditions": [
            {
                "lastTransitionTime": "2026-11-27T14:02:11Z",
                "lastUpdateTime": "2026-11-27T14:02:11Z",
                "message": "Deployment does not have minimum availability.",
                "reason": "MinimumReplicasUnavailable",
                "status": "False",
                "type": "Available",
            },
            {
                "lastTransitionTime": "2026-11-27T14:02:11Z",
                "lastUpdateTime": "2026-11-27T14:02:11Z",
                "message": 'ReplicaSet "audit-6d4cf56db6" is progressing.',
                "reason": "ReplicaSetUpdated",
                "status": "True",
                "type": "Progressing",
            },
        ],
        "observedGeneration": 2,
        "replicas": 2,
        "unavailableReplicas": 2,
        "updatedReplicas": 2,
    }
    return doc


AUDIT_SERVICE = yaml.safe_load(
    """
apiVersion: v1
kind: Service
metadata:
  labels:
    app.kubernetes.io/name: audit
  name: audit
  namespace: user-audit
spec:
  clusterIP: 10.96.112.40
  clusterIPs:
  - 10.96.112.40
  internalTrafficPolicy: Cluster
  ipFamilies:
  - IPv4
  ipFamilyPolicy: SingleStack
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: http
  selector:
    app.kubernetes.io/name: audit
  sessionAffinity: None
  type: ClusterIP
"""
)

# The broker ingress as upstream ships it; names, labels, selectors and ports as in
# knative/eventing knative-v1.22.2 config/brokers/mt-channel-broker/deployments/broker-ingress.yaml
# and knative-extensions/eventing-kafka-broker knative-v1.22.3
# data-plane/config/broker/500-receiver.yaml (k8s/upstream-facts.yaml lists them).
# The Service and the Deployment have different names: the suite finds the Deployment
# through the Service's selector.
BROKER_INGRESS_SERVICE = yaml.safe_load(
    """
apiVersion: v1
kind: Service
metadata:
  labels:
    app.kubernetes.io/component: broker-ingress
    app.kubernetes.io/name: knative-eventing
    app.kubernetes.io/version: 1.22.2
    eventing.knative.dev/brokerRole: ingress
  name: broker-ingress
  namespace: knative-eventing
spec:
  clusterIP: 10.96.20.7
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 8080
  - name: https
    port: 443
    protocol: TCP
    targetPort: 8443
  - name: http-metrics
    port: 9092
    protocol: TCP
    targetPort: 9092
  selector:
    eventing.knative.dev/brokerRole: ingress
  type: ClusterIP
"""
)

MT_BROKER_INGRESS_LABELS = {
    "eventing.knative.dev/brokerRole": "ingress",
    "app.kubernetes.io/component": "broker-ingress",
    "app.kubernetes.io/version": "1.22.2",
    "app.kubernetes.io/name": "knative-eventing",
}

KAFKA_BROKER_INGRESS_SERVICE = yaml.safe_load(
    """
apiVersion: v1
kind: Service
metadata:
  labels:
    app: kafka-broker-receiver
    app.kubernetes.io/component: kafka-broker-receiver
    app.kubernetes.io/name: knative-eventing
    app.kubernetes.io/version: 1.22.3
  name: kafka-broker-ingress
  namespace: knative-eventing
spec:
  clusterIP: 10.96.31.4
  ports:
  - name: http
    port: 80
    protocol: TCP
    targetPort: 8080
  - name: https
    port: 443
    protocol: TCP
    targetPort: 8443
  - name: http-container
    port: 8080
    protocol: TCP
    targetPort: 8080
  - name: https-container
    port: 8443
    protocol: TCP
    targetPort: 8443
  - name: http-metrics
    port: 9090
    protocol: TCP
    targetPort: 9090
  selector:
    app: kafka-broker-receiver
  type: ClusterIP
"""
)

KAFKA_BROKER_RECEIVER_LABELS = {
    "app": "kafka-broker-receiver",
    "app.kubernetes.io/component": "kafka-broker-receiver",
    "app.kubernetes.io/name": "knative-eventing",
    "app.kubernetes.io/version": "1.22.3",
}


@dataclass(frozen=True)
class IngressPlane:
    """One broker class's ingress data plane: the Service the Broker's address names,
    the Deployment behind it (its selector and pod labels), one pod name."""

    broker_class: str
    service: dict[str, Any]
    deployment: str
    selector: dict[str, str]
    pod_labels: dict[str, str]
    pod_name: str
    address: str


MT_CHANNEL_BROKER = IngressPlane(
    broker_class="MTChannelBasedBroker",
    service=BROKER_INGRESS_SERVICE,
    deployment="mt-broker-ingress",
    selector={"eventing.knative.dev/brokerRole": "ingress"},
    pod_labels=MT_BROKER_INGRESS_LABELS,
    pod_name="mt-broker-ingress-6b8d7c9f5-x2x4q",
    address="http://broker-ingress.knative-eventing.svc.cluster.local/user-audit/default",
)
KAFKA_BROKER = IngressPlane(
    broker_class="Kafka",
    service=KAFKA_BROKER_INGRESS_SERVICE,
    deployment="kafka-broker-receiver",
    selector={"app": "kafka-broker-receiver"},
    pod_labels=KAFKA_BROKER_RECEIVER_LABELS,
    pod_name="kafka-broker-receiver-7c9d5b6f4-q8z2m",
    address="http://kafka-broker-ingress.knative-eventing.svc.cluster.local/user-audit/default",
)


def broker_of(plane: IngressPlane, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` (a Broker) as that broker class would write it."""
    doc = copy.deepcopy(doc)
    doc["metadata"]["annotations"]["eventing.knative.dev/broker.class"] = plane.broker_class
    status = doc.get("status") or {}
    if "address" in status:
        status["address"]["url"] = plane.address
        for address in status.get("addresses", []):
            address["url"] = plane.address
    return doc


def pod(
    name: str,
    *,
    labels: dict[str, str] | None = None,
    ready: bool = True,
    phase: str = "Running",
    terminating: bool = False,
    waiting: str | None = None,
    port_name: str = "http",
    port: int = 8080,
) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(
        f"""
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2026-11-27T14:02:12Z"
  generateName: audit-6d4cf56db6-
  labels:
    app.kubernetes.io/name: audit
    pod-template-hash: 6d4cf56db6
  name: {name}
  namespace: user-audit
spec:
  containers:
  - image: knative-user-audit/audit:3f2a1c9
    name: audit
    ports:
    - containerPort: {port}
      name: {port_name}
      protocol: TCP
  nodeName: user-audit-control-plane
status:
  conditions:
  - lastTransitionTime: "2026-11-27T14:02:13Z"
    status: "True"
    type: PodReadyToStartContainers
  - lastTransitionTime: "2026-11-27T14:02:12Z"
    status: "True"
    type: Initialized
  - lastTransitionTime: "2026-11-27T14:02:20Z"
    status: "{ready}"
    type: Ready
  - lastTransitionTime: "2026-11-27T14:02:20Z"
    status: "{ready}"
    type: ContainersReady
  - lastTransitionTime: "2026-11-27T14:02:12Z"
    status: "True"
    type: PodScheduled
  containerStatuses:
  - containerID: containerd://9b2c
    image: docker.io/knative-user-audit/audit:3f2a1c9
    imageID: sha256:1c0ffee
    name: audit
    ready: {str(ready).lower()}
    restartCount: 0
    started: true
    state:
      running:
        startedAt: "2026-11-27T14:02:13Z"
  hostIP: 172.18.0.2
  phase: {phase}
  podIP: 10.244.0.17
  qosClass: Burstable
  startTime: "2026-11-27T14:02:12Z"
"""
    )
    if labels is not None:
        doc["metadata"]["labels"] = labels
    if terminating:
        doc["metadata"]["deletionTimestamp"] = "2026-11-27T14:10:00Z"
        doc["metadata"]["deletionGracePeriodSeconds"] = 30
    if waiting:
        status = doc["status"]["containerStatuses"][0]
        status["restartCount"] = 4
        status["started"] = False
        status["state"] = {
            "waiting": {
                "reason": waiting,
                "message": "back-off 1m20s restarting failed container=audit",
            }
        }
        status["lastState"] = {
            "terminated": {"exitCode": 2, "reason": "Error", "finishedAt": "2026-11-27T14:05:00Z"}
        }
    return doc


def to_model(doc: dict[str, Any], model: str) -> Any:
    """Turn a document into the typed object the `kubernetes` client hands back for it,
    through the client's own response deserializer."""
    from kubernetes.client import ApiClient

    return ApiClient().deserialize(json.dumps(doc), model, "application/json")
