"""LayeredCache: L1 hits skip L2, L2 hits fill L1 no longer than L2 keeps them, the L1 bound, Redis away.

Unit tests count calls on a scripted L2 over a fake clock; the rest run on the real redis-server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from shared.cache import LayeredCache, MemoryCache, build_cache
from shared.cache.port import CachePort, TtlAwareCache
from shared.cache.redis_cache import RedisCache
from tests.cache import RELAXED_TIMEOUT, FakeClock, delete_prefix
from tests.redis_server import RedisServer


class CountingCache:
    """An L2 on a MemoryCache that counts the calls reaching it (without the TTL-aware read)."""

    def __init__(self, clock: FakeClock) -> None:
        self.inner = MemoryCache(1000, clock)
        self.reads = 0
        self.writes = 0

    async def get(self, key: str) -> bytes | None:
        self.reads += 1
        return await self.inner.get(key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        self.reads += 1
        return await self.inner.get_many(keys)

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self.writes += 1
        await self.inner.set(key, value, ttl_seconds)

    async def delete(self, key: str) -> None:
        self.writes += 1
        await self.inner.delete(key)

    async def close(self) -> None:
        await self.inner.close()


class CountingTtlCache(CountingCache):
    async def get_many_with_ttl(self, keys: Iterable[str]) -> dict[str, tuple[bytes, float | None]]:
        self.reads += 1
        return await self.inner.get_many_with_ttl(keys)


def layered(clock: FakeClock, l2: CachePort, l1_size: int = 100) -> LayeredCache:
    return LayeredCache(MemoryCache(l1_size, clock), l2, l1_max_ttl_seconds=60, l1_fill_ttl_seconds=5)


async def test_l1_hit_makes_no_l2_round_trip() -> None:
    clock = FakeClock()
    l2 = CountingCache(clock)
    cache = layered(clock, l2)
    await cache.set("k", b"v", 300)
    assert l2.writes == 1
    for _ in range(10):
        assert await cache.get("k") == b"v"
        assert await cache.get_many(["k"]) == {"k": b"v"}
    assert l2.reads == 0


async def test_l2_hit_fills_l1_for_a_short_time_when_l2_cannot_say_how_long() -> None:
    clock = FakeClock()
    l2 = CountingCache(clock)
    assert not isinstance(l2, TtlAwareCache)
    await l2.inner.set("k", b"v", 300)  # written by another instance
    cache = layered(clock, l2)
    assert await cache.get("k") == b"v"
    assert await cache.get("k") == b"v"
    assert l2.reads == 1
    clock.advance(5)
    assert await cache.get("k") == b"v"  # L1 copy expired after the fill TTL: back to L2
    assert l2.reads == 2


async def test_l2_hit_fills_l1_no_longer_than_l2_keeps_the_entry() -> None:
    clock = FakeClock()
    l2 = CountingTtlCache(clock)
    await l2.inner.set("soon", b"1", 3)
    await l2.inner.set("later", b"2", 300)
    cache = layered(clock, l2)
    assert await cache.get_many(["soon", "later"]) == {"soon": b"1", "later": b"2"}
    assert l2.reads == 1
    assert await cache.l1.get_many_with_ttl(["soon", "later"]) == {
        "soon": (b"1", 3.0),
        "later": (b"2", 60.0),  # capped by l1_max_ttl_seconds
    }
    clock.advance(3)
    assert await cache.get("soon") is None  # gone from both layers at the same moment


async def test_writes_cap_the_l1_copy_and_keep_the_full_ttl_in_l2() -> None:
    clock = FakeClock()
    l2 = CountingTtlCache(clock)
    cache = layered(clock, l2)
    await cache.set("k", b"v", 300)
    assert await cache.l1.get_many_with_ttl(["k"]) == {"k": (b"v", 60.0)}
    assert await l2.inner.get_many_with_ttl(["k"]) == {"k": (b"v", 300.0)}
    assert await cache.get_many_with_ttl(["k"]) == {"k": (b"v", 60.0)}


async def test_get_many_mixes_layers_and_asks_l2_only_for_what_l1_lacks() -> None:
    clock = FakeClock()
    l2 = CountingTtlCache(clock)
    cache = layered(clock, l2)
    await cache.set("a", b"1", 300)
    await l2.inner.set("b", b"2", 300)
    asked: list[list[str]] = []
    original = l2.inner.get_many_with_ttl

    async def spy(keys: Iterable[str]) -> dict[str, tuple[bytes, float | None]]:
        wanted = list(keys)
        asked.append(wanted)
        return await original(wanted)

    l2.inner.get_many_with_ttl = spy  # type: ignore[method-assign]
    assert await cache.get_many(["a", "b", "c", "a"]) == {"a": b"1", "b": b"2"}
    assert asked == [["b", "c"]]


async def test_l1_is_bounded_and_l2_still_serves_what_l1_dropped() -> None:
    clock = FakeClock()
    l2 = CountingCache(clock)
    cache = layered(clock, l2, l1_size=3)
    for i in range(10):
        await cache.set(f"k{i}", f"{i}".encode(), 300)
    assert len(cache.l1) == 3
    assert await cache.get("k0") == b"0"
    assert l2.reads == 1
    assert len(cache.l1) == 3


async def test_delete_and_close_reach_both_layers() -> None:
    clock = FakeClock()
    l2 = CountingCache(clock)
    cache = layered(clock, l2)
    await cache.set("k", b"v", 300)
    await cache.delete("k")
    assert await cache.get("k") is None
    assert await l2.inner.get("k") is None
    await cache.set("k", b"v", 300)
    await cache.close()
    assert len(cache.l1) == 0
    assert len(l2.inner) == 0


def test_fill_ttl_must_fit_the_cap() -> None:
    with pytest.raises(ValueError, match="l1_fill_ttl_seconds"):
        LayeredCache(MemoryCache(1), MemoryCache(1), l1_max_ttl_seconds=1, l1_fill_ttl_seconds=2)


# --- on the real redis-server ---


async def test_two_instances_share_entries_through_redis(redis_url: str, key_prefix: str) -> None:
    def instance() -> LayeredCache:
        return LayeredCache(MemoryCache(100), RedisCache.from_url(redis_url, timeout=RELAXED_TIMEOUT))

    first, second = instance(), instance()
    try:
        await first.set(key_prefix + "k", b"answer", 300)
        assert await second.l1.get(key_prefix + "k") is None
        assert await second.get(key_prefix + "k") == b"answer"  # from Redis, now in second's L1
        left = await second.l1.get_many_with_ttl([key_prefix + "k"])
        remaining = left[key_prefix + "k"][1]
        assert remaining is not None
        assert 59 < remaining <= 60
    finally:
        await first.close()
        await second.close()
        await delete_prefix(redis_url, key_prefix)


async def test_l1_copy_expires_with_the_redis_entry(redis_url: str, key_prefix: str) -> None:
    writer = RedisCache.from_url(redis_url, timeout=RELAXED_TIMEOUT)
    cache = LayeredCache(MemoryCache(100), RedisCache.from_url(redis_url, timeout=RELAXED_TIMEOUT))
    try:
        await writer.set(key_prefix + "k", b"v", 0.3)
        assert await cache.get(key_prefix + "k") == b"v"
        await asyncio.sleep(0.35)
        assert await cache.get(key_prefix + "k") is None  # L1 was filled with the 0.3 s Redis had left
    finally:
        await writer.close()
        await cache.close()
        await delete_prefix(redis_url, key_prefix)


async def test_with_redis_gone_l1_keeps_serving(own_redis: RedisServer) -> None:
    cache = build_cache(redis_url=own_redis.url, max_entries=100)
    assert isinstance(cache, LayeredCache)
    try:
        await cache.set("before", b"1", 300)
        own_redis.kill()
        assert await cache.get("before") == b"1"  # L1
        await cache.set("during", b"2", 300)  # L1 takes it; the Redis write is a no-op
        assert await cache.get("during") == b"2"
        assert await cache.get("unknown") is None
    finally:
        await cache.close()


async def test_build_cache_without_redis_is_the_memory_cache() -> None:
    cache = build_cache(redis_url=None, max_entries=7)
    assert isinstance(cache, MemoryCache)
    assert cache.max_entries == 7
    with pytest.raises(ValueError, match="rediss://"):
        build_cache(redis_url="memcached://localhost")
