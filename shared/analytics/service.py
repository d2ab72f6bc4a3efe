"""`AnalyticsService.report`: the analytics JSON of `GET /api/ai/analytics` for one caller.

Scope (architecture, Identity): an identity with a user (a key with a fixed user, or `X-User-Id` from an
`act_as_user` platform key) sees that user's events; an `admin` key sees its whole tenant; any other
key sees the events made with itself. Never another tenant's.

Window: `days` whole UTC days ending with today, [midnight `days - 1` days ago, tomorrow's midnight).
The projection rests on the complete days of the window from the first day with traffic (missing days
count as 0); with no complete day yet, on today's cost so far extrapolated to a whole day (at least one
hour of the day counted, so that a few minutes of traffic do not explode the estimate).

With a limits store (shared.limits.store.LimitsStore), the report also has a `limits` section: the limits
that bind the caller, each budget's spend so far and the requests the limits refused
(shared.analytics.limits); without one the section is left out.

Money is integer micro-USD throughout; USD values are `Decimal`s with exactly 6 decimals (the HTTP layer
writes them as JSON numbers without going through float), next to the exact `...Micros` integers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.analytics.limits import LimitsSection
from shared.analytics.money import usd
from shared.analytics.port import AnalyticsPort, QueryParams, Row
from shared.analytics.predict import Projection, project_costs
from shared.analytics.queries import TOKEN_COLUMNS
from shared.clock import Clock
from shared.identity import Identity
from shared.limits.store import LimitsStore

__all__ = ["AnalyticsService", "scope_of", "usd"]

_DAY = timedelta(days=1)
_MIN_ELAPSED = 3600.0
_TOKEN_NAMES = {
    "input_tokens": "input",
    "output_tokens": "output",
    "cached_input_tokens": "cachedInput",
    "cache_write_tokens": "cacheWrite",
    "cache_write_1h_tokens": "cacheWrite1h",
    "reasoning_tokens": "reasoning",
}
_BASIC = ("totals", "by_provider", "by_model", "by_day", "performance", "errors_by_kind")
_DETAILED = ("by_day_provider", "performance_by_model")


def scope_of(identity: Identity, since: datetime, until: datetime) -> QueryParams:
    """The events `identity` may see (module docstring) in [since, until)."""
    if identity.user is not None:
        return QueryParams(identity.tenant, since, until, user=identity.user)
    if identity.can("admin"):
        return QueryParams(identity.tenant, since, until)
    return QueryParams(identity.tenant, since, until, key_id=identity.key_id)


def _int(row: Row, column: str) -> int:
    value = row.get(column)
    return int(value) if isinstance(value, int | Decimal) else 0


def _number(value: object) -> float | None:
    return round(float(value), 3) if isinstance(value, int | float | Decimal) else None


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _tokens(row: Row) -> dict[str, int]:
    tokens = {_TOKEN_NAMES[c]: _int(row, c) for c in TOKEN_COLUMNS}
    return {**tokens, "total": tokens["input"] + tokens["output"]}


def _provider(row: Row) -> dict[str, object]:
    return {"provider": row.get("provider")}


def _model(row: Row) -> dict[str, object]:
    return {"provider": row.get("provider"), "model": row.get("model")}


def _day(row: Row) -> dict[str, object]:
    day = row.get("day")
    return {"date": day.isoformat() if isinstance(day, date) else None}


def _day_provider(row: Row) -> dict[str, object]:
    return {**_day(row), "provider": row.get("provider")}


def _usage(row: Row) -> dict[str, object]:
    return {"requests": _int(row, "requests"), "errors": _int(row, "errors"), "tokens": _tokens(row)}


def _cost(row: Row) -> dict[str, object]:
    micros = _int(row, "cost_micros")
    return {"cost": usd(micros), "costMicros": micros, "unpricedRequests": _int(row, "unpriced")}


def _performance(row: Row) -> dict[str, object]:
    requests = _int(row, "requests")
    return {
        "requests": requests,
        "latencyMs": {"p50": _number(row.get("latency_p50_ms")), "p95": _number(row.get("latency_p95_ms"))},
        "ttftMs": {"p50": _number(row.get("ttft_p50_ms")), "p95": _number(row.get("ttft_p95_ms"))},
        "errorRate": _rate(_int(row, "errors"), requests),
        "cacheHitRate": _rate(_int(row, "cache_hits"), requests),
        "failoverRate": _rate(_int(row, "failovers"), requests),
    }


def _projection(p: Projection) -> dict[str, object]:
    def money(micros: int | None) -> Decimal | None:
        return None if micros is None else usd(micros)

    return {
        "horizonDays": p.horizon_days,
        "method": p.method,
        "basisDays": p.basis_days,
        "cost": money(p.cost_micros),
        "costMicros": p.cost_micros,
        "uncertainty": {
            "confidence": 0.95,
            "low": money(p.low_micros),
            "high": money(p.high_micros),
            "basis": "±1.96 × residual standard deviation of daily cost × √30, days taken as independent; "
            "the fit's own uncertainty is not included",
        },
        "trendMicrosPerDay": None if p.slope_micros_per_day is None else round(p.slope_micros_per_day, 3),
    }


def daily_series(by_day: Sequence[Row], today: date, elapsed_today: float) -> list[int]:
    """The daily costs the projection rests on (module docstring), oldest first."""
    costs: dict[date, int] = {}
    for row in by_day:
        day = row.get("day")
        if isinstance(day, date):
            costs[day] = _int(row, "cost_micros")
    complete = sorted(day for day in costs if day < today)
    if not complete:
        if costs.get(today, 0) == 0:
            return []
        return [round(costs[today] * 86400 / max(elapsed_today, _MIN_ELAPSED))]
    span = (today - complete[0]).days
    return [costs.get(complete[0] + timedelta(days=i), 0) for i in range(span)]


class AnalyticsService:
    def __init__(self, port: AnalyticsPort, clock: Clock, limits: LimitsStore | None = None) -> None:
        """`limits`: where the usage limits are stored, for the report's `limits` section (None: no section)."""
        self._port = port
        self._clock = clock
        self._limits = None if limits is None else LimitsSection(port, limits)

    @property
    def limits(self) -> LimitsStore | None:
        return None if self._limits is None else self._limits.store

    async def report(self, identity: Identity, days: int, detailed: bool = False) -> dict[str, Any]:
        """The analytics of the last `days` UTC days (1..365) that `identity` may see."""
        if not 1 <= days <= 365:
            raise ValueError("days must be 1 to 365")
        now = datetime.fromtimestamp(self._clock.time(), UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        params = scope_of(identity, midnight - (days - 1) * _DAY, midnight + _DAY)
        names = _BASIC + (_DETAILED if detailed else ())
        queries = asyncio.gather(*(self._port.run(name, params) for name in names))
        section: dict[str, Any] | None = None
        if self._limits is None:
            results = await queries
        else:
            results, section = await asyncio.gather(queries, self._limits.render(identity, params, now))
        rows: Mapping[str, list[Row]] = dict(zip(names, results, strict=True))
        totals = rows["totals"][0] if rows["totals"] else {}
        series = daily_series(rows["by_day"], midnight.date(), (now - midnight).total_seconds())
        report = {
            "period": {
                "days": days,
                "since": params.since.isoformat().replace("+00:00", "Z"),
                "until": params.until.isoformat().replace("+00:00", "Z"),
                "tenant": params.tenant,
                "user": params.user,
            },
            "usage": {
                **_usage(totals),
                "cacheHits": _int(totals, "cache_hits"),
                "byProvider": [{**_provider(r), **_usage(r)} for r in rows["by_provider"]],
                "byModel": [{**_model(r), **_usage(r)} for r in rows["by_model"]],
                "byDay": [{**_day(r), **_usage(r)} for r in rows["by_day"]],
            },
            "costs": {
                "currency": "USD",
                "total": usd(_int(totals, "cost_micros")),
                "totalMicros": _int(totals, "cost_micros"),
                "unpricedRequests": _int(totals, "unpriced"),
                "byProvider": [{**_provider(r), **_cost(r)} for r in rows["by_provider"]],
                "byModel": [{**_model(r), **_cost(r)} for r in rows["by_model"]],
                "byDay": [{**_day(r), **_cost(r)} for r in rows["by_day"]],
                "savings": {
                    "cache": usd(_int(totals, "cost_saved_micros")),
                    "cacheMicros": _int(totals, "cost_saved_micros"),
                    "routing": usd(_int(totals, "routing_saved_micros")),
                    "routingMicros": _int(totals, "routing_saved_micros"),
                },
            },
            "performance": {
                **_performance(rows["performance"][0] if rows["performance"] else {}),
                "errorsByKind": {
                    str(r["error_kind"]): {
                        "count": _int(r, "errors"),
                        "rate": _rate(_int(r, "errors"), _int(totals, "requests")),
                    }
                    for r in rows["errors_by_kind"]
                },
            },
            "predictions": _projection(project_costs(series)),
        }
        if detailed:
            report["costs"]["byDayProvider"] = [{**_day_provider(r), **_cost(r)} for r in rows["by_day_provider"]]
            report["performance"]["byModel"] = [{**_model(r), **_performance(r)} for r in rows["performance_by_model"]]
        if section is not None:
            report["limits"] = section
        return report
