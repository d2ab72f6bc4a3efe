"""`HealthCollector` over real parts: a breaker tripped by a chat "instance" on the shared SQLite file shows
as open here; live metrics recorded in process come out per route; a store that raises or hangs, a cache
whose Redis is gone and a slow metrics backend make health degraded (or leave parts out), never crash it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from shared.breakers import BreakerBoard, BreakerPolicy, route_scope
from shared.cache import CacheBreaker, LayeredCache, MemoryCache
from shared.cache.redis_cache import RedisCache
from shared.crypto.port import KeyServiceUnavailable, Sealed
from shared.health import LimitsFact, assess
from shared.metrics import LiveMetrics
from shared.store import Document, SqliteStore
from tests.breakers import FlakyStore
from tests.fakes import FakeClock
from tests.health.conftest import MakeCollector


class HangingStore:
    """A store whose reads never answer until `release` is set (a store that stopped responding)."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.release = asyncio.Event()

    async def get(self, collection: str, doc_id: str) -> Document | None:
        await self.release.wait()
        return await self.inner.get(collection, doc_id)

    async def list(self, collection: str) -> dict[str, Document]:
        await self.release.wait()
        return await self.inner.list(collection)

    async def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        await self.inner.set(collection, doc_id, doc)

    async def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> bool:
        return await self.inner.create(collection, doc_id, doc)

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
    ) -> bool:
        return await self.inner.put_if_newer(collection, doc_id, doc, must_exist=must_exist)

    async def delete(self, collection: str, doc_id: str) -> None:
        await self.inner.delete(collection, doc_id)

    async def close(self) -> None:
        await self.inner.close()


