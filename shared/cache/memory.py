"""`MemoryCache`: the in-process cache adapter, an LRU bounded by entry count with a TTL per entry.

The embedded default when no Redis is configured, and the L1 in front of Redis when one is. Every
operation is O(1) (an `OrderedDict` keeps recency order). Expired entries are dropped when touched or
when they reach the old end of the LRU; the entry bound holds either way. The clock is injected
(`shared.clock`), and time is monotonic, so a wall-clock jump never expires or revives an entry.
Nothing here can fail, which is how it meets the port's "never fails a request" contract.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from shared.clock import Clock, SystemClock

__all__ = ["MemoryCache"]


class MemoryCache:
    """LRU with per-entry TTL for one process. Implements `CachePort` and `TtlAwareCache`."""

    def __init__(self, max_entries: int = 1000, clock: Clock | None = None) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self._clock = clock or SystemClock()
        # key -> (expires_at on the monotonic clock, value); the last item is the most recently used.
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def _lookup(self, key: str, now: float) -> tuple[float, bytes] | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= now:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item

    async def get(self, key: str) -> bytes | None:
        item = self._lookup(key, self._clock.monotonic())
        return None if item is None else item[1]

    async def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        now = self._clock.monotonic()
        found: dict[str, bytes] = {}
        for key in keys:
            item = self._lookup(key, now)
            if item is not None:
                found[key] = item[1]
        return found

    async def get_many_with_ttl(self, keys: Iterable[str]) -> dict[str, tuple[bytes, float | None]]:
        now = self._clock.monotonic()
        found: dict[str, tuple[bytes, float | None]] = {}
        for key in keys:
            item = self._lookup(key, now)
            if item is not None:
                found[key] = (item[1], item[0] - now)
        return found

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if not ttl_seconds > 0:  # also catches NaN
            self._items.pop(key, None)
            return
        self._items[key] = (self._clock.monotonic() + ttl_seconds, bytes(value))
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def close(self) -> None:
        self._items.clear()
