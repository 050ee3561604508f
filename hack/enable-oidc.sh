#!/usr/bin/env bash
# Switch on Knative Eventing's OIDC authentication before deploying overlays/oidc:
# the `authentication-oidc` flag in ConfigMap knative-eventing/config-features
# (knative/eventing knative-v1.22.2 config/core/configmaps/features.yaml).
# Usage: hack/enable-oidc.sh   (kubectl's current context unless KUBE_CONTEXT is set)
#
# A merge patch changes that one key. Applying a ConfigMap with only this key would,
# through kubectl's last-applied three-way merge, delete the installer's other flags.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kube=(kubectl)
if [[ -n ${KUBE_CONTEXT:-} ]]; then kube+=(--context "$KUBE_CONTEXT"); fi
features=(-n knative-eventing configmap config-features)

current=$("${kube[@]}" get "${features[@]}" -o 'jsonpath={.data.authentication-oidc}') ||
  die "no ConfigMap knative-eventing/config-features: install Knative Eventing first (make cluster)"
if [[ $current == enabled ]]; then
  log "authentication-oidc is already enabled"
  exit 0
fi
"${kube[@]}" patch "${features[@]}" --type merge -p '{"data":{"authentication-oidc":"enabled"}}'
log "authentication-oidc enabled: Knative's controllers pick the flag up without a restart"
