"""Choosing the analytics backend from the settings: `ANALYTICS_BACKEND=duckdb` (the local event segments and
the rollup file under GATEWAY_DATA_DIR) or `bigquery` (BIGQUERY_DATASET in GOOGLE_CLOUD_PROJECT_ID, at
BIGQUERY_ENDPOINT when set). The report (shared.api.analytics_deps) and the rollup job
(shared.analytics.rollup_job) build their ports here, so both read and write the same tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.analytics.duckdb_adapter import DuckDbAnalytics
from shared.analytics.duckdb_rollup import DuckDbRollups, rollups_path
from shared.analytics.port import AnalyticsPort
from shared.analytics.rollup import RollupPort
from shared.events.local_sink import events_dir
from shared.settings import Settings, SettingsError

if TYPE_CHECKING:
    from google.cloud import bigquery

__all__ = ["analytics_port", "rollup_port"]


def _bigquery(settings: Settings) -> tuple[bigquery.Client, str]:
    """The client and dataset of ANALYTICS_BACKEND=bigquery; a missing variable raises SettingsError."""
    if settings.bigquery_dataset is None:
        raise SettingsError(
            "BIGQUERY_DATASET", "must be set when ANALYTICS_BACKEND=bigquery (the dataset of usage_events)"
        )
    if settings.google_cloud_project_id is None:
        raise SettingsError(
            "GOOGLE_CLOUD_PROJECT_ID", "must be set when ANALYTICS_BACKEND=bigquery (the project the queries run in)"
        )
    from shared.analytics.bigquery_adapter import bigquery_client

    return bigquery_client(settings.google_cloud_project_id, settings.bigquery_endpoint), settings.bigquery_dataset


def analytics_port(settings: Settings) -> AnalyticsPort:
    """The query port of ANALYTICS_BACKEND."""
    if settings.analytics_backend == "bigquery":
        from shared.analytics.bigquery_adapter import BigQueryAnalytics

        return BigQueryAnalytics(*_bigquery(settings))
    return DuckDbAnalytics(events_dir(settings.data_dir), rollups_path(settings.data_dir))


def rollup_port(settings: Settings) -> RollupPort:
    """The rollup writer of ANALYTICS_BACKEND."""
    if settings.analytics_backend == "bigquery":
        from shared.analytics.bigquery_rollup import BigQueryRollups

        return BigQueryRollups(*_bigquery(settings))
    return DuckDbRollups(events_dir(settings.data_dir), rollups_path(settings.data_dir))
