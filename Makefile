# Two commands matter: `make run` serves the app, `make test` runs the whole suite.
# Everything is installed into the project folder (.venv, .tools); re-running is fast.

SHELL := /bin/bash
PYTHON_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUN_VERSION := 1.4.4
BUN := .tools/node_modules/.bin/bun
HOST ?= 127.0.0.1
PORT ?= 3000
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export PATH := $(CURDIR)/.tools/node_modules/.bin:$(PATH)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.runtime-installed: requirements.txt
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# bun from the npm registry, never the internet installer (which fails offline).
$(BUN):
	mkdir -p .tools
	npm install --prefix .tools --no-audit --no-fund --loglevel=error bun@$(BUN_VERSION)
	@$(BUN) --version >/dev/null

.PHONY: install
install: $(VENV)/.runtime-installed $(BUN) ## Create .venv and install the pinned runtime + bun

.PHONY: run
run: install ## Serve the app on http://localhost:3000 (SQLite + demo model; WORKERS=N needs REDIS_URL)
	HOST=$(HOST) PORT=$(PORT) ./scripts/start.sh

.PHONY: test
test: $(VENV)/.dev-installed $(BUN) ## Run the whole suite (SQLite, PostgreSQL, Redis and real Chromium)
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

.PHONY: lint
lint: $(VENV)/.dev-installed ## ruff, mypy and hadolint
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy chat_app
	$(VENV)/bin/hadolint Dockerfile

.PHONY: format
format: $(VENV)/.dev-installed ## Apply ruff's formatting and safe fixes
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

.PHONY: migrate
migrate: install ## Apply database migrations to DATABASE_URL (default: the SQLite file)
	$(PY) -m alembic upgrade head

.PHONY: clean
clean: ## Remove the build output (keeps .venv, .tools and data/)
	rm -rf .web .states test-artifacts

.PHONY: bench
bench: $(VENV)/.dev-installed $(BUN) ## Run the benchmarks (not part of make test)
	$(PY) -m bench $(BENCH_ARGS)
