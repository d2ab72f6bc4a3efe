"""The BigQuery emulator, one per test session (it starts in about a second, and each test module loads its
events into a dataset of its own)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bigquery_emulator import BigQueryEmulator, run_bigquery_emulator


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    workdir: Path = tmp_path_factory.mktemp("bigquery-emulator")
    with run_bigquery_emulator(workdir) as emulator:
        yield emulator
