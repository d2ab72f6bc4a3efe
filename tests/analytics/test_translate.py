"""The BigQuery queries and their DuckDB translation: every query parses in both dialects and runs on
DuckDB; APPROX_QUANTILES(x, k)[OFFSET(n)] becomes the exact QUANTILE_CONT, and nothing stays approximate."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from shared.analytics.duckdb_adapter import event_columns
from shared.analytics.queries import PARAMETERS, QUERIES, USAGE_QUERIES
from shared.analytics.rollup import ROLLED_DAY, ROLLUP_MARK, ROLLUP_PARAMETERS, ROLLUP_ROWS
from shared.analytics.rollup_tables import ROLLUP_TABLES, duckdb_ddl
from shared.analytics.translate import to_duckdb


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_query_parses_in_both_dialects_and_runs_on_duckdb(name: str) -> None:
    tree = sqlglot.parse_one(QUERIES[name], read="bigquery")
    tables = {t.name for t in tree.find_all(exp.Table)}
    if name in USAGE_QUERIES:  # the rolled days from the rollup, the others from the events (queries.py)
        assert tables == {"usage_events", "usage_daily", "usage_rollup_days", "rolled", "events", "daily"}
    else:
        assert tables == {"usage_events", "events"}  # the scoped CTE
    query = to_duckdb(QUERIES[name])
    sqlglot.parse_one(query.sql, read="duckdb")
    assert "APPROX_QUANTILE" not in query.sql.upper()
    assert query.parameters <= set(PARAMETERS)
    assert {"tenant", "since", "until"} <= query.parameters
    with duckdb.connect() as connection:
        columns = ", ".join(f'"{n}" {t}' for n, t in event_columns().items())
        connection.execute(f"CREATE TABLE usage_events ({columns})")
        for table in ROLLUP_TABLES:
            connection.execute(duckdb_ddl(table))
        values = {
            "tenant": "t",
            "user": None,
            "key_id": None,
            "since": datetime(2026, 1, 1),
            "until": datetime(2026, 2, 1),
        }
        connection.execute(query.sql, {k: v for k, v in values.items() if k in query.parameters}).fetchall()


@pytest.mark.parametrize(
    ("index", "fraction"),
    [("OFFSET(95)", "0.95"), ("OFFSET(50)", "0.5"), ("ORDINAL(51)", "0.5"), ("SAFE_OFFSET(0)", "0.0")],
)
def test_approx_quantiles_become_exact_quantile_cont(index: str, fraction: str) -> None:
    sql = to_duckdb(f"SELECT APPROX_QUANTILES(x, 100)[{index}] AS p FROM t").sql
    assert sql == f"SELECT QUANTILE_CONT(x, {fraction}) AS p FROM t"


def test_other_bucket_counts_scale_the_fraction() -> None:
    assert to_duckdb("SELECT APPROX_QUANTILES(x, 4)[OFFSET(3)] FROM t").sql == "SELECT QUANTILE_CONT(x, 0.75) FROM t"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT APPROX_QUANTILES(x, 100) FROM t",  # the whole array
        "SELECT APPROX_QUANTILES(x, 100)[OFFSET(i)] FROM t",  # not a constant index
        "SELECT APPROX_QUANTILES(x, 100)[OFFSET(101)] FROM t",  # outside the buckets
    ],
)
def test_forms_that_cannot_be_made_exact_are_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="APPROX_QUANTILES"):
        to_duckdb(sql)


def test_parameters_become_duckdb_named_parameters() -> None:
    query = to_duckdb("SELECT 1 FROM usage_events WHERE tenant = @tenant AND ts >= @since")
    assert "$tenant" in query.sql
    assert "$since" in query.sql
    assert query.parameters == {"tenant", "since"}


def test_timestamp_of_a_date_is_a_plain_utc_timestamp_in_duckdb() -> None:
    # DuckDB's timestamps hold UTC without a zone; TIMESTAMPTZ would hang on the session's time zone.
    sql = to_duckdb("SELECT day FROM d WHERE TIMESTAMP(day) >= @since").sql
    assert sql == "SELECT day FROM d WHERE CAST(day AS TIMESTAMP) >= $since"
    assert "AT TIME ZONE" in to_duckdb("SELECT TIMESTAMP(day, 'Europe/Paris') FROM d").sql  # a zone is kept


@pytest.mark.parametrize("sql", [ROLLUP_ROWS, ROLLUP_MARK, ROLLED_DAY])
def test_the_rollup_statements_translate_and_run_on_duckdb(sql: str) -> None:
    query = to_duckdb(sql)
    assert query.parameters <= set(ROLLUP_PARAMETERS)
    with duckdb.connect() as connection:
        columns = ", ".join(f'"{n}" {t}' for n, t in event_columns().items())
        connection.execute(f"CREATE TABLE usage_events ({columns})")
        for table in ROLLUP_TABLES:
            connection.execute(duckdb_ddl(table))
        values = {
            "day": date(2026, 1, 1),
            "since": datetime(2026, 1, 1),
            "until": datetime(2026, 1, 2),
            "rolled_at": datetime(2026, 1, 3),
        }
        connection.execute(query.sql, {k: v for k, v in values.items() if k in query.parameters})
