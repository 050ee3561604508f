#!/usr/bin/env bash
# Create the Secrets the manifests reference, with random passwords, if absent:
#   postgres-admin  username, password                       (the server's superuser)
#   user-db         username, password, database, DATABASE_URL   (read by user)
#   audit-db        username, password, database, DATABASE_URL   (read by audit)
#   audit-read      token        (AUDIT_READ_TOKEN: the bearer token of audit's read API)
# Usage: hack/create-secrets.sh [namespace]   (default user-audit; kubectl's current
# context unless KUBE_CONTEXT is set, or SKAFFOLD_KUBE_CONTEXT: skaffold runs this as a
# before-deploy hook). Idempotent: existing Secrets are left alone. The namespace must
# exist (make cluster creates it; elsewhere: kubectl apply -f k8s/namespace.yaml).
#
# The values go to kubectl on stdin, never on a command line, and with `create` rather
# than `apply`, so no last-applied annotation keeps a copy in clear.
# PostgreSQL reads the passwords only when its volume is first initialised: delete the
# Secrets and the postgres PVC together, or neither.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

namespace=${1:-user-audit}
context=${KUBE_CONTEXT:-${SKAFFOLD_KUBE_CONTEXT:-}}
kube=(kubectl)
if [[ -n $context ]]; then kube+=(--context "$context"); fi
db_host=postgres.$namespace.svc.cluster.local

random_password() { # 32 hex characters (128 bits): URL-safe, no quoting needed anywhere
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

secret_exists() {
  "${kube[@]}" -n "$namespace" get secret "$1" >/dev/null 2>&1
}

create_secret() { # name, then key=value pairs
  local name=$1 pair
  shift
  {
    printf 'apiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata:\n  name: %s\n' "$name"
    printf '  labels:\n    app.kubernetes.io/part-of: knative-user-audit\nstringData:\n'
    for pair in "$@"; do
      printf '  %s: "%s"\n' "${pair%%=*}" "${pair#*=}"
    done
  } | "${kube[@]}" -n "$namespace" create -f - >/dev/null
  log "created secret $namespace/$name"
}

"${kube[@]}" get namespace "$namespace" >/dev/null 2>&1 ||
  die "namespace $namespace does not exist${context:+ in context $context}; create it first:" \
    "make cluster, or kubectl apply -f k8s/namespace.yaml"

if secret_exists postgres-admin; then
  log "secret $namespace/postgres-admin exists, kept"
else
  create_secret postgres-admin username=postgres "password=$(random_password)"
fi

for service in user audit; do
  name=$service-db
  if secret_exists "$name"; then
    log "secret $namespace/$name exists, kept"
    continue
  fi
  role=${service}_svc
  database=$service
  [[ $service == user ]] && database=users # "user" is a reserved word in SQL
  password=$(random_password)
  create_secret "$name" "username=$role" "password=$password" "database=$database" \
    "DATABASE_URL=postgresql+asyncpg://$role:$password@$db_host:5432/$database"
done

if secret_exists audit-read; then
  log "secret $namespace/audit-read exists, kept"
else
  create_secret audit-read "token=$(random_password)"
fi
