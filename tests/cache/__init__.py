"""Tests of shared.cache, and the helpers they share: `FakeClock` (the injected clock, driven by hand),
`delete_prefix` (clean one test's keys off a shared Redis), `state_of` and `RELAXED_TIMEOUT`."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from shared.cache.breaker import BreakerState, CacheBreaker

__all__ = ["RELAXED_TIMEOUT", "FakeClock", "delete_prefix", "state_of"]

# Functional tests must not flake on a busy machine; the production timeouts are tested on their own.
RELAXED_TIMEOUT = 1.0


@dataclass
class FakeClock:
    now: float = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def delete_prefix(url: str, prefix: str) -> None:
    """Delete every key under `prefix` (never FLUSHALL: the server may be shared)."""
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def state_of(breaker: CacheBreaker) -> BreakerState:
    """`breaker.state` through a call, so mypy does not keep a narrowed literal across state changes."""
    return breaker.state
