"""The cache port: the small async Protocol every cache adapter meets (architecture, Ports and adapters).

Adapters: `MemoryCache` (in-process LRU with TTL, the embedded default), `RedisCache` (Memorystore for
Redis) and `LayeredCache` (a small in-process L1 in front of Redis).

The contract, whatever the backend:
- A cache never fails a request. Adapter trouble (Redis down, slow, refusing) is a miss on reads and a
  no-op on writes, logged (throttled, never a value, never a key: keys can carry tenant ids), never an
  exception to the caller. Only misconfiguration at construction time raises.
- Keys are opaque strings the caller has already scoped (version prefix, tenant, user): an adapter never
  builds or parses them. Values are bytes.
- `set` with a TTL of zero or less stores nothing and removes an older value under that key (it
  "expires at once"), so a stale entry never outlives a refresh.

`TtlAwareCache` is an optional extra some adapters offer: reads that also say how long each entry has
left, so a layer in front (L1) never keeps an entry longer than the layer behind it does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

__all__ = ["CachePort", "TtlAwareCache"]


class CachePort(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The value stored under `key`, or `None` (absent, expired, or the backend is in trouble)."""
        ...

    async def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The keys that were found, with their values; missing keys are simply absent."""
        ...

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        """Store `value` under `key` for `ttl_seconds` (best effort)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key` if present (best effort)."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent; never raises."""
        ...


@runtime_checkable
class TtlAwareCache(Protocol):
    async def get_many_with_ttl(self, keys: Iterable[str]) -> dict[str, tuple[bytes, float | None]]:
        """Like `get_many`, with each entry's remaining lifetime in seconds (`None`: unknown or unbounded)."""
        ...
