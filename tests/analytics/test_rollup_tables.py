"""The rollup table schemas are generated from their Python definition: the committed files are current, the
key columns are the usage event's own, every measure of the rollup is a column, and the DuckDB DDL matches."""

from __future__ import annotations

import duckdb

from shared.analytics.queries import ROLLUP_KEYS, ROLLUP_MEASURES
from shared.analytics.rollup_tables import ROLLUP_TABLES, duckdb_ddl, rendered
from shared.events.schema import UsageEvent
from shared.events.table_schemas import bigquery_fields


def test_the_committed_schema_files_are_what_the_definition_gives() -> None:
    stale = [path.name for path, content in rendered().items() if not path.exists() or path.read_bytes() != content]
    assert stale == [], "run: python -m shared.analytics.rollup_tables"
    assert sorted(path.name for path in rendered()) == ["usage_daily.bigquery.json", "usage_rollup_days.bigquery.json"]


def test_usage_daily_has_the_day_the_event_keys_and_every_measure() -> None:
    columns = {f["name"]: f for f in ROLLUP_TABLES["usage_daily"]}
    assert list(columns) == ["day", *ROLLUP_KEYS, *ROLLUP_MEASURES]
    event = {f["name"]: f for f in bigquery_fields(UsageEvent)}
    for key in ROLLUP_KEYS:
        assert columns[key] == event[key]
    assert (columns["user"]["mode"], columns["tenant"]["mode"]) == ("NULLABLE", "REQUIRED")
    assert all((columns[m]["type"], columns[m]["mode"]) == ("INT64", "REQUIRED") for m in ROLLUP_MEASURES)
    assert "failovers" in columns
    assert all(f["description"] for f in columns.values())


def test_the_rolled_days_table() -> None:
    assert [(f["name"], f["type"], f["mode"]) for f in ROLLUP_TABLES["usage_rollup_days"]] == [
        ("day", "DATE", "REQUIRED"),
        ("rolled_at", "TIMESTAMP", "REQUIRED"),
        ("events", "INT64", "REQUIRED"),
    ]


def test_the_duckdb_tables_have_the_same_columns() -> None:
    with duckdb.connect() as connection:
        for table, fields in ROLLUP_TABLES.items():
            connection.execute(duckdb_ddl(table))
            connection.execute(duckdb_ddl(table))  # IF NOT EXISTS: a second run is harmless
            described = connection.execute(f"DESCRIBE {table}").fetchall()
            assert [(row[0], row[2]) for row in described] == [
                (f["name"], "NO" if f["mode"] == "REQUIRED" else "YES") for f in fields
            ]
