"""BigQuery SQL -> DuckDB SQL with sqlglot, percentiles made exact.

sqlglot translates `APPROX_QUANTILES(x, k)[OFFSET(n)]` to DuckDB's approximate `APPROX_QUANTILE`; the
architecture (Usage events and analytics) wants DuckDB exact, so that form is rewritten to
`QUANTILE_CONT(x, n / k)` before generating (ORDINAL(n) is the (n-1)-th quantile). Any other use of
APPROX_QUANTILES (no constant index, the whole array) is refused rather than left approximate.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

__all__ = ["DuckDbQuery", "to_duckdb"]


@dataclass(frozen=True, slots=True)
class DuckDbQuery:
    sql: str
    parameters: frozenset[str]  # the named parameters the query uses (DuckDB rejects unused ones)


def _int(node: exp.Expression | None, what: str) -> int:
    if not isinstance(node, exp.Literal) or node.is_string:
        raise ValueError(f"APPROX_QUANTILES needs a constant integer {what} to be translated exactly")
    return int(node.this)


def _exact_quantile(node: exp.Expression) -> exp.Expression:
    if not (isinstance(node, exp.Bracket) and isinstance(node.this, exp.ApproxQuantiles)):
        return node
    index = node.expressions
    if len(index) != 1:
        raise ValueError("APPROX_QUANTILES must be indexed by one OFFSET(n) or ORDINAL(n)")
    quantiles = node.this
    buckets = _int(quantiles.expression, "number of buckets")
    position = _int(index[0], "index") - int(node.args.get("offset") or 0)
    if buckets <= 0 or not 0 <= position <= buckets:
        raise ValueError(f"APPROX_QUANTILES index {position} is outside 0..{buckets}")
    return exp.Anonymous(
        this="QUANTILE_CONT", expressions=[quantiles.this.copy(), exp.Literal.number(position / buckets)]
    )


def _countif_zero(node: exp.Expression) -> exp.Expression:
    # BigQuery's COUNTIF over no rows is 0; DuckDB's COUNT_IF is NULL. Keep BigQuery's meaning.
    if isinstance(node, exp.CountIf) and not isinstance(node.parent, exp.Coalesce):
        return exp.Coalesce(this=node.copy(), expressions=[exp.Literal.number(0)])
    return node


def _utc_timestamp(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Timestamp) and node.args.get("zone") is None:
        return exp.Cast(this=node.this.copy(), to=exp.DataType.build("TIMESTAMP"))
    return node


def to_duckdb(bigquery_sql: str) -> DuckDbQuery:
    """The DuckDB form of one BigQuery query, with its parameter names (`@x` becomes `$x`)."""
    tree = (
        sqlglot.parse_one(bigquery_sql, read="bigquery")
        .transform(_exact_quantile)
        .transform(_countif_zero)
        .transform(_utc_timestamp)
    )
    if tree.find(exp.ApproxQuantiles) is not None:
        raise ValueError("APPROX_QUANTILES is only translated as APPROX_QUANTILES(x, k)[OFFSET(n)]")
    names = frozenset(p.name for p in tree.find_all(exp.Parameter, exp.Placeholder) if p.name)
    return DuckDbQuery(sql=tree.sql(dialect="duckdb"), parameters=names)
