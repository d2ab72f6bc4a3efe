"""Limiter: records -> checks, the worst case reserved per route, routes that do not fit dropped, 429s that
name the limit, settle / release, and the remaining-limit headers. Real in-process ledger and the SQLite
store; a fake clock moves the windows and the budget periods."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.catalog import default_catalog
from shared.cost import estimate_cost
from shared.errors import LimitExceeded, RequestError
from shared.identity import Identity
from shared.limits import Check, LimitsCache, LimitsStore, MemoryLedger
from shared.limits.config import Limits, LimitScope
from shared.limits.enforce import PROMPT_BOUND_FACTOR, Admission, Limiter, checks_of
from shared.routing import RequestNeeds, Route
from shared.store import SqliteStore
from shared.unified import ChatRequest, Message
from tests.fakes import FakeClock

T0 = datetime(2026, 11, 26, 23, 59, 0, tzinfo=UTC).timestamp()  # one minute before a new UTC day
ALICE = Identity(tenant="acme", key_id="k1", user="alice", scopes=frozenset({"chat", "admin"}))
CATALOG = default_catalog()


def route(model: str) -> Route:
    entry = CATALOG.get(model)
    assert entry is not None, model
    return Route(entry.provider, entry.id, entry, "fallback", None, 0.0, 0.0)


def unpriced(model: str) -> Route:
    return Route("openai", model, None, "requested", None, 0.0, 0.0)


def needs(text: str = "hello there", max_tokens: int | None = 100) -> RequestNeeds:
    return RequestNeeds.of(
        ChatRequest(model="x", messages=(Message(role="user", content=text),), max_tokens=max_tokens)
    )


def worst_micros(r: Route, n: RequestNeeds) -> int:
    """The documented worst case, computed here from the catalog price, not by the code under test."""
    assert r.entry is not None
    assert n.max_tokens is not None
    micros = estimate_cost(n.prompt_tokens * PROMPT_BOUND_FACTOR, n.max_tokens, r.entry).micros
    assert micros is not None
    return micros


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=T0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LimitsStore]:
    sqlite = SqliteStore(tmp_path / "store.sqlite3")
    yield LimitsStore(sqlite, FakeClock(now=T0))
    await sqlite.close()


@pytest.fixture
def limiter(store: LimitsStore, clock: FakeClock) -> Limiter:
    return Limiter(LimitsCache(store, clock=clock), MemoryLedger(hold_seconds=120), clock, hold_seconds=120)


async def set_limits(store: LimitsStore, scope: LimitScope, **fields: Any) -> None:
    await store.update(scope, Limits.model_validate(fields), actor="admin-key")


TENANT = LimitScope(tenant_id="acme")
USER = LimitScope(tenant_id="acme", user_id="alice")
KEY = LimitScope(tenant_id="acme", key_id="k1")


async def admit(limiter: Limiter, request_id: str, routes: list[Route], n: RequestNeeds | None = None) -> Admission:
    admission = await limiter.admit(ALICE, request_id, routes, n or needs())
    assert admission is not None
    return admission


async def test_no_limit_set_touches_no_ledger(limiter: Limiter) -> None:
    assert await limiter.admit(ALICE, "r1", [route("gpt-4o-mini")], needs()) is None
    assert isinstance(limiter.ledger, MemoryLedger)
    assert limiter.ledger.records == 0


async def test_every_set_limit_of_every_binding_scope_becomes_a_check(store: LimitsStore) -> None:
    await set_limits(store, TENANT, dailyBudgetUsd="12.5")
    await set_limits(store, USER, requestsPerMinute=3, monthlyBudgetUsd=100)
    await set_limits(store, KEY, tokensPerMinute=5000)
    records = [r for r in await store.get_many([TENANT, USER, KEY]) if r is not None]
    checks = {b.check for b in checks_of(records)}
    assert checks == {
        Check("tenant|acme", "daily_budget", 12_500_000),
        Check("user|acme|alice", "requests_per_minute", 3),
        Check("user|acme|alice", "monthly_budget", 100_000_000),
        Check("key|acme|k1", "tokens_per_minute", 5000),
    }


async def test_rate_limit_window_slides_with_the_clock(store: LimitsStore, limiter: Limiter, clock: FakeClock) -> None:
    await set_limits(store, KEY, requestsPerMinute=2)
    first = await admit(limiter, "r1", [route("gpt-4o-mini")])
    assert first.remaining().headers() == {"x-ratelimit-remaining-requests": "1"}
    clock.advance(30)
    await admit(limiter, "r2", [route("gpt-4o-mini")])
    with pytest.raises(LimitExceeded) as refused:
        await limiter.admit(ALICE, "r3", [route("gpt-4o-mini")], needs())
    error = refused.value
    assert (error.status, error.code, error.limit, error.value) == (429, "rate_limited", "requestsPerMinute", 2)
    assert error.scope == {"tenantId": "acme", "userId": None, "keyId": "k1"}
    assert error.retry_after == 30  # the first request leaves the window 60 s after it was made
    assert "key 'k1' of tenant 'acme'" in error.message
    clock.advance(30)  # r1 has left the window
    await admit(limiter, "r3", [route("gpt-4o-mini")])


async def test_tokens_per_minute_reserve_the_prompt_and_max_tokens_and_settle_to_the_real_count(
    store: LimitsStore, limiter: Limiter, clock: FakeClock
) -> None:
    n = needs(max_tokens=400)
    reserve = n.prompt_tokens + 400
    await set_limits(store, USER, tokensPerMinute=2 * reserve)
    a = await admit(limiter, "r1", [route("gpt-4o-mini")], n)
    assert a.reservation.tokens == reserve
    await admit(limiter, "r2", [route("gpt-4o-mini")], n)
    with pytest.raises(LimitExceeded) as refused:
        await limiter.admit(ALICE, "r3", [route("gpt-4o-mini")], n)
    assert (refused.value.code, refused.value.limit) == ("rate_limited", "tokensPerMinute")
    # r1 used no tokens after all (say the provider refused it): its reservation is free again at once.
    await limiter.settle(a, 0, 0)
    c = await admit(limiter, "r3", [route("gpt-4o-mini")], n)
    assert c.remaining().tokens == 0
    clock.advance(61)
    d = await admit(limiter, "r4", [route("gpt-4o-mini")], n)
    assert d.remaining().tokens == reserve  # r1 to r3 have left the window
    # The header after settle: what was left at admission, corrected by this request's real count.
    assert (await limiter.settle(d, 25, 0)).tokens == 2 * reserve - 25


async def test_a_budget_reserves_the_dearest_route_that_fits_and_drops_the_others(
    store: LimitsStore, limiter: Limiter
) -> None:
    cheap, dear = route("gpt-4o-mini"), route("gpt-4o")
    n = needs(max_tokens=1000)
    cheap_worst, dear_worst = worst_micros(cheap, n), worst_micros(dear, n)
    assert cheap_worst < dear_worst
    # Room for one request on the dear model, or several on the cheap one.
    budget = Decimal(dear_worst + cheap_worst) / 1_000_000
    await set_limits(store, TENANT, dailyBudgetUsd=str(budget))
    first = await admit(limiter, "r1", [dear, cheap], n)
    assert first.routes == (dear, cheap)
    assert first.reservation.cost_micros == dear_worst
    # Now only the cheap model's worst case fits: the dear one leaves this request's plan.
    second = await admit(limiter, "r2", [dear, cheap], n)
    assert second.routes == (cheap,)
    assert second.reservation.cost_micros == cheap_worst
    assert second.dropped == ((dear, "budget"),)
    with pytest.raises(LimitExceeded) as refused:
        await limiter.admit(ALICE, "r3", [dear, cheap], n)
    error = refused.value
    assert (error.code, error.limit, error.value) == ("budget_exceeded", "dailyBudgetUsd", f"{budget:.6f}")
    assert error.retry_after == 60  # the UTC day ends a minute after T0
    assert error.resets_at == "2026-11-27T00:00:00+00:00"
    # Released (no provider was called): the dear model fits again.
    await limiter.release(first)
    assert (await admit(limiter, "r3", [dear, cheap], n)).routes == (dear, cheap)


async def test_settled_spend_is_the_real_cost_and_the_header_shows_what_is_left(
    store: LimitsStore, limiter: Limiter, clock: FakeClock
) -> None:
    await set_limits(store, TENANT, monthlyBudgetUsd="1")
    a = await admit(limiter, "r1", [route("gpt-4o-mini")])
    assert a.remaining().budget_micros == 1_000_000 - a.reservation.cost_micros
    headers = await limiter.settle(a, 120, 1234)
    assert headers.headers() == {"x-gateway-budget-remaining": "0.998766"}
    check = Check("tenant|acme", "monthly_budget", 1_000_000)
    assert (await limiter.ledger.remaining([check], clock.time()))[check] == 1_000_000 - 1234


async def test_an_unpriced_model_cannot_be_served_under_a_budget(store: LimitsStore, limiter: Limiter) -> None:
    await set_limits(store, TENANT, dailyBudgetUsd=5)
    with pytest.raises(RequestError) as refused:
        await limiter.admit(ALICE, "r1", [unpriced("openai/some-new-model")], needs())
    assert refused.value.field == "model"
    assert "has no price" in refused.value.message
    # Beside a priced route it is only dropped.
    a = await admit(limiter, "r2", [unpriced("openai/some-new-model"), route("gpt-4o-mini")])
    assert [r.model for r in a.routes] == ["gpt-4o-mini"]
    assert a.dropped[0][1] == "unpriced"


async def test_a_rate_limit_alone_admits_unpriced_models(store: LimitsStore, limiter: Limiter) -> None:
    await set_limits(store, TENANT, requestsPerMinute=5)
    a = await admit(limiter, "r1", [unpriced("openai/some-new-model")])
    assert a.reservation.cost_micros == 0


async def test_a_limit_changed_in_the_store_binds_after_the_refresh(
    store: LimitsStore, limiter: Limiter, clock: FakeClock
) -> None:
    await set_limits(store, TENANT, requestsPerMinute=1)
    await admit(limiter, "r1", [route("gpt-4o-mini")])
    with pytest.raises(LimitExceeded):
        await limiter.admit(ALICE, "r2", [route("gpt-4o-mini")], needs())
    await set_limits(store, TENANT, requestsPerMinute=None)  # removed: unlimited again
    clock.advance(5.01)  # the cache's refresh interval
    assert await limiter.admit(ALICE, "r2", [route("gpt-4o-mini")], needs()) is None
