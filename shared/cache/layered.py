"""`LayeredCache`: a small in-process L1 (`MemoryCache`) in front of a shared L2 (Redis).

Reads try L1 first and only go to L2 for the keys L1 lacks; an L2 hit fills L1. Writes and deletes go
to both. What L1 may keep is bounded twice:
- never past the entry's own expiry in L2 (when L2 says how long an entry has left, `TtlAwareCache`;
  otherwise `l1_fill_ttl_seconds`, short, since the entry may be about to expire);
- never longer than `l1_max_ttl_seconds`: another instance may refresh or delete the entry in L2, and
  this instance's L1 would not hear of it. That bound is how stale an L1 copy can get.
When L2 is down (its breaker open), L1 keeps serving what it holds and takes new writes: the embedded
behaviour the architecture asks for while Redis is away.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.cache.memory import MemoryCache
from shared.cache.port import CachePort, TtlAwareCache

__all__ = ["DEFAULT_L1_FILL_TTL_SECONDS", "DEFAULT_L1_MAX_TTL_SECONDS", "LayeredCache"]

DEFAULT_L1_MAX_TTL_SECONDS = 60.0
DEFAULT_L1_FILL_TTL_SECONDS = 5.0


class LayeredCache:
    """L1 in-process, L2 shared. Implements `CachePort` (and `TtlAwareCache`)."""

    def __init__(
        self,
        l1: MemoryCache,
        l2: CachePort,
        *,
        l1_max_ttl_seconds: float = DEFAULT_L1_MAX_TTL_SECONDS,
        l1_fill_ttl_seconds: float = DEFAULT_L1_FILL_TTL_SECONDS,
    ) -> None:
        if not 0 < l1_fill_ttl_seconds <= l1_max_ttl_seconds:
            raise ValueError("need 0 < l1_fill_ttl_seconds <= l1_max_ttl_seconds")
        self.l1 = l1
        self.l2 = l2
        self._max_ttl = l1_max_ttl_seconds
        self._fill_ttl = l1_fill_ttl_seconds
        # Decided once: an isinstance check against a runtime Protocol is not free on the hot path.
        self._l2_ttl: TtlAwareCache | None = l2 if isinstance(l2, TtlAwareCache) else None

    async def get(self, key: str) -> bytes | None:
        value = await self.l1.get(key)
        if value is not None:
            return value
        return (await self._from_l2([key])).get(key)

    async def get_many(self, keys: Iterable[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(keys))
        found = await self.l1.get_many(wanted)
        missing = [key for key in wanted if key not in found]
        if missing:
            found.update(await self._from_l2(missing))
        return found

    async def get_many_with_ttl(self, keys: Iterable[str]) -> dict[str, tuple[bytes, float | None]]:
        wanted = list(dict.fromkeys(keys))
        found = await self.l1.get_many_with_ttl(wanted)
        missing = [key for key in wanted if key not in found]
        if missing:
            found.update(await self._from_l2_with_ttl(missing))
        return found

    async def _from_l2(self, keys: list[str]) -> dict[str, bytes]:
        return {key: value for key, (value, _) in (await self._from_l2_with_ttl(keys)).items()}

    async def _from_l2_with_ttl(self, keys: list[str]) -> dict[str, tuple[bytes, float | None]]:
        if self._l2_ttl is not None:
            found = await self._l2_ttl.get_many_with_ttl(keys)
        else:
            found = {key: (value, None) for key, value in (await self.l2.get_many(keys)).items()}
        for key, (value, remaining) in found.items():
            await self.l1.set(key, value, self._fill_ttl if remaining is None else min(remaining, self._max_ttl))
        return found

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        await self.l1.set(key, value, min(ttl_seconds, self._max_ttl))
        await self.l2.set(key, value, ttl_seconds)

    async def delete(self, key: str) -> None:
        await self.l1.delete(key)
        await self.l2.delete(key)

    async def close(self) -> None:
        await self.l2.close()
        await self.l1.close()
