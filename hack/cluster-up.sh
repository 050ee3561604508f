#!/usr/bin/env bash
# make cluster: a kind cluster with pinned Knative Eventing (CRDs, core, in-memory
# channel, MT channel-based broker), the Contour ingress controller, the user-audit
# namespace and its database Secrets. Idempotent: run it again to repair or update.
# Versions: hack/versions.env. Walkthrough: docs/cluster.md.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLUSTER=${KIND_CLUSTER_NAME}
CONTEXT=kind-$CLUSTER
KNATIVE_URL=https://github.com/knative/eventing/releases/download/$KNATIVE_EVENTING_VERSION
CONTOUR_URL=https://projectcontour.io/quickstart/$CONTOUR_VERSION/contour.yaml
kube=(kubectl --context "$CONTEXT")

require() { # command, what it is for, where to get it
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2. Install it: $3"
}

check_prerequisites() {
  require docker "kind runs the cluster's node as a container" \
    "https://docs.docker.com/engine/install/"
  docker info >/dev/null 2>&1 ||
    die "docker is installed but no engine answers (is the daemon running? may this user use it?)"
  require kind "creates the cluster (pinned $KIND_VERSION)" \
    "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
  require kubectl "installs Knative and Contour (pinned $KUBECTL_VERSION)" \
    "https://kubernetes.io/docs/tasks/tools/"
  if ! command -v skaffold >/dev/null 2>&1; then
    log "warning: skaffold not found; needed afterwards for 'skaffold dev/run' (pinned $SKAFFOLD_VERSION):"
    log "  https://skaffold.dev/docs/install/   ('kubectl apply -k k8s' works without it)"
  fi
  local have
  have=$(kind version 2>/dev/null | awk '{print $2}')
  [[ $have == "$KIND_VERSION" ]] || log "warning: kind $have found, $KIND_VERSION pinned"
}

port_in_use() { # true when something on this host accepts connections on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

create_cluster() {
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    log "kind cluster $CLUSTER exists"
    return
  fi
  local port
  for port in 80 443; do
    if port_in_use "$port"; then
      die "127.0.0.1:$port is taken on this host; kind maps the ingress there" \
        "(k8s/kind/cluster.yaml). Stop what listens on it, or change hostPort."
    fi
  done
  log "creating kind cluster $CLUSTER ($KIND_NODE_IMAGE)"
  kind create cluster --name "$CLUSTER" --image "$KIND_NODE_IMAGE" \
    --config "$REPO_ROOT/k8s/kind/cluster.yaml" --wait 180s
}

apply_url() { # retried: a webhook that has just come up may refuse the first calls
  local url=$1 attempt
  for attempt in 1 2 3 4 5; do
    "${kube[@]}" apply -f "$url" >/dev/null && return 0
    log "apply $url failed (attempt $attempt), retrying in 5s"
    sleep 5
  done
  die "could not apply $url"
}

wait_deployments() { # namespace
  "${kube[@]}" -n "$1" wait --for=condition=Available deployment --all --timeout=300s >/dev/null
}

install_knative_eventing() {
  log "Knative Eventing $KNATIVE_EVENTING_VERSION: CRDs"
  apply_url "$KNATIVE_URL/eventing-crds.yaml"
  "${kube[@]}" wait --for=condition=Established crd -l knative.dev/crd-install=true \
    --timeout=120s >/dev/null
  local part
  for part in eventing-core in-memory-channel mt-channel-broker; do
    log "Knative Eventing $KNATIVE_EVENTING_VERSION: $part"
    apply_url "$KNATIVE_URL/$part.yaml"
    wait_deployments knative-eventing
  done
}

install_contour() {
  log "Contour $CONTOUR_VERSION"
  apply_url "$CONTOUR_URL"
  # Envoy only where kind publishes ports 80/443 (the ingress-ready node).
  "${kube[@]}" -n projectcontour patch daemonset envoy --type merge \
    -p '{"spec":{"template":{"spec":{"nodeSelector":{"ingress-ready":"true"}}}}}' >/dev/null
  "${kube[@]}" apply -f - >/dev/null <<'YAML'
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: contour
spec:
  controller: projectcontour.io/ingress-controller
YAML
  wait_deployments projectcontour
  "${kube[@]}" -n projectcontour rollout status daemonset/envoy --timeout=300s >/dev/null
}

prepare_namespace() {
  log "namespace user-audit and its database Secrets"
  "${kube[@]}" apply -f "$REPO_ROOT/k8s/namespace.yaml" >/dev/null
  KUBE_CONTEXT=$CONTEXT "$REPO_ROOT/hack/create-secrets.sh" user-audit
}

check_prerequisites
create_cluster
install_knative_eventing
install_contour
prepare_namespace

cat >&2 <<EOF
==> cluster $CLUSTER is ready (kubectl context $CONTEXT). Next:
    skaffold dev                         build, deploy, sync edits, port-forward, logs
    skaffold run                         build and deploy once
    KIND_CLUSTER=$CLUSTER make images && kubectl apply -k k8s    without skaffold
    curl -X POST http://localhost/v1/user -H 'Content-Type: application/json' \\
      -d '{"name": "Ozzy Osbourne", "password": "12345"}'
EOF
