#!/usr/bin/env bash
# make cluster-down: delete the kind cluster made by hack/cluster-up.sh, with all its
# data (PostgreSQL volume and the generated Secrets included).
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v kind >/dev/null 2>&1 || die "kind not found (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)"
if kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME"; then
  kind delete cluster --name "$KIND_CLUSTER_NAME"
else
  log "no kind cluster named $KIND_CLUSTER_NAME"
fi
