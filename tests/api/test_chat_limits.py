"""Usage limits through the chat API, end to end: the real service core, the provider simulator over real HTTP,
the in-process ledger and the Redis one on a real redis-server.

The issue's proofs: 50 concurrent requests against a budget that admits 10 (exactly 10 served, the settled
spend is what they cost and never more than the budget); a stream that ends early settles to what it used;
the development key (platform and admin) is limited like any other key; Redis killed mid-run leaves each
instance its local share of the limit. Also: the 429 in each route's envelope with `Retry-After`, the
remaining-limit headers, and the usage event of a refused request.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from shared.analytics.duckdb_adapter import DuckDbAnalytics
from shared.analytics.limits import LimitsSection
from shared.analytics.port import QueryParams
from shared.api.chat import ChatApi
from shared.api.deps import ChatDeps, build_chat_deps
from shared.catalog import CatalogModel, default_catalog
from shared.clock import SystemClock
from shared.cost import estimate_cost
from shared.events.local_sink import events_dir
from shared.identity import Identity
from shared.limits import Check, LimitKind, Limits, LimitScope, MemoryLedger
from shared.limits.enforce import PROMPT_BOUND_FACTOR, Limiter
from shared.limits.redis_ledger import RedisLedger
from shared.routing import RequestNeeds
from shared.unified import ChatRequest, Message
from tests.api import dev
from tests.api.test_chat import AUTH, OPENAI, SEED, Gateway, gateway_settings, open_in
from tests.cache import RELAXED_TIMEOUT
from tests.redis_server import RedisServer, delete_prefix
from tests.simulator_server import SimulatorAdmin

MODEL = "gpt-4o-mini"
TENANT = LimitScope(tenant_id="local")  # the development key's tenant (shared.keys_dev.DEV_TENANT)


@contextlib.asynccontextmanager
async def gateway(
    sim_url: str, data_dir: Path, redis_url: str | None = None, *, own: bool = False, **changes: Any
) -> AsyncIterator[Gateway]:
    """A gateway of the test's own; with `redis_url`, its limits on that Redis under a key prefix of its own
    (deleted afterwards, unless the Redis is the test's `own` server, gone with it)."""
    async with contextlib.AsyncExitStack() as stack:
        gw = await open_in(stack, sim_url, data_dir, **changes)
        if redis_url is not None:
            prefix = f"test:{uuid.uuid4().hex}:"
            # Relaxed timeouts: the proofs are about atomicity; a loaded test machine must not fail them open.
            ledger = RedisLedger.from_url(
                redis_url,
                prefix=prefix,
                hold_seconds=660,
                instances=changes.get("limits_instances", 1),
                timeout=RELAXED_TIMEOUT,
                connect_timeout=RELAXED_TIMEOUT,
            )
            if not own:
                stack.push_async_callback(delete_prefix, redis_url, prefix)
            stack.push_async_callback(ledger.close)
            limiter = Limiter(gw.deps.limiter.limits, ledger, SystemClock(), hold_seconds=660)
            gw.deps.limiter = gw.deps.service.limiter = limiter
        yield gw


async def set_limits(gw: Gateway, scope: LimitScope, **fields: Any) -> None:
    await gw.deps.limiter.limits.store.update(scope, Limits.model_validate(fields), actor="test")


def body(text: str, *, max_tokens: int = 200, stream: bool = False) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens, "stream": stream}


def needs_of(text: str, max_tokens: int) -> RequestNeeds:
    return RequestNeeds.of(
        ChatRequest(model=MODEL, messages=(Message(role="user", content=text),), max_tokens=max_tokens)
    )


def worst_case_micros(text: str, max_tokens: int) -> int:
    """The reservation docs/limits.md promises: prompt at its bound, output at max_tokens, at the model's prices."""
    entry = open_catalog_entry()
    micros = estimate_cost(needs_of(text, max_tokens).prompt_tokens * PROMPT_BOUND_FACTOR, max_tokens, entry).micros
    assert micros is not None
    return micros


def open_catalog_entry() -> CatalogModel:
    entry = default_catalog().get(MODEL)
    assert entry is not None
    return entry


async def spent(gw: Gateway, kind: LimitKind = "daily_budget", limit: int = 10**15) -> int:
    """What the tenant's counter of `kind` holds (settled plus held), through the ledger itself."""
    check = Check("tenant|local", kind, limit)
    left = await gw.deps.limiter.ledger.remaining([check], SystemClock().time())
    return limit - left[check]


