"""The embedded analytics adapter: DuckDB in-process over the local usage event segments.

Each query is the sqlglot translation of the BigQuery text (shared.analytics.translate), run against a
view `usage_events` over `read_json` of every sealed segment (`GATEWAY_DATA_DIR/events/events-*.jsonl`,
shared.events.local_sink; `.partial` files are still being written and are not matched). Columns are
given explicitly, derived from `UsageEvent`, so a segment that lacks a field (older writer) reads it as
NULL instead of failing type inference, and the schema stays the one source of truth.

Timestamps are read as DuckDB `TIMESTAMP` holding UTC and compared with naive UTC parameters, so
`DATE(ts)` is the UTC day with no time zone setting involved. Each query runs on a fresh in-memory
connection in a worker thread (DuckDB's Python API blocks); with no segment yet it returns no rows.

The daily rollups (`usage_daily`, `usage_rollup_days`: shared.analytics.rollup) live in their own DuckDB
file (`GATEWAY_DATA_DIR/analytics/rollups.duckdb`, written only by shared.analytics.duckdb_rollup, which
replaces the whole file atomically); each query attaches it READ_ONLY, and with no such file yet reads
empty rollup tables, that is the raw events for every day.
"""

from __future__ import annotations

import asyncio
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from shared.analytics.port import AnalyticsUnavailable, QueryParams, Row
from shared.analytics.queries import QUERIES
from shared.analytics.rollup_tables import ROLLUP_TABLES, duckdb_ddl
from shared.analytics.translate import DuckDbQuery, to_duckdb
from shared.events.local_sink import SEGMENT_GLOB
from shared.events.schema import UsageEvent

__all__ = ["DuckDbAnalytics", "event_columns", "events_view", "naive_utc", "rollup_views"]

_TYPES: dict[object, str] = {str: "VARCHAR", int: "BIGINT", bool: "BOOLEAN", datetime: "TIMESTAMP"}


def _duckdb_type(annotation: object) -> str:
    """The DuckDB type of one UsageEvent field: Optional unwrapped, Literal (string enums) as VARCHAR."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _duckdb_type(args[0])
    if origin is typing.Literal and all(isinstance(a, str) for a in args):
        return "VARCHAR"
    if origin is typing.Annotated:
        return _duckdb_type(args[0])
    found = _TYPES.get(annotation)
    if found is None:
        raise TypeError(f"no DuckDB type for UsageEvent field type {annotation!r}")
    return found


def event_columns() -> dict[str, str]:
    """UsageEvent's fields as DuckDB `read_json` columns, in schema order."""
    return {name: _duckdb_type(field.annotation) for name, field in UsageEvent.model_fields.items()}


def _struct(columns: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"


def naive_utc(moment: datetime) -> datetime:
    """A DuckDB TIMESTAMP value: the UTC wall time without a zone."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def events_view(directory: Path) -> str:
    """The temporary `usage_events`: the segments, or an empty table of the same shape when there are none."""
    columns = event_columns()
    if not any(Path(directory).glob(SEGMENT_GLOB)):
        typed = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        return f"CREATE TEMP TABLE usage_events ({typed})"
    return (
        "CREATE TEMP VIEW usage_events AS SELECT * FROM read_json("
        f"{_quoted(Path(directory) / SEGMENT_GLOB)}, format = 'newline_delimited', columns = {_struct(columns)})"
    )


def rollup_views(database: Path | None) -> list[str]:
    """Statements giving a connection the rollup tables: `database` attached read-only, or empty tables."""
    if database is None or not database.is_file():
        return [duckdb_ddl(table).replace("CREATE TABLE", "CREATE TEMP TABLE", 1) for table in ROLLUP_TABLES]
    return [
        f"ATTACH {_quoted(database)} AS rollups (READ_ONLY)",
        *(f"CREATE TEMP VIEW {table} AS SELECT * FROM rollups.{table}" for table in ROLLUP_TABLES),
    ]


class DuckDbAnalytics:
    """`AnalyticsPort` over the segment files in `directory` (the events directory, not the data dir) and the
    rollup database `rollups` (None: no rollups, every day from the raw events)."""

    def __init__(self, directory: Path, rollups: Path | None = None) -> None:
        self._directory = Path(directory)
        self._rollups = rollups
        self._queries: dict[str, DuckDbQuery] = {name: to_duckdb(sql) for name, sql in QUERIES.items()}

    async def run(self, query: str, params: QueryParams) -> list[Row]:
        translated = self._queries.get(query)
        if translated is None:
            raise KeyError(f"unknown analytics query {query!r}: expected one of {sorted(self._queries)}")
        return await asyncio.to_thread(self._run, translated, params)

    def _run(self, query: DuckDbQuery, params: QueryParams) -> list[Row]:
        values: dict[str, object] = {
            "tenant": params.tenant,
            "user": params.user,
            "key_id": params.key_id,
            "since": naive_utc(params.since),
            "until": naive_utc(params.until),
        }
        try:
            with duckdb.connect(":memory:") as connection:
                for statement in (events_view(self._directory), *rollup_views(self._rollups)):
                    connection.execute(statement)
                cursor = connection.execute(query.sql, {k: v for k, v in values.items() if k in query.parameters})
                names = [column[0] for column in cursor.description or ()]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error as exc:
            raise AnalyticsUnavailable(f"reading usage events in {self._directory} failed: {exc}") from exc
