#!/usr/bin/env bash
# The BigQuery emulator (PyPI bqemulator, DuckDB + SQLGlot) in its own virtual environment, `.venv-bq`.
#
# Its own venv because bqemulator pins protobuf 6 (through grpcio-tools < 1.81) and the project's venv has
# protobuf 7 (shared/docs/emulators.md). Versions are pinned: duckdb stays at 1.5.5 because PyPI's
# duckdb-extension-* wheels stop there, and numpy is needed although bqemulator does not declare it.
# bqemulator runs `INSTALL spatial` at start, which downloads and so fails offline; installing the extensions
# once from the wheels' files into a fixed directory inside the venv (HOME is pointed there by
# tests/bigquery_emulator.py, since DuckDB keeps extensions under $HOME/.duckdb) makes that INSTALL a no-op.
#
# Idempotent: a stamp named after the pinned set skips everything when it is already in place.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-bq"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
PACKAGES=(bqemulator==1.4.0 duckdb==1.5.5 duckdb-extension-spatial==1.5.5 duckdb-extension-avro==1.5.5 numpy==2.4.6)
EXTENSIONS=(spatial avro)
STAMP="$VENV/.installed-$(printf '%s\n' "${PACKAGES[@]}" | sha1sum | cut -c1-12)"

if [[ -f "$STAMP" ]]; then
	exit 0
fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}"
# DuckDB's extension directory is $HOME/.duckdb/extensions: the emulator runs with HOME=$VENV/home.
mkdir -p "$VENV/home"
HOME="$VENV/home" "$VENV/bin/python" - "${EXTENSIONS[@]}" <<'PY'
import glob
import importlib
import os
import sys

import duckdb

connection = duckdb.connect()
for name in sys.argv[1:]:
    module = importlib.import_module(f"duckdb_extension_{name}")
    (path,) = glob.glob(os.path.join(os.path.dirname(module.__file__), "extensions", "*", "*.duckdb_extension"))
    connection.execute(f"INSTALL '{path}'")
    connection.execute(f"LOAD {name}")
PY
rm -f "$VENV"/.installed-* && touch "$STAMP"
