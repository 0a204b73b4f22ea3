# The README's two commands are `make run` and `make test`; everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install dev-install services browser lint typecheck pytest screenshots migrate openapi bench bench-monitor chaos clean

run: install ## install and start the embedded service (SQLite + in-process worker) with a sample workflow
	$(BIN)/workflow-service dev --host $(HOST) --port $(PORT)

test: dev-install services browser lint typecheck pytest ## lint, types and the whole suite against PostgreSQL and Redis

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e . -e clients/python
	touch $@

dev-install: $(VENV)/.installed-dev
$(VENV)/.installed-dev: pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]' -e clients/python
	touch $(VENV)/.installed $@

services: ## start PostgreSQL and Redis when they are not running
	bash scripts/ensure-services.sh

browser: ## Debian's Chromium for the browser tests (tests/ui), installed with apt-get when it is missing
	bash scripts/ensure-chromium.sh

lint:
	$(BIN)/ruff format --check src tests bench clients/python
	$(BIN)/ruff check src tests bench clients/python

typecheck:
	$(BIN)/mypy

# The suite on PYTEST_WORKERS processes (pytest-xdist), each with its own PostgreSQL and Redis database
# (tests/isolation.py); `make pytest PYTEST_WORKERS=0` runs it in one process. Most tests wait on the
# database, Redis or a server, so more workers than cores pay off (docs/testing.md has the figures).
PYTEST_WORKERS ?= 3
PYTEST_DIST ?= loadfile

pytest:
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST) $(PYTEST_ARGS)

screenshots: dev-install services browser ## the dashboard's screenshots in docs/screenshots, taken by its browser tests
	WFS_SCREENSHOTS=docs/screenshots $(MAKE) pytest PYTEST_ARGS=tests/ui

migrate: install ## apply migrations to WFS_DATABASE_URL (default: the embedded SQLite file)
	$(BIN)/workflow-service migrate

openapi: dev-install ## regenerate openapi/openapi.json from the app, and the client's modules from it
	$(BIN)/workflow-service openapi > openapi/openapi.json
	$(BIN)/python clients/python/scripts/generate.py

bench: dev-install services ## throughput and latency on PostgreSQL + Redis (see docs/benchmarks.md)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/parallel_llm.py

bench-monitor: dev-install services ## the workflow monitor on 1,000,000 jobs in PostgreSQL (see docs/benchmarks.md)
	$(BIN)/python bench/monitor.py $(BENCH_ARGS)

chaos: dev-install ## a bounded chaos run: workers killed, Redis flushed, API restarted (docs/operations.md)
	$(BIN)/python bench/chaos.py $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
