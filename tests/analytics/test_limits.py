"""The report's `limits` section over real parts: DuckDB over segment files of known events, the limits on a
real SQLite store. The scopes that bind the caller and hold a limit, each budget's spend today and this month
to the micro-dollar with what is left (never below 0), the requests the limits refused in the report's window,
and a limits store that is down, slow or damaged leaving the rest of the report standing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from shared.analytics.duckdb_adapter import DuckDbAnalytics
from shared.analytics.limits import LimitsSection, budget_periods
from shared.analytics.service import AnalyticsService, scope_of
from shared.identity import Identity
from shared.limits.config import Limits, LimitScope
from shared.limits.store import LIMITS_COLLECTION, LimitsStore
from shared.store import SqliteStore
from tests.analytics.events import write_segment
from tests.analytics.limit_events import LIMITED, NOW, limit_events
from tests.breakers import FlakyStore
from tests.fakes import FakeClock

U1 = Identity(tenant="acme", key_id="key-a", user="u1", scopes=frozenset({"analytics"}))
TENANT = LimitScope(tenant_id="acme")
USER = LimitScope(tenant_id="acme", user_id="u1")
KEY = LimitScope(tenant_id="acme", key_id="key-a")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=NOW.timestamp())


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FlakyStore]:
    db = FlakyStore(SqliteStore(tmp_path / "gateway.sqlite3"))
    yield db
    await db.close()


@pytest.fixture
def port(tmp_path: Path) -> DuckDbAnalytics:
    write_segment(tmp_path / "events", limit_events())
    return DuckDbAnalytics(tmp_path / "events")


async def _set(store: FlakyStore, clock: FakeClock, scope: LimitScope, **limits: object) -> None:
    await LimitsStore(store, clock).update(scope, Limits.model_validate(limits), actor="gk_admin")


async def _report(port: DuckDbAnalytics, store: FlakyStore, clock: FakeClock, days: int = 30) -> dict[str, object]:
    return await AnalyticsService(port, clock, LimitsStore(store, clock)).report(U1, days)


async def test_budgets_spent_today_and_this_month_per_binding_scope(
    port: DuckDbAnalytics, store: FlakyStore, clock: FakeClock
) -> None:
    await _set(store, clock, TENANT, requestsPerMinute=100, monthlyBudgetUsd="5")
    await _set(store, clock, USER, dailyBudgetUsd="1.2")
    await _set(store, clock, KEY, tokensPerMinute=1000)
    await _set(store, clock, KEY, tokensPerMinute=None)  # every limit removed: binds nothing
    await _set(store, clock, LimitScope(tenant_id="acme", user_id="u2"), dailyBudgetUsd=9)  # not this caller

    section = (await _report(port, store, clock))["limits"]

    assert section == {
        "available": True,
        "detail": None,
        "limitedRequests": LIMITED["user u1"],  # the report's scope: this user, over the 30 days
        "scopes": [
            {
                "scope": {"tenantId": "acme", "userId": None, "keyId": None},
                "requestsPerMinute": 100,
                "tokensPerMinute": None,
                "dailyBudgetUsd": None,
                "monthlyBudgetUsd": Decimal("5.000000"),
                "daily": {
                    "since": "2026-03-10T00:00:00Z",
                    "spent": Decimal("1.750000"),
                    "spentMicros": 1_750_000,
                    "remaining": None,
                    "remainingMicros": None,
                },
                "monthly": {
                    "since": "2026-03-01T00:00:00Z",
                    "spent": Decimal("3.750000"),  # March 3 and today; February and the other tenant left out
                    "spentMicros": 3_750_000,
                    "remaining": Decimal("1.250000"),
                    "remainingMicros": 1_250_000,
                },
            },
            {
                "scope": {"tenantId": "acme", "userId": "u1", "keyId": None},
                "requestsPerMinute": None,
                "tokensPerMinute": None,
                "dailyBudgetUsd": Decimal("1.200000"),
                "monthlyBudgetUsd": None,
                "daily": {
                    "since": "2026-03-10T00:00:00Z",
                    "spent": Decimal("1.250000"),  # over its budget: what is left is 0, not negative
                    "spentMicros": 1_250_000,
                    "remaining": Decimal("0.000000"),
                    "remainingMicros": 0,
                },
                "monthly": {
                    "since": "2026-03-01T00:00:00Z",
                    "spent": Decimal("1.250000"),
                    "spentMicros": 1_250_000,
                    "remaining": None,
                    "remainingMicros": None,
                },
            },
        ],
    }


async def test_the_key_scope_counts_the_keys_spend(port: DuckDbAnalytics, store: FlakyStore, clock: FakeClock) -> None:
    await _set(store, clock, KEY, dailyBudgetUsd=2, monthlyBudgetUsd=3)
    [key] = (await _report(port, store, clock))["limits"]["scopes"]  # type: ignore[index]
    assert key["scope"] == {"tenantId": "acme", "userId": None, "keyId": "key-a"}
    assert (key["daily"]["spentMicros"], key["daily"]["remainingMicros"]) == (1_500_000, 500_000)
    assert (key["monthly"]["spentMicros"], key["monthly"]["remainingMicros"]) == (3_500_000, 0)


async def test_no_limits_anywhere_is_an_empty_list(port: DuckDbAnalytics, store: FlakyStore, clock: FakeClock) -> None:
    section = (await _report(port, store, clock, days=1))["limits"]
    assert section == {"available": True, "detail": None, "limitedRequests": 2, "scopes": []}


async def test_limited_requests_follow_the_report_window_and_scope(
    port: DuckDbAnalytics, store: FlakyStore, clock: FakeClock
) -> None:
    admin = Identity(tenant="acme", key_id="key-z", scopes=frozenset({"admin", "analytics"}))
    section = LimitsSection(port, LimitsStore(store, clock))
    since_march_5 = scope_of(admin, NOW.replace(day=5, hour=0), budget_periods(NOW).until)
    whole_tenant = scope_of(admin, NOW.replace(day=1, hour=0), budget_periods(NOW).until)
    assert (await section.render(admin, since_march_5, NOW))["limitedRequests"] == 2  # not the one of March 4
    assert (await section.render(admin, whole_tenant, NOW))["limitedRequests"] == LIMITED["tenant"]


async def test_a_store_that_is_down_leaves_the_report_standing(
    port: DuckDbAnalytics, store: FlakyStore, clock: FakeClock
) -> None:
    await _set(store, clock, TENANT, dailyBudgetUsd=1)
    store.down = True
    report = await _report(port, store, clock)
    assert report["limits"] == {
        "available": False,
        "detail": "the limits store could not be read (StoreUnavailable)",
        "limitedRequests": 2,  # from the analytics events, which are still there
        "scopes": [],
    }
    assert report["usage"]["requests"] == 6  # type: ignore[index]  # u1: 4 spent (1 twice) and 2 refused


async def test_a_damaged_record_is_unavailable_not_a_guess(
    port: DuckDbAnalytics, store: FlakyStore, clock: FakeClock
) -> None:
    await store.set(LIMITS_COLLECTION, TENANT.doc_id, {"scope": {"tenant_id": "acme"}, "version": "one"})
    section = (await _report(port, store, clock))["limits"]
    assert section["available"] is False  # type: ignore[index]
    assert section["detail"] == "the limits store could not be read (ValueError)"  # type: ignore[index]


class HangingStore(FlakyStore):
    async def get(self, collection: str, doc_id: str) -> None:
        await asyncio.Event().wait()


async def test_a_store_that_hangs_is_unavailable_in_time(
    port: DuckDbAnalytics, store: FlakyStore, clock: FakeClock
) -> None:
    section = LimitsSection(port, LimitsStore(HangingStore(store.inner), clock), timeout=0.05)
    params = scope_of(U1, NOW.replace(day=1, hour=0), budget_periods(NOW).until)
    body = await asyncio.wait_for(section.render(U1, params, NOW), timeout=5)
    assert (body["available"], body["detail"]) == (False, "the limits store did not answer in time")


async def test_without_a_limits_store_there_is_no_section(port: DuckDbAnalytics, clock: FakeClock) -> None:
    report = await AnalyticsService(port, clock).report(U1, 30)
    assert "limits" not in report
