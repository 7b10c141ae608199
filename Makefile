# Two commands matter: `make dev` (platform up) and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Dagster's home (run storage, compute logs, the UI's state) lives under data/, so a checkout
# stays clean; its dagster.yaml is a link to the one at the repository root.
export ML_ASSETS_DAGSTER_DIR ?= $(CURDIR)/data/dagster
export DAGSTER_HOME := $(ML_ASSETS_DAGSTER_DIR)
DAGSTER_YAML := $(DAGSTER_HOME)/dagster.yaml
export NML_DISABLE_USAGE_LOGGING := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DAGSTER_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
# PROBLEM=NAME: the problem (a folder under problems/) bootstrap, serve, replay and mlflow-ui run
PROBLEM ?= $(or $(ML_ASSETS_PROBLEM),card_fraud)
export ML_ASSETS_PROBLEM := $(PROBLEM)

.PHONY: dev test install bootstrap lint lock bench bench-serve bench-openmp clean-data mlflow-ui rollback rollback-threshold replay dagster-home \
	serve test-tools bench-tools faults scenarios rollout-demo bench-rollout bench-contracts scoreboard demo cluster-up cluster-down cluster-test bench-cluster

# (Re)create the virtualenv from the lock only when the lock or pyproject changed. The lock goes in
# through uv (pinned here, itself installed by the venv's pip): the same packages as pip installs,
# bytecode compiled as pip does, faster (BENCHMARKS.md, "make test: where the CPU goes")
UV_VERSION := 0.13.8
UV_PIP := $(BIN)/uv pip install --quiet --python $(BIN)/python
$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV_PIP) --compile-bytecode -r requirements.lock
	$(UV_PIP) --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

dagster-home:
	mkdir -p $(DAGSTER_HOME)
	ln -sfn $(CURDIR)/dagster.yaml $(DAGSTER_YAML)

## every problem under problems/ (a folder each, holding its problem.yaml)
PROBLEMS := $(patsubst problems/%/problem.yaml,%,$(wildcard problems/*/problem.yaml))

## make bootstrap: each problem's first days, its first champion and a monitored week
bootstrap: $(STAMP) dagster-home
	set -e; for p in $(PROBLEMS); do $(BIN)/ml-assets --problem $$p bootstrap; done

## make dev: install (first time), prepare demo data, serve the Dagster UI + daemon on 127.0.0.1:3000
## with every problem's code location: `dg dev -w workspace.yaml` (one location per problem; dg's
## own project config would serve one, ml_assets.definitions, the default problem's)
## It runs in DAGSTER_HOME: started next to the repository's dagster.yaml with DAGSTER_HOME elsewhere,
## `dg dev` warns that the file "will not be used", yet it is, through the link in DAGSTER_HOME
DG := VIRTUAL_ENV=$(CURDIR)/$(VENV) $(CURDIR)/$(BIN)/dg
dev: bootstrap
	cd $(DAGSTER_HOME) && $(DG) dev -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p 3000

## make demo: the loop live under the daemon: the UI on 127.0.0.1:3000 with every sensor on, a simulated
## day landing every DEMO_EVERY seconds (seasonal drift after 3 days): days arrive, monitoring, a retrain
DEMO_EVERY ?= 60
DEMO_DAYS ?= 30
demo: $(STAMP) dagster-home
	$(BIN)/ml-assets --problem card_fraud bootstrap
	$(BIN)/ml-assets demo --every $(DEMO_EVERY) --days $(DEMO_DAYS)

## test-tools: Debian's prometheus package (prometheus + promtool) for the monitoring tests, and its
## chromium for the browser test of the UI (tests/test_ui_browser.py); each test skips, naming the
## missing package, where it cannot be installed
test-tools:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v chromium >/dev/null || \
	  { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus chromium >/dev/null; } || \
	  echo "could not install Debian's prometheus and chromium packages (needs root): their tests will skip"

## make test: the whole suite, slow end-to-end tests included, deprecation warnings shown, on
## TEST_WORKERS processes (one test file per worker at a time, slow files first: tests/conftest.py)
## Three processes on two cores: the end-to-end tests spend most of their time waiting on daemons,
## servers and polls (measured: the suite kept 1.26 of the 2 cores busy with two processes)
TEST_WORKERS ?= 3
## The tests' temp folders (their Dagster instances, lakes, MLflow stores) go on RAM where the machine
## has it: Dagster's SQLite storage syncs every event to disk, and on disk the suite waited on that
## (measured: 12 warm-up days 55 s on disk, 14 s on /dev/shm; BENCHMARKS.md). Only a failed test's
## folders are kept (pyproject: tmp_path_retention_policy).
TEST_TMPDIR ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo $${TMPDIR:-/tmp})
test: $(STAMP) test-tools
	TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest -W default::DeprecationWarning -n $(TEST_WORKERS) --no-loadscope-reorder -m "not faults and not scenario" $(PYTEST_ARGS)

## make scenarios: the long runs and the statistics, marked `scenario` (CI runs them after make test):
## the stable, seasonal, fraud_shift and currency_switch scenarios replayed end to end at test size,
## each asserted (detected, retrained or re-fitted, recovered; the stable one never retrains); the
## simulator's learnability; 200 simulated rollouts without a false abort
scenarios: $(STAMP) dagster-home
	TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest -W default::DeprecationWarning -n 2 --no-loadscope-reorder \
	  -m scenario $(PYTEST_ARGS)

## make faults: the fault matrix (tests/test_faults.py): each fault injected for real under a daemon,
## asserted, and its figures written into RELIABILITY.md (~30 min on 2 cores)
faults: $(STAMP)
	rm -f data/faults/results.jsonl
	$(BIN)/python -m pytest -m faults -q tests/test_faults.py $(PYTEST_ARGS); status=$$?; \
	  $(BIN)/python -m benchmarks.fault_table && exit $$status

## make lint: ruff, and `dg check defs` (the code location loads and its definitions validate)
lint: $(STAMP) dagster-home
	$(BIN)/ruff check ml_assets feature_repo tests benchmarks examples
	$(DG) check defs

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

## make lock: re-resolve the pins from pyproject.toml (needs the network to PyPI)
lock:
	rm -rf /tmp/ml-assets-lock && $(PYTHON) -m venv /tmp/ml-assets-lock
	/tmp/ml-assets-lock/bin/pip install --quiet -e '.[dev,cluster]'
	/tmp/ml-assets-lock/bin/pip freeze --exclude-editable | grep -v '^ml-assets' > requirements.lock

clean-data:
	rm -rf data/dagster $(patsubst problems/%/problem.yaml,data/%,$(wildcard problems/*/problem.yaml))

