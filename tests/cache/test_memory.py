"""MemoryCache: hits and misses, TTL on the injected clock, the LRU bound, and expire-at-once writes."""

from __future__ import annotations

import math

import pytest

from shared.cache.memory import MemoryCache
from shared.cache.port import CachePort, TtlAwareCache
from tests.cache import FakeClock


def test_meets_the_port() -> None:
    cache: CachePort = MemoryCache(10, FakeClock())
    assert isinstance(cache, TtlAwareCache)


async def test_set_then_get_and_a_miss() -> None:
    cache = MemoryCache(10, FakeClock())
    await cache.set("k", b"\x00value\xff", 60)
    assert await cache.get("k") == b"\x00value\xff"
    assert await cache.get("other") is None


async def test_entry_expires_exactly_at_its_ttl() -> None:
    clock = FakeClock()
    cache = MemoryCache(10, clock)
    await cache.set("k", b"v", 30)
    clock.advance(29.999)
    assert await cache.get("k") == b"v"
    clock.advance(0.001)
    assert await cache.get("k") is None
    assert len(cache) == 0  # an expired entry found on a read is dropped


async def test_get_many_returns_only_live_entries() -> None:
    clock = FakeClock()
    cache = MemoryCache(10, clock)
    await cache.set("a", b"1", 10)
    await cache.set("b", b"2", 100)
    clock.advance(50)
    assert await cache.get_many(["a", "b", "c"]) == {"b": b"2"}
    assert await cache.get_many([]) == {}


async def test_get_many_with_ttl_reports_the_time_left() -> None:
    clock = FakeClock()
    cache = MemoryCache(10, clock)
    await cache.set("a", b"1", 10)
    clock.advance(4)
    assert await cache.get_many_with_ttl(["a", "b"]) == {"a": (b"1", 6.0)}


async def test_bound_evicts_the_least_recently_used() -> None:
    cache = MemoryCache(2, FakeClock())
    await cache.set("a", b"1", 60)
    await cache.set("b", b"2", 60)
    assert await cache.get("a") == b"1"  # a is now the most recent: b goes first
    await cache.set("c", b"3", 60)
    assert len(cache) == 2
    assert await cache.get_many(["a", "b", "c"]) == {"a": b"1", "c": b"3"}


async def test_overwrite_refreshes_value_and_ttl_without_growing() -> None:
    clock = FakeClock()
    cache = MemoryCache(2, clock)
    await cache.set("a", b"old", 10)
    clock.advance(9)
    await cache.set("a", b"new", 10)
    clock.advance(9)
    assert await cache.get("a") == b"new"
    assert len(cache) == 1


async def test_bound_holds_under_many_writes() -> None:
    cache = MemoryCache(100, FakeClock())
    for i in range(10_000):
        await cache.set(f"k{i}", b"v", 60)
    assert len(cache) == 100
    assert await cache.get("k9999") == b"v"
    assert await cache.get("k0") is None


@pytest.mark.parametrize("ttl", [0, -1, math.nan])
async def test_non_positive_ttl_expires_at_once_and_removes_the_old_value(ttl: float) -> None:
    cache = MemoryCache(10, FakeClock())
    await cache.set("k", b"old", 60)
    await cache.set("k", b"new", ttl)
    assert await cache.get("k") is None


async def test_infinite_ttl_never_expires() -> None:
    clock = FakeClock()
    cache = MemoryCache(10, clock)
    await cache.set("k", b"v", math.inf)
    clock.advance(1e12)
    assert await cache.get("k") == b"v"


async def test_delete_and_close() -> None:
    cache = MemoryCache(10, FakeClock())
    await cache.set("a", b"1", 60)
    await cache.set("b", b"2", 60)
    await cache.delete("a")
    await cache.delete("missing")
    assert await cache.get_many(["a", "b"]) == {"b": b"2"}
    await cache.close()
    assert len(cache) == 0


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(0)
