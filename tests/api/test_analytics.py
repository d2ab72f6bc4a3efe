"""AnalyticsApi in process over httpx2.ASGITransport, through the ASGI app and `dispatch`: the report's
exact totals from real segment files, scoping (admin tenant, X-User-Id, a key with a fixed user, a
plain key), the days window, 400/401/403, and the cost analysis (no provider called)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from shared.analytics.duckdb_adapter import DuckDbAnalytics
from shared.analytics.service import AnalyticsService
from shared.api.analytics import AnalyticsApi
from shared.api.analytics_deps import AnalyticsDeps, build_analytics_deps
from shared.api.deps import events_dir
from shared.gateway_keys import GatewayKeyStore
from shared.limits.config import Limits, LimitScope
from shared.limits.store import LimitsStore
from shared.settings import Settings
from tests.analytics.events import DAY0, event, write_segment
from tests.breakers import FlakyStore
from tests.fakes import FakeClock

SALT = "api-key-hash-salt-for-the-analytics-tests"
PATH = "/api/ai/analytics"
ENTRIES = ["asgi", "dispatch"]
NOW = DAY0 + timedelta(days=9, hours=12)  # 2026-03-10 12:00 UTC


@dataclasses.dataclass
class Gateway:
    clients: dict[str, httpx2.AsyncClient]
    deps: AnalyticsDeps
    gateway_keys: GatewayKeyStore
    events: Path

    async def key(
        self, tenant: str, scopes: set[str], *, user: str | None = None, platform: bool = False
    ) -> dict[str, str]:
        _, key = await self.gateway_keys.create(tenant, user=user, scopes=frozenset(scopes), platform=platform)
        return {"authorization": f"Bearer {key}"}


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    clock = FakeClock(now=NOW.timestamp())
    settings = dataclasses.replace(Settings(), data_dir=tmp_path, dev_key="gw-analytics-dev", api_key_hash_salt=SALT)
    deps = build_analytics_deps(settings, clock=clock)

    async def ready() -> AnalyticsDeps:
        return deps

    api = AnalyticsApi(ready)

    async def function(scope: Scope, receive: Receive, send: Send) -> None:
        response = await api.dispatch(Request(scope, receive))
        await response(scope, receive, send)

    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(deps.aclose)
        clients = {
            entry: await stack.enter_async_context(
                httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gateway.test")
            )
            for entry, app in (("asgi", api.asgi()), ("dispatch", function))
        }
        yield Gateway(clients, deps, GatewayKeyStore(deps.store, SALT, clock), events_dir(tmp_path))


def _day(n: int, hours: int = 1) -> Any:
    return DAY0 + timedelta(days=n, hours=hours)


def _seed(gw: Gateway) -> None:
    write_segment(
        gw.events,
        [
            event(ts=_day(9), user="u1", cost_micros=1_500, latency_ms=10),
            event(
                ts=_day(9),
                user="u2",
                cost_micros=2_000_001,
                provider="ANTHROPIC",
                model="claude-haiku",
                latency_ms=30,
                route_reason="fallback after openai/gpt-4o-mini (overloaded)",
            ),
            event(
                ts=_day(8),
                user="u1",
                cost_micros=250,
                stream=True,
                ttft_ms=7,
                latency_ms=20,
                model_requested="gpt-4o",
                route_reason="cheapest",
                requested_cost_micros=4_250,
            ),
            event(ts=_day(8), cache_hit=True, attempts=0, cost_micros=0, cost_saved_micros=1_500, credential_id=None),
            event(ts=_day(8), status="error", http_status=504, error_kind="timeout", attempts=2, cost_micros=0),
            event(ts=_day(2), cost_micros=99),  # outside a 7-day window (2026-03-04 .. today)
            event(ts=_day(9), tenant="rival", cost_micros=123_456_789),
        ],
    )


@pytest.mark.parametrize("entry", ENTRIES)
async def test_report_exact_totals_for_the_admin_tenant(gw: Gateway, entry: str) -> None:
    _seed(gw)
    headers = await gw.key("acme", {"analytics", "admin"})
    reply = await gw.clients[entry].get(PATH, params={"days": "7", "detailed": "true"}, headers=headers)
    assert reply.status_code == 200, reply.text
    assert "server-timing" in reply.headers
    body = reply.json()
    assert body["period"]["since"] == "2026-03-04T00:00:00Z"
    assert body["period"]["until"] == "2026-03-11T00:00:00Z"
    assert body["usage"]["requests"] == 5
    assert body["usage"]["cacheHits"] == 1
    assert body["usage"]["tokens"]["input"] == 40
    assert body["usage"]["tokens"]["total"] == 60
    costs = body["costs"]
    assert costs["totalMicros"] == 1_500 + 2_000_001 + 250
    assert b'"total":2.001751' in reply.content  # six decimals, from the micros
    assert costs["savings"] == {"cache": 0.0015, "cacheMicros": 1_500, "routing": 0.004, "routingMicros": 4_000}
    assert {p["provider"]: p["costMicros"] for p in costs["byProvider"]} == {"ANTHROPIC": 2_000_001, "OPENAI": 1_750}
    assert [(d["date"], d["costMicros"]) for d in costs["byDay"]] == [("2026-03-09", 250), ("2026-03-10", 2_001_501)]
    assert {(d["date"], d["provider"]) for d in costs["byDayProvider"]} == {
        ("2026-03-09", "OPENAI"),
        ("2026-03-10", "OPENAI"),
        ("2026-03-10", "ANTHROPIC"),
    }
    perf = body["performance"]
    assert perf["errorRate"] == 0.2
    assert perf["cacheHitRate"] == 0.2
    assert perf["failoverRate"] == 0.4  # the 2-attempt timeout and the fallback to claude-haiku
    assert perf["errorsByKind"] == {"timeout": {"count": 1, "rate": 0.2}}
    assert perf["latencyMs"] == {"p50": 25.0, "p95": 89.5}  # served: 10, 20, 30 and the cache hit's 100
    assert perf["ttftMs"] == {"p50": 7.0, "p95": 7.0}
    assert {m["model"] for m in perf["byModel"]} == {"gpt-4o-mini", "claude-haiku"}
    prediction = body["predictions"]
    assert prediction["method"] == "mean"
    assert prediction["basisDays"] == 1
    assert prediction["costMicros"] == 250 * 30  # today (2026-03-10) is not complete yet


async def test_report_without_detail_leaves_the_detailed_parts_out(gw: Gateway) -> None:
    _seed(gw)
    body = (await gw.clients["asgi"].get(PATH, headers=await gw.key("acme", {"analytics", "admin"}))).json()
    assert body["period"]["days"] == 30
    assert body["costs"]["totalMicros"] == 1_500 + 2_000_001 + 250 + 99
    assert "byDayProvider" not in body["costs"]
    assert "byModel" not in body["performance"]


async def test_scoping_by_user(gw: Gateway) -> None:
    _seed(gw)
    client = gw.clients["asgi"]
    platform = await gw.key("acme", {"analytics", "act_as_user"}, platform=True)
    as_u1 = (await client.get(PATH, headers={**platform, "x-user-id": "u1"})).json()
    assert as_u1["costs"]["totalMicros"] == 1_750
    assert as_u1["period"]["user"] == "u1"
    fixed = await gw.key("acme", {"analytics"}, user="u2")
    assert (await client.get(PATH, headers=fixed)).json()["costs"]["totalMicros"] == 2_000_001
    rival = await gw.key("rival", {"analytics", "admin"})
    assert (await client.get(PATH, headers=rival)).json()["costs"]["totalMicros"] == 123_456_789
    plain = await gw.key("acme", {"analytics"})  # no admin, no user: only what it made itself
    assert (await client.get(PATH, headers=plain)).json()["usage"]["requests"] == 0


async def test_report_limits_of_the_caller_with_budgets_spent(gw: Gateway) -> None:
    _seed(gw)
    write_segment(
        gw.events,
        [
            event(
                ts=_day(9, hours=5),
                user="u1",
                provider=None,
                status="error",
                http_status=429,
                error_kind="rate_limit",
                attempts=0,
                input_tokens=0,
                output_tokens=0,
                cost_micros=0,
                credential_id=None,
            )
        ],
        name="events-2-20260310T000000000Z-000000",
    )
    limits = LimitsStore(gw.deps.store, FakeClock(now=NOW.timestamp()))
    await limits.update(LimitScope(tenant_id="acme"), Limits(monthly_budget_usd=Decimal(5)), actor="gk_admin")
    await limits.update(
        LimitScope(tenant_id="acme", user_id="u1"), Limits(daily_budget_usd=Decimal("0.001")), actor=None
    )
    reply = await gw.clients["dispatch"].get(PATH, headers=await gw.key("acme", {"analytics"}, user="u1"))
    assert reply.status_code == 200, reply.text
    section = reply.json()["limits"]
    assert (section["available"], section["detail"], section["limitedRequests"]) == (True, None, 1)
    tenant, user = section["scopes"]
    assert tenant["scope"] == {"tenantId": "acme", "userId": None, "keyId": None}
    assert tenant["monthly"]["spentMicros"] == 1_500 + 2_000_001 + 250 + 99  # the tenant's March, every user
    assert tenant["monthly"]["remainingMicros"] == 5_000_000 - 2_001_850
    assert tenant["daily"]["spentMicros"] == 1_500 + 2_000_001
    assert tenant["daily"]["remaining"] is None  # no daily budget on the tenant
    assert user["scope"] == {"tenantId": "acme", "userId": "u1", "keyId": None}
    assert (user["daily"]["spentMicros"], user["daily"]["remainingMicros"]) == (1_500, 0)
    assert user["monthly"]["spentMicros"] == 1_750
    # USD with six decimals, written from the micros as the rest of the report's amounts.
    assert b'"monthlyBudgetUsd":5.000000' in reply.content
    assert b'"dailyBudgetUsd":0.001000' in reply.content
    assert b'"remaining":2.998150' in reply.content


async def test_a_limits_store_that_is_down_leaves_the_report_standing(gw: Gateway) -> None:
    _seed(gw)
    down = FlakyStore(gw.deps.store)
    down.down = True
    clock = FakeClock(now=NOW.timestamp())
    gw.deps.analytics = AnalyticsService(DuckDbAnalytics(gw.events), clock, LimitsStore(down, clock))
    reply = await gw.clients["asgi"].get(PATH, headers=await gw.key("acme", {"analytics", "admin"}))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["limits"] == {
        "available": False,
        "detail": "the limits store could not be read (StoreUnavailable)",
        "limitedRequests": 0,
        "scopes": [],
    }
    assert body["costs"]["totalMicros"] == 1_500 + 2_000_001 + 250 + 99


async def test_empty_data_dir_reports_zeros(gw: Gateway) -> None:
    body = (await gw.clients["asgi"].get(PATH, headers=await gw.key("acme", {"analytics", "admin"}))).json()
    assert body["usage"]["requests"] == 0
    assert body["costs"]["totalMicros"] == 0
    assert body["performance"]["latencyMs"] == {"p50": None, "p95": None}
    assert body["predictions"]["method"] == "none"
    assert body["predictions"]["cost"] is None


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("days=0", "days"),
        ("days=366", "days"),
        ("days=abc", "days"),
        ("days=1.5", "days"),
        ("detailed=maybe", "detailed"),
    ],
)
async def test_bad_parameters_are_400_naming_them(gw: Gateway, entry: str, query: str, field: str) -> None:
    reply = await gw.clients[entry].get(f"{PATH}?{query}", headers=await gw.key("acme", {"analytics"}))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request"
    assert field in error["message"]


@pytest.mark.parametrize("days", ["1", "365"])
async def test_days_bounds_are_accepted(gw: Gateway, days: str) -> None:
    reply = await gw.clients["asgi"].get(PATH, params={"days": days}, headers=await gw.key("acme", {"analytics"}))
    assert reply.status_code == 200
    assert reply.json()["period"]["days"] == int(days)


@pytest.mark.parametrize("entry", ENTRIES)
async def test_authentication_and_scope(gw: Gateway, entry: str) -> None:
    client = gw.clients[entry]
    assert (await client.get(PATH)).status_code == 401
    assert (await client.get(PATH, headers={"authorization": "Bearer nope"})).status_code == 401
    chat_only = await gw.key("acme", {"chat"})
    reply = await client.get(PATH, headers=chat_only)
    assert reply.status_code == 403
    assert "analytics" in reply.json()["error"]["message"]
    assert (await client.post(f"{PATH}/costs", headers=chat_only, json={})).status_code == 403


async def test_unknown_path_and_method(gw: Gateway) -> None:
    headers = await gw.key("acme", {"analytics"})
    for client in gw.clients.values():
        assert (await client.get(f"{PATH}/nope", headers=headers)).status_code == 404
        reply = await client.delete(PATH, headers=headers)
        assert reply.status_code == 405
        assert reply.headers["allow"] == "GET"


@pytest.mark.parametrize("entry", ENTRIES)
async def test_cost_analysis(gw: Gateway, entry: str) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Analyze this data..."}], "maxTokens": 100}
    reply = await gw.clients[entry].post(
        f"{PATH}/costs", headers=await gw.key("acme", {"analytics"}), content=orjson.dumps(body)
    )
    assert reply.status_code == 200, reply.text
    analysis = reply.json()
    assert analysis["model"].startswith("gpt-4o")
    assert analysis["provider"] == "OPENAI"
    assert analysis["estimatedCost"] > 0
    assert analysis["candidates"]
    assert analysis["cheapestProvider"] in {"OPENAI", "ANTHROPIC", "GOOGLE"}


async def test_cost_analysis_bad_body_is_400(gw: Gateway) -> None:
    reply = await gw.clients["asgi"].post(f"{PATH}/costs", headers=await gw.key("acme", {"analytics"}), content=b"{")
    assert reply.status_code == 400
    unknown = await gw.clients["asgi"].post(
        f"{PATH}/costs", headers=await gw.key("acme", {"analytics"}), json={"model": "no-such", "messages": []}
    )
    assert unknown.status_code == 400
