# Shared by the hack/ scripts (sourced, not run): repo paths, pinned versions, logging.
# shellcheck shell=bash
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED_DIR=${SHARED_DIR:-$REPO_ROOT/../shared}
# shellcheck source=hack/versions.env
source "$REPO_ROOT/hack/versions.env"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