## make mlflow-ui: the MLflow UI over the project's tracking store, on 127.0.0.1:5000 (without MLflow's
## job executor, unused here: ml_assets/mlflow_server.py says what it costs)
mlflow-ui: $(STAMP)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false $(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/data/$(PROBLEM)/mlflow/mlflow.db --host 127.0.0.1 --port 5000

## make replay: the seasonal scenario, 120 days, on the project's instance (see README)
replay: $(STAMP) dagster-home
	$(BIN)/ml-assets replay --scenario seasonal --days 120

## make bench-contracts: a 1M-row day validated against its contract, as a ratio to reading it, and a 400-row day's fixed cost
bench-contracts: $(STAMP)
	$(BIN)/python -m benchmarks.contracts

## make bench-rollout: the rollout controller's detection figures, appended to BENCHMARKS.md
bench-rollout: $(STAMP)
	$(BIN)/python -m benchmarks.rollout

## make scoreboard: the three scenarios at the default size, scored (BENCHMARKS.md, docs/scoreboard/); ~55 min on 2 cores
scoreboard: $(STAMP)
	$(BIN)/ml-assets scoreboard --days 120

## make rollout-demo: a worse and an equal challenger rolled out through the real service (after make dev)
rollout-demo: $(STAMP)
	$(BIN)/ml-assets rollout-demo

## make serve: the online scoring service on 127.0.0.1:8000 (after make dev)
serve: $(STAMP)
	$(BIN)/ml-assets serve

## make bench-serve: load the scoring service from another process (loopback), report to BENCHMARKS.md
## make bench-openmp: LightGBM's OpenMP threads spinning vs sleeping, alone and beside busy processes (~5 min)
bench-openmp: $(STAMP)
	$(BIN)/python -m benchmarks.openmp

bench-serve: $(STAMP) bench-tools
	$(BIN)/python -m benchmarks.serving

## bench-tools: Debian's wrk (an HTTP load generator in C, so the client is not the bottleneck)
bench-tools:
	@command -v wrk >/dev/null || \
	  { DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; } || \
	  echo "could not install Debian's wrk package (needs root): bench-serve skips its wrk figures"

## make rollback: champion back to the previous champion (recorded in MLflow)
rollback: $(STAMP)
	$(BIN)/ml-assets rollback

## make rollback-threshold: the champion's decision threshold back to before its newest re-fit
rollback-threshold: $(STAMP)
	$(BIN)/ml-assets rollback-threshold

## The cluster profile (docs/cluster.md) on the loopback Postgres, Redis and RabbitMQ.
## make cluster-up: databases, the Dagster instance on Postgres (data/dagster-cluster), the MLflow
## server on 127.0.0.1:5001; prints the variables to export. make cluster-down stops the server.
cluster-up: $(STAMP)
	$(BIN)/ml-assets cluster up

cluster-down: $(STAMP)
	$(BIN)/ml-assets cluster down

## make cluster-test: only the cluster tests; each makes its own databases (throw-away prefix),
## starts what it needs (an MLflow server, runs in other processes) and stops it. They also run
## in `make test`, skipping by name any service that is not running.
cluster-test: $(STAMP)
	$(BIN)/python -m pytest -m cluster -q

## make bench-cluster: the cluster profile against the embedded one, appended to BENCHMARKS.md: the
## online store (SQLite vs Redis), the service's latency by profile, the daily cycle on two Celery
## workers vs one (default size; ~25 min in all)
bench-cluster: $(STAMP)
	$(BIN)/python -m benchmarks.cluster
	$(BIN)/python -m benchmarks.cluster_serving
	$(BIN)/python -m benchmarks.cluster_cycle
