#!/usr/bin/env bash
# Build knative-user-audit/user:$TAG and knative-user-audit/audit:$TAG (make images).
#
# Base image: $PYTHON_IMAGE if set; else the official python:3.11-slim-bookworm when a
# registry answers; else (or with OFFLINE=1) ../shared/tools/offline-docker.sh starts a
# local engine and builds a local Python base, whose name is its last output line.
# Afterwards both images are loaded into the kind cluster $KIND_CLUSTER, by default the
# project's ($KIND_CLUSTER_NAME from hack/versions.env) when it exists; KIND_CLUSTER=none
# skips it. skaffold loads its own builds.
# With BuildKit (buildx) no provenance or SBOM attestation is attached: from Docker's
# containerd image store, `kind load` cannot import an image that has one
# (kubernetes-sigs/kind#3795). The classic builder adds none and knows no such flags.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAG=${TAG:-dev}
OFFICIAL_IMAGE=python:3.11-slim-bookworm

offline_base() {
  local script=$SHARED_DIR/tools/offline-docker.sh last
  [[ -f $script ]] || die "no registry reachable and $script not found; set PYTHON_IMAGE"
  last=$(bash "$script" | tail -n 1)
  [[ $last == PYTHON_IMAGE=* ]] || die "offline-docker.sh did not print PYTHON_IMAGE=...: $last"
  printf '%s\n' "${last#PYTHON_IMAGE=}"
}

official_base_available() {
  docker info >/dev/null 2>&1 || return 1
  docker image inspect "$OFFICIAL_IMAGE" >/dev/null 2>&1 && return 0
  timeout 120 docker pull -q "$OFFICIAL_IMAGE" >/dev/null 2>&1
}

if [[ -n ${PYTHON_IMAGE:-} ]]; then
  base=$PYTHON_IMAGE
elif [[ ${OFFLINE:-0} == 1 ]]; then
  base=$(offline_base)
elif official_base_available; then
  base=$OFFICIAL_IMAGE
else
  log "no registry reachable (or no Docker engine): using the offline base"
  base=$(offline_base)
fi
command -v docker >/dev/null 2>&1 || die "docker not found (https://docs.docker.com/engine/install/)"

no_attestations=()
if [[ ${DOCKER_BUILDKIT:-1} != 0 ]] && docker buildx version >/dev/null 2>&1; then
  no_attestations=(--provenance=false --sbom=false)
fi

for service in user audit; do
  image=knative-user-audit/$service:$TAG
  log "building $image on $base"
  docker build "${no_attestations[@]}" --network host --build-arg "PYTHON_IMAGE=$base" \
    -f "$REPO_ROOT/$service/Dockerfile" -t "$image" "$REPO_ROOT"
done

docker image ls --filter "reference=knative-user-audit/*:$TAG" \
  --format '{{.Repository}}:{{.Tag}}  {{.Size}}' >&2

kind_cluster=${KIND_CLUSTER:-$KIND_CLUSTER_NAME}
if [[ $kind_cluster == none ]]; then
  exit 0
elif ! command -v kind >/dev/null 2>&1; then
  [[ -z ${KIND_CLUSTER:-} ]] || die "kind not found: cannot load into $KIND_CLUSTER"
  log "kind not found: the images stay in the local engine"
elif ! kind get clusters 2>/dev/null | grep -qx "$kind_cluster"; then
  [[ -z ${KIND_CLUSTER:-} ]] || die "no kind cluster named $KIND_CLUSTER"
  log "no kind cluster $kind_cluster (make cluster): the images stay in the local engine"
else
  log "loading the images into kind cluster $kind_cluster"
  kind load docker-image --name "$kind_cluster" \
    "knative-user-audit/user:$TAG" "knative-user-audit/audit:$TAG"
  # Same tag as before the rebuild: applying the manifests again changes nothing.
  log "pods already running keep the old image until restarted:"
  log "  kubectl -n user-audit rollout restart deployment/user deployment/audit"
fi
