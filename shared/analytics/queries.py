"""The analytics queries, written once in BigQuery's dialect over the table `usage_events`.

BigQuery runs them as they are; DuckDB runs their sqlglot translation (shared.analytics.translate). Every
query reads the same scoped, deduplicated event set (`_EVENTS`): the tenant's events, narrowed to one
user (`@user`) or one gateway key (`@key_id`) when those are not NULL, in [`@since`, `@until`), one row
per `event_id` (delivery is at-least-once: shared.events.local_sink, Pub/Sub).

Counting rules (shared.events.schema):
- Tokens are those consumed from providers: cache hits replay a stored reply and consume none.
- Cost is `cost_micros` summed exactly (integers); unpriced events (NULL cost) count as `unpriced`.
- Latency percentiles are over served requests (`status = 'ok'`, cache hits included: what callers
  waited); TTFT over streams that reported one. `APPROX_QUANTILES(x, 100)[OFFSET(n)]` is BigQuery's
  approximate n-th percentile; the DuckDB translation makes it exact.
- A failover is a provider-served request that needed more than one attempt or was served by a fallback
  route (`route_reason` "fallback after ...", which includes routes skipped for an open breaker). A model
  chosen by cost-optimized routing ("cheapest") is not a failover.
- Routing savings are what the requested model would have cost for the same usage less what was billed,
  over the requests that cost-optimized routing sent to a cheaper model (`route_reason = 'cheapest'`);
  failovers and preferred providers are not savings. Cache savings are `cost_saved_micros`.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["PARAMETERS", "QUERIES", "TOKEN_COLUMNS"]

PARAMETERS = ("tenant", "user", "key_id", "since", "until")

TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)

_EVENTS = """
WITH events AS (
  SELECT *
  FROM usage_events
  WHERE tenant = @tenant
    AND (@user IS NULL OR user = @user)
    AND (@key_id IS NULL OR key_id = @key_id)
    AND ts >= @since
    AND ts < @until
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts) = 1
)"""

_TOTALS = ",\n  ".join(
    [
        "COUNT(*) AS requests",
        "COUNTIF(status = 'error') AS errors",
        "COUNTIF(cache_hit) AS cache_hits",
        *(f"COALESCE(SUM(IF(cache_hit, 0, {c})), 0) AS {c}" for c in TOKEN_COLUMNS),
        "COALESCE(SUM(cost_micros), 0) AS cost_micros",
        "COUNTIF(unpriced) AS unpriced",
        "COALESCE(SUM(cost_saved_micros), 0) AS cost_saved_micros",
        "COALESCE(SUM(IF(route_reason = 'cheapest', requested_cost_micros - cost_micros, 0)), 0)"
        " AS routing_saved_micros",
    ]
)

_PERFORMANCE = ",\n  ".join(
    [
        "COUNT(*) AS requests",
        "COUNTIF(status = 'error') AS errors",
        "COUNTIF(cache_hit) AS cache_hits",
        "COUNTIF(NOT cache_hit AND (attempts > 1 OR route_reason LIKE 'fallback%')) AS failovers",
        "APPROX_QUANTILES(IF(status = 'ok', latency_ms, NULL), 100)[OFFSET(50)] AS latency_p50_ms",
        "APPROX_QUANTILES(IF(status = 'ok', latency_ms, NULL), 100)[OFFSET(95)] AS latency_p95_ms",
        "APPROX_QUANTILES(ttft_ms, 100)[OFFSET(50)] AS ttft_p50_ms",
        "APPROX_QUANTILES(ttft_ms, 100)[OFFSET(95)] AS ttft_p95_ms",
    ]
)

# Group keys: a column of `events`, or an expression with its alias.
_KEYS = {"provider": "provider", "model": "model", "day": "DATE(ts) AS day"}


def _select(measures: str, keys: Sequence[str] = ()) -> str:
    """`measures` over the scoped events, grouped and ordered by `keys` (none: one row)."""
    head = "".join(f"{_KEYS[k]},\n  " for k in keys)
    sql = f"{_EVENTS}\nSELECT\n  {head}{measures}\nFROM events"
    if keys:
        names = ", ".join(keys)
        sql += f"\nGROUP BY {names}\nORDER BY {names}"
    return sql


QUERIES: dict[str, str] = {
    "totals": _select(_TOTALS),
    "by_provider": _select(_TOTALS, ("provider",)),
    "by_model": _select(_TOTALS, ("provider", "model")),
    "by_day": _select(_TOTALS, ("day",)),
    "by_day_provider": _select(_TOTALS, ("day", "provider")),
    "performance": _select(_PERFORMANCE),
    "performance_by_model": _select(_PERFORMANCE, ("provider", "model")),
    "errors_by_kind": f"""{_EVENTS}
SELECT error_kind, COUNT(*) AS errors
FROM events
WHERE status = 'error'
GROUP BY error_kind
ORDER BY errors DESC, error_kind""",
}
