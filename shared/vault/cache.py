"""The only place decrypted provider keys live: a bounded in-memory cache with a short TTL.

Keyed by (tenant, user, key id), so a lookup for another owner can never hit. Entries expire `ttl`
seconds (monotonic clock) after they were filled; at `size` entries the least recently used goes.
`evict` drops one key at once (delete and rotate on this instance; other instances' entries expire
within the TTL). A fill carries the `ticket` taken before its decrypt began: if any key was evicted
since, the fill is dropped, so a decrypt racing a rotation cannot put the old secret back.
Nothing here is written anywhere or shown by `repr`.
"""

from __future__ import annotations

from collections import OrderedDict

from shared.clock import Clock

__all__ = ["Owner", "SecretCache"]

Owner = tuple[str, str | None, str]  # tenant, user, key id


class SecretCache:
    def __init__(self, clock: Clock, *, ttl: float, size: int) -> None:
        if ttl <= 0 or size < 1:
            raise ValueError("the secret cache needs a positive ttl and size")
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._entries: OrderedDict[Owner, tuple[str, float]] = OrderedDict()
        self._evictions = 0

    def ticket(self) -> int:
        """Take before loading a secret; hand to `put`."""
        return self._evictions

    def get(self, owner: Owner) -> str | None:
        entry = self._entries.get(owner)
        if entry is None:
            return None
        secret, expires = entry
        if self._clock.monotonic() >= expires:
            del self._entries[owner]
            return None
        self._entries.move_to_end(owner)
        return secret

    def put(self, owner: Owner, secret: str, ticket: int) -> None:
        if ticket != self._evictions:
            return
        self._entries[owner] = (secret, self._clock.monotonic() + self._ttl)
        self._entries.move_to_end(owner)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def evict(self, owner: Owner) -> None:
        self._entries.pop(owner, None)
        self._evictions += 1

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"SecretCache({len(self._entries)} entries, ttl={self._ttl})"
