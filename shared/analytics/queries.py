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

Long ranges read rollups (shared.analytics.rollup): the usage queries (`USAGE_QUERIES`: totals, the breakdowns
by provider, model, day, day and provider, and the spend per day) take each UTC day that lies wholly inside
the window and is marked rolled in `usage_rollup_days` from the daily rollup `usage_daily` (the same measures,
summed per day, tenant, user, key, provider and model by the rollup job), and every other day (today, days not
rolled yet, the partial days at the edges of a window that does not start or end at midnight) from the raw
events, in one query. Sums and counts of integers add up exactly across days, so the result equals the
raw-only result to the unit; the dedupe on `event_id` holds because every copy of an event carries the same
`ts`, hence the same day. The performance queries (percentiles, failover and error rates) and `errors_by_kind`
read the raw events only: a percentile cannot be summed from daily parts.

Usage limits (shared.analytics.limits): `spend_by_day` is the cost per UTC day (rollup-aware like the usage
queries; run over the current month for one limit scope, it gives that scope's spend so far today and this
month); `limited_requests` counts the requests a usage limit refused (429 with no provider reached: the
request path records those as errors of kind `rate_limit` with `provider` NULL), from the raw events.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "FAILOVERS",
    "MEASURES",
    "PARAMETERS",
    "QUERIES",
    "ROLLUP_KEYS",
    "ROLLUP_MEASURES",
    "TOKEN_COLUMNS",
    "USAGE_QUERIES",
]

PARAMETERS = ("tenant", "user", "key_id", "since", "until")

TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "reasoning_tokens",
)

# The usage measures: column -> its aggregate over scoped events. Every one is an exact integer sum or count,
# so daily parts add up to the whole (module docstring).
MEASURES: dict[str, str] = {
    "requests": "COUNT(*)",
    "errors": "COUNTIF(status = 'error')",
    "cache_hits": "COUNTIF(cache_hit)",
    **{c: f"COALESCE(SUM(IF(cache_hit, 0, {c})), 0)" for c in TOKEN_COLUMNS},
    "cost_micros": "COALESCE(SUM(cost_micros), 0)",
    "unpriced": "COUNTIF(unpriced)",
    "cost_saved_micros": "COALESCE(SUM(cost_saved_micros), 0)",
    "routing_saved_micros": "COALESCE(SUM(IF(route_reason = 'cheapest', requested_cost_micros - cost_micros, 0)), 0)",
}
FAILOVERS = "COUNTIF(NOT cache_hit AND (attempts > 1 OR route_reason LIKE 'fallback%'))"
# What the daily rollup keeps per (day, ROLLUP_KEYS): the usage measures and the failover count.
ROLLUP_KEYS = ("tenant", "user", "key_id", "provider", "model")
ROLLUP_MEASURES: dict[str, str] = {**MEASURES, "failovers": FAILOVERS}

_SCOPE = """tenant = @tenant
    AND (@user IS NULL OR user = @user)
    AND (@key_id IS NULL OR key_id = @key_id)"""

_EVENTS = f"""
WITH events AS (
  SELECT *
  FROM usage_events
  WHERE {_SCOPE}
    AND ts >= @since
    AND ts < @until
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts) = 1
)"""

_TOTALS = ",\n  ".join(f"{sql} AS {name}" for name, sql in MEASURES.items())

_PERFORMANCE = ",\n  ".join(
    [
        "COUNT(*) AS requests",
        "COUNTIF(status = 'error') AS errors",
        "COUNTIF(cache_hit) AS cache_hits",
        f"{FAILOVERS} AS failovers",
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


_DAILY_MEASURES = ",\n    ".join(f"{sql} AS {name}" for name, sql in MEASURES.items())

# The rolled days wholly inside [@since, @until): read from the rollup; every other day from the events.
_USAGE_SOURCES = f"""
WITH rolled AS (
  SELECT day
  FROM usage_rollup_days
  WHERE TIMESTAMP(day) >= @since
    AND TIMESTAMP(DATE_ADD(day, INTERVAL 1 DAY)) <= @until
),
events AS (
  SELECT *
  FROM usage_events
  WHERE {_SCOPE}
    AND ts >= @since
    AND ts < @until
    AND DATE(ts) NOT IN (SELECT day FROM rolled)
  QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts) = 1
),
daily AS (
  SELECT
    DATE(ts) AS day,
    provider,
    model,
    {_DAILY_MEASURES}
  FROM events
  GROUP BY DATE(ts), provider, model
  UNION ALL
  SELECT day, provider, model, {", ".join(MEASURES)}
  FROM usage_daily
  WHERE {_SCOPE}
    AND day IN (SELECT day FROM rolled)
)"""


def _usage(keys: Sequence[str] = ()) -> str:
    """The usage measures grouped and ordered by `keys` (columns of `daily`), rolled days from the rollup."""
    head = "".join(f"{k},\n  " for k in keys)
    sums = ",\n  ".join(f"COALESCE(SUM({name}), 0) AS {name}" for name in MEASURES)
    sql = f"{_USAGE_SOURCES}\nSELECT\n  {head}{sums}\nFROM daily"
    if keys:
        names = ", ".join(keys)
        sql += f"\nGROUP BY {names}\nORDER BY {names}"
    return sql


QUERIES: dict[str, str] = {
    "totals": _usage(),
    "by_provider": _usage(("provider",)),
    "by_model": _usage(("provider", "model")),
    "by_day": _usage(("day",)),
    "by_day_provider": _usage(("day", "provider")),
    "performance": _select(_PERFORMANCE),
    "performance_by_model": _select(_PERFORMANCE, ("provider", "model")),
    "errors_by_kind": f"""{_EVENTS}
SELECT error_kind, COUNT(*) AS errors
FROM events
WHERE status = 'error'
GROUP BY error_kind
ORDER BY errors DESC, error_kind""",
    "spend_by_day": f"""{_USAGE_SOURCES}
SELECT day, COALESCE(SUM(cost_micros), 0) AS cost_micros
FROM daily
GROUP BY day
ORDER BY day""",
    "limited_requests": f"""{_EVENTS}
SELECT COUNTIF(http_status = 429 AND provider IS NULL) AS limited_requests
FROM events""",
}
# The queries that read the daily rollup for rolled days (module docstring).
USAGE_QUERIES = frozenset({"totals", "by_provider", "by_model", "by_day", "by_day_provider", "spend_by_day"})
