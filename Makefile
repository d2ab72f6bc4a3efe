# The two commands of the README: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt 2>/dev/null | sha1sum | cut -c1-12)
SIM_PORT ?= 8090
FIRESTORE_EMULATOR := tools/firestore-emulator
FIRESTORE_EMULATOR_STAMP := $(FIRESTORE_EMULATOR)/node_modules/.installed
PUBSUB_VENV := .venv-pubsub
PUBSUB_STAMP := $(PUBSUB_VENV)/.installed

.PHONY: tools node pubsub-emulator bigquery-emulator test lint typecheck pytest run simulator venv clean bench

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@rm -f $(VENV)/.installed-* && touch $@

test: venv tools lint typecheck pytest

# The cache tests start their own redis-server (unless REDIS_URL points at one) and make TLS files with
# openssl; the document store tests start the Firestore emulator (unless FIRESTORE_EMULATOR_HOST names
# one), a Node package pinned in $(FIRESTORE_EMULATOR); the dashboard's browser test drives headless chromium
# through chromium-driver (one Debian source package, so their versions always match). Install what the
# machine lacks from Debian's packages.
tools: node $(FIRESTORE_EMULATOR_STAMP) pubsub-emulator bigquery-emulator
	@command -v redis-server >/dev/null && command -v openssl >/dev/null || \
		{ command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq redis-server openssl >/dev/null; } || \
		{ echo "make test needs redis-server and openssl (apt-get install redis-server openssl)"; exit 1; }
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
		{ echo "make test needs chromium and chromium-driver (apt-get install chromium chromium-driver)"; exit 1; }

node:
	@command -v node >/dev/null && command -v npm >/dev/null || \
		{ command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; } || \
		{ echo "make test needs node and npm (apt-get install nodejs npm)"; exit 1; }

# Installed exactly from the lock file; again whenever package.json or the lock file is newer.
$(FIRESTORE_EMULATOR_STAMP): $(FIRESTORE_EMULATOR)/package.json $(FIRESTORE_EMULATOR)/package-lock.json | node
	cd $(FIRESTORE_EMULATOR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The Pub/Sub emulator of the events tests (PyPI cloudbox, pinned and patched) in a venv of its own; again
# whenever the setup script changes. tests/pubsub_emulator.py starts it unless PUBSUB_EMULATOR_HOST is set.
pubsub-emulator: $(PUBSUB_STAMP)

$(PUBSUB_STAMP): tools/pubsub-emulator/setup.sh
	PYTHON=$(PYTHON) tools/pubsub-emulator/setup.sh $(PUBSUB_VENV)
	@touch $@

# The BigQuery emulator of the analytics tests (PyPI bqemulator with DuckDB 1.5.5 and its extensions from
# their wheels, offline) in .venv-bq; the script is idempotent behind a stamp named after the pinned set.
bigquery-emulator:
	@PYTHON=$(PYTHON) tools/bigquery-emulator/setup.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

# The provider simulator on 127.0.0.1:$(SIM_PORT) (all three providers' wire formats).
simulator: venv
	$(BIN)/python -m local.simulator --port $(SIM_PORT)

# The gateway on 127.0.0.1:$${PORT:-8080}, embedded backends; the simulator behind it when no provider key is set.
run: venv
	$(BIN)/python -m local

# Benchmarks (not part of `make test`): adapter overhead, and the gateway in front of the simulator
# (needs wrk: apt-get install -y wrk). Results go to bench/results/.
bench: venv
	$(BIN)/python -m bench.adapters
	$(BIN)/python -m bench.routing
	$(BIN)/python -m bench.gateway

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