class DownKms:
    async def seal(self, plaintext: bytes, associated_data: bytes) -> Sealed:
        raise KeyServiceUnavailable("down (test)")

    async def open(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        raise KeyServiceUnavailable("down (test)")

    async def primary_version(self) -> str | None:
        raise KeyServiceUnavailable("down (test)")


class SlowBackend:
    async def apply(self, writes: Sequence[Any]) -> None:
        return None

    async def read(self, keys: Sequence[str]) -> list[dict[str, float]]:
        await asyncio.Event().wait()
        return []

    async def close(self) -> None:
        return None


async def test_everything_up_and_quiet_is_healthy(make_collector: MakeCollector) -> None:
    facts = await make_collector().collect()
    assert (facts.store.ok, facts.cache.ok, facts.kms.ok) == (True, True, True)
    assert facts.kms.detail == "local"
    assert (facts.events.backlog, facts.events.instances) == (0, 0)
    assert facts.events.detail == "no instance reported in the last 2 minutes"
    assert {p: (b.routes, b.open) for p, b in facts.providers.items()} == {"openai": (2, 0), "anthropic": (2, 0)}
    assert facts.routes == ()
    assert assess(facts) == "healthy"


async def test_a_breaker_tripped_by_another_instance_shows_open_for_its_route(
    make_collector: MakeCollector, store: SqliteStore, clock: FakeClock
) -> None:
    chat = BreakerBoard(store, BreakerPolicy(), clock, instance_id="chat")
    await chat.record(route_scope("openai", "gpt-4o"), ok=False, definitive=True, reason="overloaded")
    facts = await make_collector().collect()
    assert facts.providers["openai"].open == 1
    [route] = facts.routes
    assert (route.provider, route.model, route.breaker, route.requests) == ("openai", "gpt-4o", "open", 0)
    assert assess(facts) == "degraded"

    # Past open_until it is half-open: still reported, still degraded.
    clock.advance(BreakerPolicy().open_seconds + 1)
    later = await make_collector().collect()
    assert [r.breaker for r in later.routes] == ["half_open"]


async def test_every_route_open_is_unhealthy(
    make_collector: MakeCollector, store: SqliteStore, clock: FakeClock
) -> None:
    chat = BreakerBoard(store, BreakerPolicy(), clock, instance_id="chat")
    for provider, model in (
        ("openai", "gpt-4o-mini"),
        ("openai", "gpt-4o"),
        ("anthropic", "claude-haiku-4-5-20251001"),
        ("anthropic", "claude-sonnet-4-5-20250929"),
    ):
        await chat.record(route_scope(provider, model), ok=False, definitive=True, reason="api_error")
    facts = await make_collector().collect()
    assert {b.open for b in facts.providers.values()} == {2}
    assert assess(facts) == "unhealthy"


async def test_credential_breakers_do_not_count(
    make_collector: MakeCollector, store: SqliteStore, clock: FakeClock
) -> None:
    chat = BreakerBoard(store, BreakerPolicy(), clock, instance_id="chat")
    await chat.record("cred:openai:abc123", ok=False, definitive=True, reason="authentication")
    facts = await make_collector().collect()
    assert facts.routes == ()
    assert assess(facts) == "healthy"


async def test_live_metrics_per_route(make_collector: MakeCollector, metrics: LiveMetrics, clock: FakeClock) -> None:
    for _ in range(3):
        metrics.record("anthropic", "claude-haiku-4-5-20251001", error_kind="overloaded", latency_s=0.1, ttft_s=None)
    clock.advance(120)  # two minutes later: the newest minute with errors has a timeout only
    metrics.record("anthropic", "claude-haiku-4-5-20251001", error_kind="timeout", latency_s=3.0, ttft_s=None)
    for _ in range(16):
        metrics.record("anthropic", "claude-haiku-4-5-20251001", error_kind=None, latency_s=0.2, ttft_s=0.1)
    metrics.record("openai", "gpt-4o-mini", error_kind=None, latency_s=0.04, ttft_s=None)
    assert await metrics.flush()

    facts = await make_collector().collect()
    by_model = {r.model: r for r in facts.routes}
    assert set(by_model) == {"claude-haiku-4-5-20251001", "gpt-4o-mini"}  # routes without traffic left out
    haiku = by_model["claude-haiku-4-5-20251001"]
    assert (haiku.breaker, haiku.requests, haiku.errors, haiku.last_error_kind) == ("closed", 20, 4, "timeout")
    assert haiku.error_ratio == 0.2
    assert haiku.latency_p50_ms is not None
    assert 100 < haiku.latency_p50_ms <= 250  # 0.2 s falls in the 100-250 ms bucket
    assert by_model["gpt-4o-mini"].last_error_kind is None
    assert (facts.requests, facts.errors) == (21, 4)
    assert facts.window_seconds == 4 * 60 + 5  # four full minutes and 5 s of the current one
    assert assess(facts) == "degraded"  # 4 of 21 failed


async def test_a_store_that_raises_is_degraded(make_collector: MakeCollector, store: SqliteStore) -> None:
    flaky = FlakyStore(store)
    flaky.down = True
    facts = await make_collector(store_=flaky).collect()
    assert (facts.store.ok, facts.store.detail) == (False, "StoreUnavailable")
    assert assess(facts) == "degraded"  # every route still closed in the mirror


async def test_a_store_that_hangs_is_a_timeout_not_a_hang(make_collector: MakeCollector, store: SqliteStore) -> None:
    hanging = HangingStore(store)
    collector = make_collector(store_=hanging, ping_timeout=0.05)
    try:
        facts = await asyncio.wait_for(collector.collect(), timeout=5)
    finally:
        hanging.release.set()  # lets the mirror load the board left running finish
    assert (facts.store.ok, facts.store.detail) == (False, "timeout")
    assert assess(facts) == "degraded"


async def test_kms_down_is_degraded(make_collector: MakeCollector) -> None:
    facts = await make_collector(kms=DownKms()).collect()
    assert (facts.kms.ok, facts.kms.detail) == (False, "KeyServiceUnavailable")
    assert assess(facts) == "degraded"


async def test_redis_gone_behind_the_cache_is_degraded(make_collector: MakeCollector, clock: FakeClock) -> None:
    # Nothing listens on port 1: the PING fails at once (connection refused).
    l2 = RedisCache.from_url("redis://127.0.0.1:1/0", breaker=CacheBreaker(clock=clock))
    cache = LayeredCache(MemoryCache(16, clock), l2)
    try:
        facts = await make_collector(cache=cache).collect()
    finally:
        await cache.close()
    assert (facts.cache.ok, facts.cache.detail) == (False, "no answer")
    assert assess(facts) == "degraded"


async def test_limits_are_embedded_without_redis(make_collector: MakeCollector) -> None:
    facts = await make_collector(limits_instances=3).collect()
    assert facts.limits == LimitsFact("embedded", 3)
    assert assess(facts) == "healthy"


async def test_limits_are_shared_while_redis_answers(
    make_collector: MakeCollector, clock: FakeClock, redis_url: str
) -> None:
    cache = LayeredCache(MemoryCache(16, clock), RedisCache.from_url(redis_url, breaker=CacheBreaker(clock=clock)))
    try:
        facts = await make_collector(cache=cache, limits_instances=4).collect()
    finally:
        await cache.close()
    assert facts.cache.ok
    assert facts.limits == LimitsFact("shared", 4)
    assert assess(facts) == "healthy"


async def test_limits_fail_open_when_redis_is_gone(make_collector: MakeCollector, clock: FakeClock) -> None:
    cache = LayeredCache(
        MemoryCache(16, clock), RedisCache.from_url("redis://127.0.0.1:1/0", breaker=CacheBreaker(clock=clock))
    )
    try:
        facts = await make_collector(cache=cache, limits_instances=4).collect()
    finally:
        await cache.close()
    assert facts.limits == LimitsFact("degraded", 4)
    assert assess(facts) == "degraded"  # not unhealthy: requests are still limited, by each instance's share


def test_the_expected_instance_count_is_checked(make_collector: MakeCollector) -> None:
    with pytest.raises(ValueError, match="limits_instances must be at least 1"):
        make_collector(limits_instances=0)


async def test_slow_metrics_leave_routes_out_but_health_answers(
    make_collector: MakeCollector, clock: FakeClock
) -> None:
    slow = LiveMetrics(SlowBackend(), clock=clock)
    facts = await asyncio.wait_for(make_collector(metrics=slow, metrics_timeout=0.05).collect(), timeout=5)
    assert (facts.routes, facts.requests) == ((), 0)
    assert assess(facts) == "healthy"


async def test_a_recent_collection_is_reused(
    make_collector: MakeCollector, store: SqliteStore, clock: FakeClock
) -> None:
    counting = FlakyStore(store)
    collector = make_collector(store_=counting, max_age=1.0)
    first, again = await asyncio.gather(collector.collect(), collector.collect())
    assert again is first
    assert counting.calls.count("get") == 1
    clock.advance(1.0)
    assert await collector.collect() is not first
    assert counting.calls.count("get") == 2


async def test_the_event_backlog_is_the_sum_the_chat_instances_report(
    make_collector: MakeCollector, metrics: LiveMetrics, clock: FakeClock
) -> None:
    for backlog in (3, 10_003):
        chat = LiveMetrics(metrics.backend, clock=clock)
        chat.gauge("events_backlog", backlog.__int__)
        await chat.flush()
    facts = await make_collector().collect()
    assert (facts.events.backlog, facts.events.instances, facts.events.detail) == (10_006, 2, None)
    assert assess(facts) == "degraded"  # above BACKLOG_LIMIT


async def test_an_unreachable_backlog_is_unknown_not_zero(make_collector: MakeCollector, clock: FakeClock) -> None:
    facts = await make_collector(metrics=LiveMetrics(SlowBackend(), clock=clock), metrics_timeout=0.05).collect()
    assert (facts.events.backlog, facts.events.detail) == (None, "live metrics timeout")