@pytest.mark.parametrize("ledger", ["memory", "redis"])
async def test_fifty_concurrent_requests_against_a_budget_for_ten(
    ledger: str, sim_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if ledger == "redis" else None
    # Every request waits 400 ms at the provider: all 50 are admitted or refused before any settles.
    text = "[sim latency_ms=400] count the budget"
    worst = worst_case_micros(text, 200)
    budget = Decimal(worst * 21 // 2) / 1_000_000  # 10.5 worst cases: room for 10, not 11
    async with gateway(sim_url, tmp_path, redis_url) as gw:
        await set_limits(gw, TENANT, dailyBudgetUsd=str(budget))
        replies = await asyncio.gather(*(gw.client.post(OPENAI, json=body(text), headers=AUTH) for _ in range(50)))
        statuses = sorted(r.status_code for r in replies)
        assert statuses == [200] * 10 + [429] * 40
        for reply in replies:
            if reply.status_code == 429:
                error = reply.json()["error"]
                assert (error["type"], error["code"]) == ("rate_limit_error", "budget_exceeded")
                assert error["limit"]["name"] == "dailyBudgetUsd"
                assert error["limit"]["scope"] == {"tenantId": "local", "userId": None, "keyId": None}
                assert int(reply.headers["retry-after"]) >= 1
        served = [e for e in gw.sink.events if e.status == "ok"]
        refused = [e for e in gw.sink.events if e.status == "error"]
        assert len(served) == 10
        assert len(refused) == 40
        assert {(e.http_status, e.error_kind, e.provider) for e in refused} == {(429, "rate_limit", None)}
        # Settled: exactly what the ten served requests cost, and within the budget.
        limit = int(budget * 1_000_000)
        total = sum(e.cost_micros or 0 for e in served)
        assert 0 < total <= limit
        assert await spent(gw, limit=limit) == total


async def test_the_remaining_budget_and_rate_headers(sim_url: str, tmp_path: Path) -> None:
    async with gateway(sim_url, tmp_path) as gw:
        await set_limits(gw, TENANT, dailyBudgetUsd="2", requestsPerMinute=5, tokensPerMinute=100_000)
        reply = await gw.client.post(OPENAI, json=body("hello"), headers=AUTH)
        assert reply.status_code == 200
        cost = gw.sink.events[0].cost_micros
        assert cost is not None
        assert reply.headers["x-gateway-budget-remaining"] == f"{Decimal(2_000_000 - cost) / 1_000_000:.6f}"
        assert reply.headers["x-ratelimit-remaining-requests"] == "4"
        usage = reply.json()["usage"]
        assert reply.headers["x-ratelimit-remaining-tokens"] == str(100_000 - usage["total_tokens"])


async def test_no_limit_means_no_headers(sim_url: str, tmp_path: Path) -> None:
    async with gateway(sim_url, tmp_path) as gw:
        reply = await gw.client.post(OPENAI, json=body("hello"), headers=AUTH)
        assert reply.status_code == 200
        assert not {h for h in reply.headers if h.startswith(("x-ratelimit", "x-gateway-budget"))}


async def test_the_admin_platform_key_is_limited_like_any_other(
    sim_url: str, tmp_path: Path, admin: SimulatorAdmin
) -> None:
    async with gateway(sim_url, tmp_path) as gw:
        key = dev(gw.deps)
        assert {"admin", "keys", "chat"} <= key.record.scopes
        assert key.record.platform
        await set_limits(gw, LimitScope(tenant_id="local", key_id=key.key_id), requestsPerMinute=2)
        before = admin.stats()["total"]
        first, second, third = [await gw.client.post(SEED, json=body("hi"), headers=AUTH) for _ in range(3)]
        assert (first.status_code, second.status_code, third.status_code) == (200, 200, 429)
        assert (first.headers["x-ratelimit-remaining-requests"], second.headers["x-ratelimit-remaining-requests"]) == (
            "1",
            "0",
        )
        error = third.json()["error"]
        assert (error["type"], error["code"], error["retryable"], error["provider"]) == (
            "rate_limit",
            "rate_limited",
            True,
            None,
        )
        assert error["limit"]["name"] == "requestsPerMinute"
        assert error["limit"]["value"] == 2
        assert error["limit"]["scope"] == {"tenantId": "local", "userId": None, "keyId": key.key_id}
        assert 1 <= int(third.headers["retry-after"]) <= 60
        assert admin.stats()["total"] == before + 2  # the refused request reached no provider


async def test_a_stream_that_ends_early_settles_to_what_it_used(sim_url: str, tmp_path: Path) -> None:
    text = "[sim chunks=8 cut_after=4] tell me a long story about budgets and streams"
    async with gateway(sim_url, tmp_path) as gw:
        await set_limits(gw, TENANT, dailyBudgetUsd="5")
        async with gw.client.stream("POST", OPENAI, json=body(text, max_tokens=2000, stream=True), headers=AUTH) as r:
            assert r.status_code == 200
            reserved_left = Decimal(r.headers["x-gateway-budget-remaining"])
            raw = b"".join([piece async for piece in r.aiter_bytes()])
        events = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]
        assert "error" in events[-1]  # cut: a typed error event, no [DONE]
        chars = sum(len(c["choices"][0]["delta"].get("content") or "") for c in events if c.get("choices"))
        assert chars > 0
        n = needs_of(text, 2000)
        expected = estimate_cost(n.prompt_tokens, math.ceil(chars / 4), open_catalog_entry()).micros
        assert expected is not None
        assert await spent(gw) == expected
        # Far less than the worst case the stream had reserved while it ran.
        assert expected < 5_000_000 - int(reserved_left * 1_000_000)


async def test_a_complete_stream_settles_to_its_reported_usage(sim_url: str, tmp_path: Path) -> None:
    async with gateway(sim_url, tmp_path) as gw:
        await set_limits(gw, TENANT, dailyBudgetUsd="5")
        async with gw.client.stream("POST", OPENAI, json=body("a short one", stream=True), headers=AUTH) as r:
            assert r.status_code == 200
            await r.aread()
        (event,) = gw.sink.events
        assert event.status == "ok"
        assert event.cost_micros
        assert await spent(gw) == event.cost_micros


async def test_a_failed_call_counts_as_a_request_at_no_cost(sim_url: str, tmp_path: Path) -> None:
    async with gateway(sim_url, tmp_path) as gw:
        await set_limits(gw, TENANT, dailyBudgetUsd="5", requestsPerMinute=10)
        reply = await gw.client.post(OPENAI, json=body("[sim status=400] refused"), headers=AUTH)
        assert reply.status_code == 400
        assert await spent(gw) == 0
        assert await spent(gw, "requests_per_minute", 10) == 1


async def test_redis_killed_mid_run_leaves_each_instance_its_local_share(
    sim_url: str, tmp_path: Path, own_redis: RedisServer
) -> None:
    async with gateway(sim_url, tmp_path, own_redis.url, own=True, limits_instances=2) as gw:
        await set_limits(gw, TENANT, requestsPerMinute=6)
        for _ in range(2):
            assert (await gw.client.post(OPENAI, json=body("shared"), headers=AUTH)).status_code == 200
        ledger = gw.deps.limiter.ledger
        assert isinstance(ledger, RedisLedger)
        assert not ledger.degraded
        own_redis.kill()
        # Redis away: this instance admits its share, ceil(6 / 2) = 3 per minute, and no more.
        statuses = [(await gw.client.post(OPENAI, json=body("local"), headers=AUTH)).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        assert ledger.degraded


async def test_refused_requests_reach_analytics_as_limited_requests_and_spend(sim_url: str, tmp_path: Path) -> None:
    """End to end on the embedded backends: the gateway's own event segments, read by the analytics section."""
    deps = build_chat_deps(gateway_settings(sim_url, tmp_path))  # the real segment sink under tmp_path/events
    try:
        store = deps.limiter.limits.store
        await store.update(TENANT, Limits.model_validate({"requestsPerMinute": 2, "dailyBudgetUsd": 1}), actor="t")

        async def ready() -> ChatDeps:
            return deps

        transport = httpx2.ASGITransport(app=ChatApi(ready).asgi())
        async with httpx2.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            statuses = [(await client.post(OPENAI, json=body("count me"), headers=AUTH)).status_code for _ in range(5)]
        assert statuses == [200, 200, 429, 429, 429]
        await deps.events.flush()  # sealed: embedded analytics read sealed segments
        now = datetime.now(UTC)
        window = QueryParams("local", now - timedelta(hours=1), now + timedelta(minutes=1))
        identity = Identity(tenant="local", key_id=dev(deps).key_id, scopes=frozenset({"analytics"}))
        section = await LimitsSection(DuckDbAnalytics(events_dir(tmp_path)), store).render(identity, window, now)
        daily = Check("tenant|local", "daily_budget", 1_000_000)
        settled = 1_000_000 - (await deps.limiter.ledger.remaining([daily], SystemClock().time()))[daily]
    finally:
        await deps.aclose()
    assert section["limitedRequests"] == 3
    (tenant,) = section["scopes"]
    assert tenant["requestsPerMinute"] == 2
    # What analytics counts from the events is what the ledger settled: the two served requests' cost.
    assert tenant["daily"]["spentMicros"] == settled > 0
    assert tenant["daily"]["remainingMicros"] == 1_000_000 - settled


async def test_a_call_cancelled_mid_flight_keeps_its_worst_case(
    sim_url: str, tmp_path: Path, admin: SimulatorAdmin
) -> None:
    """The caller left while the provider worked: its usage is unknown, so the worst case is settled (a hold
    that merely expired would give it back: holds here last 1 s, and the test looks after that)."""
    text = "[sim latency_ms=5000] a slow one"
    async with gateway(sim_url, tmp_path) as gw:
        short = Limiter(gw.deps.limiter.limits, MemoryLedger(hold_seconds=1.0), SystemClock(), hold_seconds=1.0)
        gw.deps.limiter = gw.deps.service.limiter = short
        await set_limits(gw, TENANT, dailyBudgetUsd="5")
        before = admin.stats()["total"]
        call = asyncio.create_task(gw.client.post(OPENAI, json=body(text), headers=AUTH))
        for _ in range(200):  # until the provider has the request
            await asyncio.sleep(0.01)
            if admin.stats()["total"] > before:
                break
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await asyncio.sleep(1.2)  # past the hold
        assert await spent(gw) == worst_case_micros(text, 200)
