"""The analytics tables in an emulator dataset, made as Terraform makes them: from the committed schema files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from google.cloud import bigquery

from shared.analytics.rollup_tables import PARTITION_FIELDS
from shared.analytics.rollup_tables import SCHEMA_DIR as ROLLUP_SCHEMA_DIR
from shared.events.schema import UsageEvent
from shared.events.table_schemas import SCHEMA_DIR as EVENT_SCHEMA_DIR

__all__ = ["create_tables", "insert_events"]

_SCHEMAS = {
    "usage_events": (EVENT_SCHEMA_DIR / "usage_events.bigquery.json", "ts", ["tenant", "provider"]),
    "usage_daily": (ROLLUP_SCHEMA_DIR / "usage_daily.bigquery.json", PARTITION_FIELDS["usage_daily"], ["tenant"]),
    "usage_rollup_days": (ROLLUP_SCHEMA_DIR / "usage_rollup_days.bigquery.json", None, None),
}


def _create(client: bigquery.Client, path: str, schema: Path, partition: str | None, cluster: list[str] | None) -> None:
    fields = json.loads(schema.read_text())
    table = bigquery.Table(path, [bigquery.SchemaField.from_api_repr(f) for f in fields])
    if partition is not None:
        table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=partition)
    table.clustering_fields = cluster
    created = client.create_table(table)
    if partition is not None:
        assert created.time_partitioning.field == partition


def create_tables(client: bigquery.Client, dataset: str) -> dict[str, str]:
    """A new dataset with the events table and the rollup tables; their full paths by name."""
    client.create_dataset(dataset)
    paths = {name: f"{client.project}.{dataset}.{name}" for name in _SCHEMAS}
    for name, (schema, partition, cluster) in _SCHEMAS.items():
        _create(client, paths[name], schema, partition, cluster)
    return paths


def insert_events(client: bigquery.Client, table: str, events: Sequence[UsageEvent], suffix: str = "") -> None:
    """Stream `events` into `table` (row ids: the event ids, plus `suffix` for a redelivered copy)."""
    rows = [json.loads(e.to_json_bytes()) for e in events]
    for start in range(0, len(rows), 100):
        batch = rows[start : start + 100]
        assert client.insert_rows_json(table, batch, row_ids=[r["event_id"] + suffix for r in batch]) == []
