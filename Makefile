# The two commands of the quick start: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
SYSTEM_PACKAGES := postgresql chromium prometheus
export MLFLOW_DISABLE_TELEMETRY ?= true

DATA_PATH ?= ./data

.PHONY: run test test-fast lint typecheck install install-dev clean bench help mlflow-ui

help:
	@echo "make run        install, migrate and serve on http://127.0.0.1:8000"
	@echo "make test       install what tests need (system packages too, as root) and run them all"
	@echo "make test-fast  unit tests only, in seconds"
	@echo "make lint       ruff, mypy and the import-layer contracts"
	@echo "make bench      the benchmarks under benchmarks/"
	@echo "make mlflow-ui  browse training runs and registered models"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11 or newer is needed (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[serve,train]'
	@touch $@

$(STAMP_DEV): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[serve,train,dev]'
	@touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)
install-dev: $(STAMP_DEV)

run: $(STAMP_RUN)
	$(BIN)/rps up

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pre-commit validate-config .pre-commit-config.yaml

test: $(STAMP_DEV)
	bash scripts/ensure-system-packages.sh $(SYSTEM_PACKAGES)
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: $(STAMP_DEV)
	$(BIN)/pytest -q tests/unit tests/golden

bench: $(STAMP_DEV)
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/play_latency.py
	$(BIN)/python benchmarks/train.py

mlflow-ui: $(STAMP_DEV)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(DATA_PATH))/mlflow.db \
		--host 127.0.0.1 --port 5000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
