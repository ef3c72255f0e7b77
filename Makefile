# Two commands: `make run` and `make test`. Everything else is set up on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help run test lint typecheck unit bench clean browser

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

run: $(STAMP) ## start the LRS (embedded broker and store unless LRS_KAFKA_BOOTSTRAP / LRS_MONGODB_URI are set)
	$(BIN)/lrs serve

test: $(STAMP) lint typecheck browser ## lint, type-check, and run every test (integration included)
	$(BIN)/pytest

browser: ## Debian's Chromium, for the dashboard's browser test (installed when missing)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium \
	  || echo "could not install chromium: tests/e2e/test_dashboard.py will fail"; }

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy (strict on lrs/ and consumers/)
	$(BIN)/mypy

unit: $(STAMP) ## the fast unit tests only
	$(BIN)/pytest tests/unit

bench: $(STAMP) ## benchmarks (print numbers)
	$(BIN)/python bench/ingest.py

clean: ## remove the venv and local data
	rm -rf $(VENV) .lrs-data
