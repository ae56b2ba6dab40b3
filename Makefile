# Every target creates .venv and installs what it needs when missing.
PYTHON ?= python3
VENV ?= .venv
BENCH_VENV ?= .venv-bench
MLFLOW_VENV ?= .venv-mlflow
BIN := $(VENV)/bin
PIP_FLAGS ?= -q --disable-pip-version-check

.PHONY: demo test lint format bench bench-tracking bench-data bench-serving bench-monitoring bench-startup bench-server install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) -U pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

## demo: run the lifecycle demo on bundled real data (in ./cycleml-demo)
demo: $(VENV)/.installed
	$(BIN)/cycleml demo --dir cycleml-demo --fresh

## lint: ruff (lint + format check), mypy on the package, import-linter layer contracts
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench examples
	$(BIN)/ruff check --fix src tests bench examples

## test: install dev deps, lint, run the whole suite (SQLite and PostgreSQL) on both cores
test: lint $(MLFLOW_VENV)/.installed
	CYCLEML_TEST_MLFLOW_PYTHON=$(abspath $(MLFLOW_VENV))/bin/python $(BIN)/pytest -n 2 --dist loadfile

# The unmodified MLflow client that tests/server/test_mlflow_client.py drives against
# `cycleml server`: its own environment, apart from cycleml's dependencies (about 20 s).
$(MLFLOW_VENV)/.installed: tests/mlflow-client-requirements.txt
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/pip install $(PIP_FLAGS) -r tests/mlflow-client-requirements.txt
	touch $@

## bench: benchmarks against the peers, in their own environment (never a test)
$(BENCH_VENV)/.installed: pyproject.toml bench/requirements.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install $(PIP_FLAGS) -U pip
	$(BENCH_VENV)/bin/pip install $(PIP_FLAGS) -e '.[postgres]' -r bench/requirements.txt
	touch $@

bench: bench-tracking bench-data bench-serving bench-monitoring bench-startup bench-server

bench-tracking: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/tracking.py $(BENCH_ARGS)

bench-data: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/data.py $(BENCH_ARGS)

bench-serving: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/serving.py $(BENCH_ARGS)

bench-monitoring: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/monitoring.py $(BENCH_ARGS)

bench-startup: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/startup.py $(BENCH_ARGS)

bench-server: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/server.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(MLFLOW_VENV) cycleml-demo .pytest_cache .mypy_cache .ruff_cache
