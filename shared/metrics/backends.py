"""Where live-metrics buckets are kept: the `MetricsBackend` port and its in-process adapter.

A backend only adds deltas to hash fields (with an expiry) and reads hashes back; the aggregation,
retries and snapshots live in `shared.metrics.live`. Both calls raise `MetricsBackendError` on trouble
(the caller keeps its deltas and retries), so the adapters stay small. The Redis adapter is
`shared.metrics.redis_backend`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.clock import Clock, SystemClock

__all__ = [
    "BucketWrite",
    "MemoryMetricsBackend",
    "MetricsBackend",
    "MetricsBackendError",
]


class MetricsBackendError(Exception):
    """The backend could not be written or read (down, slow, refused, breaker open)."""


@dataclass(frozen=True, slots=True)
class BucketWrite:
    """Deltas for one bucket hash, and how long (ms from now) the hash is to live after this write;
    `gauges` are fields set to a value rather than added to (shared.metrics.gauges)."""

    key: str
    ints: Mapping[str, int]
    floats: Mapping[str, float]
    expire_ms: int
    gauges: Mapping[str, float] = field(default_factory=dict)


class MetricsBackend(Protocol):
    async def apply(self, writes: Sequence[BucketWrite]) -> None:
        """Add every delta, set every gauge field and each expiry, in one round trip; raises
        `MetricsBackendError`."""
        ...

    async def read(self, keys: Sequence[str]) -> list[dict[str, float]]:
        """The fields of each hash (empty when absent), in one round trip; raises `MetricsBackendError`."""
        ...

    async def close(self) -> None: ...


class MemoryMetricsBackend:
    """In-process buckets with the same fields and expiry as on Redis (the embedded default)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._hashes: dict[str, tuple[dict[str, float], float]] = {}  # key -> (fields, expires at, wall clock)

    async def apply(self, writes: Sequence[BucketWrite]) -> None:
        now = self._clock.time()
        # Once per flush, over at most (models x an hour of minutes) keys: cheap, and nothing grows unbounded.
        for key in [key for key, (_, expires) in self._hashes.items() if expires <= now]:
            del self._hashes[key]
        for write in writes:
            fields = self._hashes.get(write.key, ({}, 0.0))[0]
            for name, amount in write.ints.items():
                fields[name] = fields.get(name, 0.0) + amount
            for name, value in write.floats.items():
                fields[name] = fields.get(name, 0.0) + value
            fields.update(write.gauges)
            self._hashes[write.key] = (fields, now + write.expire_ms / 1000)

    async def read(self, keys: Sequence[str]) -> list[dict[str, float]]:
        now = self._clock.time()
        found: list[dict[str, float]] = []
        for key in keys:
            entry = self._hashes.get(key)
            found.append(dict(entry[0]) if entry is not None and entry[1] > now else {})
        return found

    async def close(self) -> None:
        self._hashes.clear()
