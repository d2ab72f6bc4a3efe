"""The cache port and its adapters (architecture, Ports and adapters; issue 4).

- `port`: `CachePort` (get, get_many, set, delete, close) and the optional `TtlAwareCache`.
- `memory`: `MemoryCache`, in-process LRU with TTL (the embedded default, and the L1).
- `redis_cache`: `RedisCache` on Memorystore / redis-server, behind a `CacheBreaker` (`breaker`).
- `layered`: `LayeredCache`, L1 in front of Redis.
- `signature_store`: the Gemini `thoughtSignature` store on the port.

`build_cache` picks the adapters from configuration. The Redis module (and redis-py) is imported only
when a Redis URL is given, so the embedded setup never loads it.
"""

from __future__ import annotations

from shared.cache.breaker import BreakerPolicy, BreakerState, CacheBreaker
from shared.cache.layered import LayeredCache
from shared.cache.memory import MemoryCache
from shared.cache.port import CachePort, TtlAwareCache
from shared.cache.signature_store import CacheSignatureStore, signature_key
from shared.clock import Clock, SystemClock

__all__ = [
    "BreakerPolicy",
    "BreakerState",
    "CacheBreaker",
    "CachePort",
    "CacheSignatureStore",
    "LayeredCache",
    "MemoryCache",
    "TtlAwareCache",
    "build_cache",
    "signature_key",
]


def build_cache(
    *,
    redis_url: str | None,
    redis_ca_cert: str | None = None,
    max_entries: int = 1000,
    clock: Clock | None = None,
) -> CachePort:
    """The process's cache: `MemoryCache(max_entries)` alone, or that as L1 in front of Redis.

    Raises `ValueError` on a bad Redis configuration (scheme, CA file), at startup rather than per call.
    Connects lazily: no network traffic until the first cache call.
    """
    clock = clock or SystemClock()
    l1 = MemoryCache(max_entries, clock)
    if not redis_url:
        return l1
    from shared.cache.redis_cache import RedisCache  # deferred: only Redis setups load redis-py

    return LayeredCache(l1, RedisCache.from_url(redis_url, ca_cert=redis_ca_cert, clock=clock))
