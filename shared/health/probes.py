"""Dependency pings for health, each bounded by a timeout and none ever raising.

- document store: a `get` of a sentinel document (absent is fine: the store answered);
- cache: Redis `PING` when the cache has Redis behind it (`RedisCache.ping`, also as a `LayeredCache`'s
  L2); the in-process cache has nothing to reach, so a `get` stands in;
- KMS: `SecretBox.primary_version()` (Cloud KMS `GetCryptoKey`; the box caches the answer for a minute,
  so a KMS outage shows within that minute). The local keyset is a file: nothing to reach.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from shared.cache.layered import LayeredCache
from shared.cache.port import CachePort
from shared.clock import Clock
from shared.crypto.port import SecretBox
from shared.health.facts import Reachability
from shared.store.port import DocumentStore

__all__ = ["SENTINEL", "has_redis", "ping", "ping_cache", "ping_kms", "ping_store"]

SENTINEL = ("health", "ping")  # (collection, doc id): read, never written
_CACHE_SENTINEL = "v1:health:ping"


@runtime_checkable
class _Pingable(Protocol):
    async def ping(self) -> bool: ...


async def ping(call: Callable[[], Awaitable[bool]], clock: Clock, seconds: float) -> Reachability:
    """Run `call` (True: it answered) within `seconds`; failures become `ok=False` with a reason."""
    started = clock.monotonic()
    try:
        async with asyncio.timeout(seconds):
            answered = await call()
    except TimeoutError:
        return Reachability(ok=False, latency_ms=_ms(clock.monotonic() - started), detail="timeout")
    except Exception as error:  # any failure of the dependency is the fact we are after
        return Reachability(ok=False, latency_ms=_ms(clock.monotonic() - started), detail=type(error).__name__)
    latency = _ms(clock.monotonic() - started)
    return Reachability(ok=True, latency_ms=latency) if answered else Reachability(False, latency, "no answer")


async def ping_store(store: DocumentStore, clock: Clock, seconds: float) -> Reachability:
    async def call() -> bool:
        await store.get(*SENTINEL)
        return True

    return await ping(call, clock, seconds)


def _redis(cache: CachePort) -> _Pingable | None:
    target = cache.l2 if isinstance(cache, LayeredCache) else cache
    return target if isinstance(target, _Pingable) else None


def has_redis(cache: CachePort) -> bool:
    """Whether `ping_cache` reaches a Redis (`REDIS_URL` set) rather than standing in with a local `get`."""
    return _redis(cache) is not None


async def ping_cache(cache: CachePort, clock: Clock, seconds: float) -> Reachability:
    # A cache answers every failure with a miss (its contract), so only a PING can tell Redis is down.
    target = _redis(cache)
    if target is not None:
        return await ping(target.ping, clock, seconds)

    async def call() -> bool:
        await cache.get(_CACHE_SENTINEL)
        return True

    return await ping(call, clock, seconds)


async def ping_kms(box: SecretBox | None, clock: Clock, seconds: float) -> Reachability:
    if box is None:
        return Reachability(ok=True, detail="local")

    async def call() -> bool:
        await box.primary_version()
        return True

    return await ping(call, clock, seconds)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
