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
TF_DIR := terraform

.PHONY: tools node pubsub-emulator bigquery-emulator test lint typecheck pytest run simulator venv clean bench bench-tools package iac iac-fmt checkov

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@rm -f $(VENV)/.installed-* && touch $@

test: venv tools lint typecheck iac pytest

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

# Offline checks of the Terraform in $(TF_DIR)/ (part of `make test`): `terraform fmt` (syntax and style; the
# empty CLI config keeps Terraform from reading the image's missing ~/.terraformrc), then checkov in its own
# venv (.venv-checkov, tools/checkov/setup.sh) behind tools/checkov/gate.py, which also fails on parse errors.
# `terraform validate` and `plan` need the provider registry: they run in Cloud Build only (cloudbuild.yaml).
iac: iac-fmt checkov

iac-fmt:
	@command -v terraform >/dev/null || { echo "make iac needs Terraform 1.11 for 'terraform fmt': install it from https://developer.hashicorp.com/terraform/install (Debian: apt-get install terraform, from apt.releases.hashicorp.com)"; exit 1; }
	@test -d $(TF_DIR) || { echo "make iac: no $(TF_DIR)/ directory"; exit 1; }
	@TF_CLI_CONFIG_FILE=/dev/null terraform fmt -no-color -check -recursive -diff $(TF_DIR) || \
		{ echo "terraform fmt: $(TF_DIR)/ is not formatted (or does not parse); fix with: terraform fmt -recursive $(TF_DIR)"; exit 1; }

checkov:
	PYTHON=$(PYTHON) tools/checkov/run.sh $(TF_DIR)

# The functions' deployable sources: build/<function>/ and deterministic build/<function>.zip, with digests.
package:
	$(PYTHON) -m tools.package

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

# Benchmarks (not part of `make test`): adapter overhead, routing, and issue 9's comparison (the simulator
# direct, bench/minimal_proxy.py, the gateway embedded and with Redis; cold start, import time, cache hits,
# Pub/Sub event cost, a memory soak), appended to bench/results/compare.md. It needs wrk, redis-server and
# the Pub/Sub emulator's venv; BENCH_ARGS=--quick for a short run. (`python -m bench.gateway`, the earlier
# overhead-only bench, still runs on its own; it rewrites bench/results/gateway.md.)
bench: venv bench-tools pubsub-emulator
	$(BIN)/python -m bench.adapters
	$(BIN)/python -m bench.routing
	$(BIN)/python -m bench.transport --write
	$(BIN)/python -m bench.profile --write
	$(BIN)/python -m bench.compare $(BENCH_ARGS)

bench-tools:
	@command -v wrk >/dev/null && command -v redis-server >/dev/null || \
		{ command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq wrk redis-server >/dev/null; } || \
		{ echo "make bench needs wrk and redis-server (apt-get install wrk redis-server)"; exit 1; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
