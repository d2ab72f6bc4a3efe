"""The analytics report's `limits` section: the usage limits that bind the caller, what each budget has spent
so far, and how many requests the limits refused (issue 11).

    "limits": {"available": true, "detail": null, "limitedRequests": 2,
               "scopes": [{"scope": {"tenantId", "userId", "keyId"},
                           "requestsPerMinute", "tokensPerMinute", "dailyBudgetUsd", "monthlyBudgetUsd",
                           "daily": {"since", "spent", "spentMicros", "remaining", "remainingMicros"},
                           "monthly": {...}}]}

- `scopes`: each scope that binds the caller (shared.limits.config.scopes_for: its tenant, its user when
  the identity has one, its key), in that order, that has a stored record with at least one limit (a
  record whose limits were all removed binds nothing and is left out). The limits read as
  `GET /api/ai/limits` shows them: null is unlimited, budgets are USD with 6 decimals.
- `daily` / `monthly`: that scope's spend since the start of the current UTC day / month (`since`), from
  the analytics backend's own events (the query `spend_by_day` over the month, rollup-aware), and
  `remaining` = max(0, budget - spent), null without that budget. This is the analytics view, as fresh as
  the events written so far (seconds behind on BigQuery, the sealed segments embedded); the ledger that
  enforces the budgets also counts the calls in flight, so it may be a little ahead of this.
- `limitedRequests`: the requests of the report's window and scope that a usage limit refused (the query
  `limited_requests`: status 429 with no provider reached).
- The limits store unreachable, slower than `timeout`, or holding a damaged record: `available` false,
  `detail` says why (an error type, never more) and `scopes` is empty; the rest of the report stands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.analytics.money import usd
from shared.analytics.port import AnalyticsPort, QueryParams, Row
from shared.identity import Identity
from shared.limits.config import LimitRecord, LimitScope, scopes_for
from shared.limits.store import LimitsStore
from shared.store.port import StoreUnavailable

__all__ = ["DEFAULT_TIMEOUT", "LIMITED_QUERY", "SPEND_QUERY", "BudgetPeriods", "LimitsSection", "budget_periods"]

SPEND_QUERY = "spend_by_day"
LIMITED_QUERY = "limited_requests"
DEFAULT_TIMEOUT = 5.0  # seconds the limits store may take before the section says it is unavailable

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BudgetPeriods:
    """The UTC day and month `now` lies in, as the ledger counts budgets (shared.limits.ledger)."""

    day: datetime  # today's midnight
    month: datetime  # the first of this month, midnight
    until: datetime  # tomorrow's midnight: nothing is later than now


def budget_periods(now: datetime) -> BudgetPeriods:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return BudgetPeriods(day=midnight, month=midnight.replace(day=1), until=midnight + timedelta(days=1))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _micros(row: Row) -> int:
    value = row.get("cost_micros")
    return int(value) if isinstance(value, int | Decimal) else 0


def _money(micros: int | None) -> Decimal | None:
    return None if micros is None else usd(micros)


def _budget(since: datetime, budget: int | None, spent: int) -> dict[str, object]:
    remaining = None if budget is None else max(0, budget - spent)
    return {
        "since": _iso(since),
        "spent": usd(spent),
        "spentMicros": spent,
        "remaining": _money(remaining),
        "remainingMicros": remaining,
    }


def _scope(record: LimitRecord, spent: tuple[int, int], periods: BudgetPeriods) -> dict[str, object]:
    limits = record.limits
    return {
        "scope": record.scope.wire(),
        "requestsPerMinute": limits.requests_per_minute,
        "tokensPerMinute": limits.tokens_per_minute,
        "dailyBudgetUsd": _money(limits.daily_budget_micros),
        "monthlyBudgetUsd": _money(limits.monthly_budget_micros),
        "daily": _budget(periods.day, limits.daily_budget_micros, spent[0]),
        "monthly": _budget(periods.month, limits.monthly_budget_micros, spent[1]),
    }


class LimitsSection:
    """Builds the section (module docstring) from the analytics port and the limits store."""

    def __init__(self, port: AnalyticsPort, store: LimitsStore, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._port = port
        self.store = store
        self._timeout = timeout

    async def render(self, identity: Identity, window: QueryParams, now: datetime) -> dict[str, Any]:
        """The section for `identity`; `window` is the report's (scope and period), `now` timezone-aware."""
        limited, (records, detail) = await asyncio.gather(self._limited(window), self._records(identity))
        periods = budget_periods(now)
        spent = await asyncio.gather(*(self._spent(record.scope, periods) for record in records))
        return {
            "available": detail is None,
            "detail": detail,
            "limitedRequests": limited,
            "scopes": [_scope(record, s, periods) for record, s in zip(records, spent, strict=True)],
        }

    async def _limited(self, window: QueryParams) -> int:
        rows = await self._port.run(LIMITED_QUERY, window)
        value = rows[0].get("limited_requests") if rows else 0
        return int(value) if isinstance(value, int | Decimal) else 0

    async def _records(self, identity: Identity) -> tuple[Sequence[LimitRecord], str | None]:
        try:
            async with asyncio.timeout(self._timeout):
                found = await self.store.get_many(scopes_for(identity))
        except TimeoutError:
            return (), "the limits store did not answer in time"
        except (StoreUnavailable, ValueError) as error:  # ValueError: a damaged record
            _log.warning("analytics: the limits of %s could not be read (%s)", identity.tenant, type(error).__name__)
            return (), f"the limits store could not be read ({type(error).__name__})"
        return [record for record in found if record is not None and not record.limits.empty], None

    async def _spent(self, scope: LimitScope, periods: BudgetPeriods) -> tuple[int, int]:
        """The scope's spend (micro-USD) today and this month."""
        params = QueryParams(scope.tenant_id, periods.month, periods.until, user=scope.user_id, key_id=scope.key_id)
        rows = await self._port.run(SPEND_QUERY, params)
        today = periods.day.date()
        return sum(_micros(r) for r in rows if r.get("day") == today), sum(_micros(r) for r in rows)
