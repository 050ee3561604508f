# The README's commands. Needs only python3 (>= 3.11) and make: the first target
# that needs the environment creates it (uv in .tools/bin, the project in .venv/),
# from the standard library alone where python3 has no venv or pip (Debian, Ubuntu).
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Integration and e2e tests mostly wait on real processes: 3 workers overlap that on 2 cores.
PYTEST_ARGS ?= -n 3 --durations=25

.PHONY: run test lint fmt typecheck unit bench fuzz cluster cluster-down images env clean

run: env ## Start broker, audit and user locally (SQLite under .data/)
	$(BIN)/python -m devstack

test: env lint typecheck ## Lint, type-check and run every test suite
	$(BIN)/pytest $(PYTEST_ARGS)

lint: env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: env
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: env
	$(BIN)/mypy
	$(BIN)/mypy hack/bootstrap_uv.py

bench: env ## Side-by-side throughput/latency against the baselines
	$(BIN)/python -m bench

# Hostile-input fuzzing outside CI (CI runs a small derandomized sample of the same
# properties in `make test`). Stops by itself; FUZZ_SEED=<seed> replays a run.
CASES ?= 20000
fuzz: env ## CASES hostile cases (default 20000) against real processes; totals at the end
	FUZZ_CASES=$(CASES) $(BIN)/pytest -n 0 -p no:randomly -p no:schemathesis -q \
	  tests/fuzz/test_hostile_broker.py tests/fuzz/test_hostile_audit.py \
	  tests/fuzz/test_hostile_user.py

cluster: ## kind cluster + pinned Knative Eventing + ingress controller
	hack/cluster-up.sh

cluster-down:
	hack/cluster-down.sh

images: ## Build the user and audit images
	hack/build-images.sh

env: $(VENV)/.synced

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make: needs $(PYTHON) >= 3.11: Debian/Ubuntu: sudo apt-get install python3;" \
	  "Fedora: sudo dnf install python3; or make PYTHON=<a python3.11 or newer>" >&2; exit 1; }
	@$(PYTHON) hack/bootstrap_uv.py --version $(UV_VERSION) --dest .tools

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
