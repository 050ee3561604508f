#!/usr/bin/env bash
# Build knative-user-audit/user:$TAG and knative-user-audit/audit:$TAG (make images).
#
# Base image: $PYTHON_IMAGE if set; else the official python:3.11-slim-bookworm when a
# registry answers; else (or with OFFLINE=1) ../shared/tools/offline-docker.sh starts a
# local engine and builds a local Python base, whose name is its last output line.
# KIND_CLUSTER=user-audit also loads both images into that kind cluster afterwards
# (for `kubectl apply -k k8s`; skaffold loads its own builds).
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

for service in user audit; do
  image=knative-user-audit/$service:$TAG
  log "building $image on $base"
  docker build --network host --build-arg "PYTHON_IMAGE=$base" \
    -f "$REPO_ROOT/$service/Dockerfile" -t "$image" "$REPO_ROOT"
done

docker image ls --filter "reference=knative-user-audit/*:$TAG" \
  --format '{{.Repository}}:{{.Tag}}  {{.Size}}' >&2

if [[ -n ${KIND_CLUSTER:-} ]]; then
  log "loading the images into kind cluster $KIND_CLUSTER"
  kind load docker-image --name "$KIND_CLUSTER" \
    "knative-user-audit/user:$TAG" "knative-user-audit/audit:$TAG"
fi
