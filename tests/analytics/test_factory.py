"""ANALYTICS_BACKEND picks the ports: DuckDB over the data dir by default, BigQuery (the emulator) when
configured, with clear errors for a missing dataset or project; the analytics deps report from BigQuery."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from shared.analytics.bigquery_adapter import BigQueryAnalytics, bigquery_client
from shared.analytics.bigquery_rollup import BigQueryRollups
from shared.analytics.duckdb_adapter import DuckDbAnalytics
from shared.analytics.duckdb_rollup import DuckDbRollups, rollups_path
from shared.analytics.factory import analytics_port, rollup_port
from shared.analytics.port import QueryParams
from shared.api.analytics_deps import build_analytics_deps
from shared.identity import Identity
from shared.settings import Settings, SettingsError
from tests.analytics.bigquery_tables import create_tables, insert_events
from tests.analytics.events import DAY0, event
from tests.bigquery_emulator import BigQueryEmulator
from tests.fakes import FakeClock


def test_duckdb_is_the_default_over_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.from_env({"GATEWAY_DATA_DIR": str(tmp_path)})
    assert isinstance(analytics_port(settings), DuckDbAnalytics)
    assert isinstance(rollup_port(settings), DuckDbRollups)
    assert rollups_path(tmp_path) == tmp_path / "analytics" / "rollups.duckdb"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"GOOGLE_CLOUD_PROJECT_ID": "demo-test"}, "BIGQUERY_DATASET"),
        ({"BIGQUERY_DATASET": "analytics"}, "GOOGLE_CLOUD_PROJECT_ID"),
    ],
)
def test_bigquery_needs_its_dataset_and_project(env: dict[str, str], variable: str) -> None:
    settings = Settings.from_env({"ANALYTICS_BACKEND": "bigquery", **env})
    for build in (analytics_port, rollup_port):
        with pytest.raises(SettingsError, match="must be set when ANALYTICS_BACKEND=bigquery") as caught:
            build(settings)
        assert caught.value.variable == variable


async def test_the_analytics_deps_report_from_bigquery(bigquery_emulator: BigQueryEmulator, tmp_path: Path) -> None:
    client = bigquery_client(bigquery_emulator.project, bigquery_emulator.endpoint)
    table = create_tables(client, "deps")["usage_events"]
    events = [event(ts=DAY0 + timedelta(hours=h), cost_micros=100 + h) for h in range(6)]
    insert_events(client, table, events)
    settings = Settings.from_env(
        {
            "GATEWAY_DATA_DIR": str(tmp_path),
            "ANALYTICS_BACKEND": "bigquery",
            "BIGQUERY_DATASET": "deps",
            "BIGQUERY_ENDPOINT": bigquery_emulator.endpoint,
            "GOOGLE_CLOUD_PROJECT_ID": bigquery_emulator.project,
        }
    )
    port = analytics_port(settings)
    assert isinstance(port, BigQueryAnalytics)
    assert isinstance(rollup_port(settings), BigQueryRollups)
    (totals,) = await port.run("totals", QueryParams("acme", DAY0, DAY0 + timedelta(days=1)))
    assert (totals["requests"], totals["cost_micros"]) == (6, sum(100 + h for h in range(6)))

    settings = dataclasses.replace(settings, api_key_hash_salt="deps-salt")
    deps = build_analytics_deps(settings, clock=FakeClock(now=(DAY0 + timedelta(hours=12)).timestamp()))
    try:
        admin = Identity(tenant="acme", key_id="key-a", scopes=frozenset({"admin"}))
        report = await deps.analytics.report(admin, 1)
    finally:
        await deps.aclose()
        client.close()  # type: ignore[no-untyped-call]
    assert report["usage"]["requests"] == 6
    assert report["costs"]["totalMicros"] == sum(100 + h for h in range(6))
    assert not (tmp_path / "events").exists()  # nothing read locally
