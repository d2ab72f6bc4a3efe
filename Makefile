# The two commands of the README: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt 2>/dev/null | sha1sum | cut -c1-12)
SIM_PORT ?= 8090

.PHONY: tools test lint typecheck pytest run simulator venv clean bench

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@rm -f $(VENV)/.installed-* && touch $@

test: venv tools lint typecheck pytest

# The cache tests start their own redis-server (unless REDIS_URL points at one) and make TLS files with
# openssl: install them from Debian's packages where the machine lacks them.
tools:
	@command -v redis-server >/dev/null && command -v openssl >/dev/null || \
		{ command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq redis-server openssl >/dev/null; } || \
		{ echo "make test needs redis-server and openssl (apt-get install redis-server openssl)"; exit 1; }

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
	$(BIN)/python -m bench.gateway

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
