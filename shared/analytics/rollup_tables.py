"""The daily rollup tables, defined once here: BigQuery table schemas (committed JSON) and DuckDB DDL.

- `usage_daily`: one row per (day, tenant, user, key_id, provider, model) with the sums and counts of
  shared.analytics.queries.ROLLUP_MEASURES over that day's deduplicated events. The key columns take their
  type, mode and description from the usage event schema (shared.events.table_schemas), so the two cannot
  drift; every measure is a REQUIRED INT64 (a count, or a sum that is 0 over no values).
- `usage_rollup_days`: one row per rolled day (`day`, `rolled_at`, `events`: the deduplicated events the
  rollup counted). Readers trust `usage_daily` only for the days listed here (shared.analytics.rollup).

Terraform creates the BigQuery tables from `shared/analytics/schemas/<table>.bigquery.json` (`usage_daily`
DAY-partitioned on `day` and clustered by tenant, `PARTITION_FIELDS`); a test regenerates the files and
fails when they are stale: `python -m shared.analytics.rollup_tables` rewrites them. The embedded mode
creates the DuckDB tables from `duckdb_ddl` in its rollup database (shared.analytics.duckdb_rollup).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import MappingProxyType

import orjson

from shared.analytics.queries import ROLLUP_KEYS, ROLLUP_MEASURES, TOKEN_COLUMNS
from shared.events.schema import UsageEvent
from shared.events.table_schemas import bigquery_fields

__all__ = [
    "PARTITION_FIELDS",
    "ROLLUP_TABLES",
    "SCHEMA_DIR",
    "Field",
    "duckdb_ddl",
    "rendered",
    "write_all",
]

SCHEMA_DIR = Path(__file__).parent / "schemas"

Field = dict[str, str]  # a BigQuery schema field: name, type, mode, description

_MEASURE_DOCS = {
    "requests": "deduplicated events (requests) of the group",
    "errors": "events with status error",
    "cache_hits": "events answered from the response cache",
    **{c: f"sum of {c} over events that were not cache hits (tokens consumed from providers)" for c in TOKEN_COLUMNS},
    "cost_micros": "sum of cost_micros (micro-USD; unpriced events add 0)",
    "unpriced": "events without a catalog price (cost_micros null)",
    "cost_saved_micros": "sum of cost_saved_micros (cache savings, micro-USD)",
    "routing_saved_micros": "sum of requested_cost_micros - cost_micros over route_reason cheapest (micro-USD)",
    "failovers": "provider-served events with more than one attempt or a fallback route",
}


def _usage_daily() -> list[Field]:
    event = {f["name"]: f for f in bigquery_fields(UsageEvent)}
    missing = set(ROLLUP_MEASURES) ^ set(_MEASURE_DOCS)
    if missing:
        raise ValueError(f"rollup measures and their descriptions differ: {sorted(missing)}")
    return [
        {"name": "day", "type": "DATE", "mode": "REQUIRED", "description": "the UTC day of the events' ts"},
        *({**event[key]} for key in ROLLUP_KEYS),
        *(
            {"name": name, "type": "INT64", "mode": "REQUIRED", "description": _MEASURE_DOCS[name]}
            for name in ROLLUP_MEASURES
        ),
    ]


_ROLLUP_DAYS: list[Field] = [
    {"name": "day", "type": "DATE", "mode": "REQUIRED", "description": "a UTC day whose usage_daily rows are complete"},
    {"name": "rolled_at", "type": "TIMESTAMP", "mode": "REQUIRED", "description": "when the day was last rolled"},
    {"name": "events", "type": "INT64", "mode": "REQUIRED", "description": "deduplicated events the rollup counted"},
]

ROLLUP_TABLES: MappingProxyType[str, tuple[Field, ...]] = MappingProxyType(
    {"usage_daily": tuple(_usage_daily()), "usage_rollup_days": tuple(_ROLLUP_DAYS)}
)
# The DAY partitioning column of each table (Terraform, and the BigQuery tests' tables).
PARTITION_FIELDS = MappingProxyType({"usage_daily": "day"})

_DUCKDB_TYPES = {"STRING": "VARCHAR", "INT64": "BIGINT", "DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}


def duckdb_ddl(table: str) -> str:
    """`CREATE TABLE IF NOT EXISTS` for one rollup table in DuckDB (TIMESTAMP holds UTC, as for the events)."""
    columns = ", ".join(
        f'"{f["name"]}" {_DUCKDB_TYPES[f["type"]]}{" NOT NULL" if f["mode"] == "REQUIRED" else ""}'
        for f in ROLLUP_TABLES[table]
    )
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns})"


def rendered() -> dict[Path, bytes]:
    """Every schema file's path and its exact content."""
    options = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    return {
        SCHEMA_DIR / f"{name}.bigquery.json": orjson.dumps(list(fields), option=options)
        for name, fields in ROLLUP_TABLES.items()
    }


def write_all() -> list[Path]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for path, content in rendered().items():
        path.write_bytes(content)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        sys.stdout.write(f"wrote {path}\n")
