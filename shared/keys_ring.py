"""The hot path's gateway key lookup: the document store behind a small in-memory TTL cache.

Every request authenticates, so a known key must not cost a store round trip: each instance caches
what the store said about an HMAC, found or not, for `ttl_seconds` (30 s by default). Consequences:
- a key revoked elsewhere (another instance, the admin command) stops working within the TTL on every
  instance; revoked through this ring (`revoke`), it stops at once here;
- an unknown key is looked up at most once per TTL per instance (negative entries), and negatives have
  a bound of their own, so a flood of made-up keys cannot evict the known ones;
- the store down: cached entries keep answering until their TTL; any other lookup fails with a clear
  503 "key store unavailable" (`KeyStoreUnavailable`), never a 401 that would tell a valid caller their
  key is wrong. Revocation stays bounded by the TTL even then: nothing is served past it.

The cache is keyed by the HMAC, so no plaintext key is held beyond the call.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from shared.auth import MAX_KEY_CHARS, KeyRecord
from shared.clock import Clock
from shared.errors import GatewayError
from shared.gateway_keys import GatewayKeyStore
from shared.store.port import StoreUnavailable

__all__ = ["DEFAULT_KEY_CACHE_TTL", "KeyStoreUnavailable", "StoreKeyRing"]

DEFAULT_KEY_CACHE_TTL = 30.0


class KeyStoreUnavailable(GatewayError):
    """The key store could not answer for a key not in the cache: 503, the caller may retry."""

    status = 503


@dataclass(frozen=True, slots=True)
class _Entry:
    record: KeyRecord | None
    expires: float  # clock.monotonic()


class StoreKeyRing:
    """`KeyLookup` over a `GatewayKeyStore`, with bounded positive and negative TTL caches."""

    def __init__(
        self,
        keys: GatewayKeyStore,
        *,
        clock: Clock,
        ttl_seconds: float = DEFAULT_KEY_CACHE_TTL,
        max_entries: int = 10_000,
        max_negative: int = 1_000,
    ) -> None:
        if ttl_seconds <= 0 or max_entries < 1 or max_negative < 1:
            raise ValueError("the key cache needs a positive TTL and positive bounds")
        self.keys = keys
        self._clock = clock
        self._ttl = ttl_seconds
        self._bounds = {True: max_entries, False: max_negative}
        self._found: OrderedDict[str, _Entry] = OrderedDict()
        self._missing: OrderedDict[str, _Entry] = OrderedDict()
        # Bumped by every eviction: a lookup that started before it must not cache what it read then.
        self._generation = 0

    async def find(self, key: str) -> KeyRecord | None:
        """The active record of a presented key, or None. Raises `KeyStoreUnavailable` (503) when the
        answer is not cached and the store cannot give it."""
        if not key or len(key) > MAX_KEY_CHARS:
            return None
        digest = self.keys.digest(key)
        now = self._clock.monotonic()
        for cache in (self._found, self._missing):
            entry = cache.get(digest)
            if entry is None:
                continue
            if entry.expires > now:
                cache.move_to_end(digest)
                return entry.record
            del cache[digest]
        generation = self._generation
        try:
            record = await self.keys.lookup(digest)
        except StoreUnavailable:
            raise KeyStoreUnavailable(
                "key store unavailable: the gateway cannot check this key right now; retry shortly"
            ) from None
        if generation == self._generation:
            self._remember(digest, record)
        return record

    async def revoke(self, key_id: str) -> bool:
        """`GatewayKeyStore.revoke`; the key stops working here at once, elsewhere within the TTL."""
        revoked = await self.keys.revoke(key_id)
        self.evict(key_id)
        return revoked

    def evict(self, key_id: str) -> None:
        """Forget the cached record of `key_id` (the next request asks the store)."""
        self._generation += 1
        for digest in [d for d, e in self._found.items() if e.record is not None and e.record.key_id == key_id]:
            del self._found[digest]

    def _remember(self, digest: str, record: KeyRecord | None) -> None:
        cache = self._found if record is not None else self._missing
        cache[digest] = _Entry(record, self._clock.monotonic() + self._ttl)
        cache.move_to_end(digest)
        while len(cache) > self._bounds[record is not None]:
            cache.popitem(last=False)

    def __len__(self) -> int:
        return len(self._found) + len(self._missing)

    def __repr__(self) -> str:
        return f"StoreKeyRing({len(self._found)} found, {len(self._missing)} missing cached, ttl {self._ttl} s)"
