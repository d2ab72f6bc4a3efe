"""Fixtures for the live-metrics tests: a real redis-server per session, and `env`, one per backend.

`env` is parametrized over the in-process and the Redis backend, so the same tests prove both (the
contract suite). Each test writes under its own random key prefix on the shared server, deleted after.
`own_redis` is a server of the test's own, to kill and restart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.metrics import BucketWrite, LiveMetrics, MemoryMetricsBackend, MetricsBackend, MetricsBackendError
from shared.metrics.redis_backend import RedisMetricsBackend
from tests.cache import RELAXED_TIMEOUT, FakeClock, delete_prefix

# A minute-aligned wall clock, 5 s into its minute; Redis expiry runs on real time, independently.
START = 60 * 29_000_000 + 5.0


class CountingBackend:
    """Wraps a backend: counts round trips, and fails on demand (an outage, for either backend)."""

    def __init__(self, inner: MetricsBackend) -> None:
        self.inner = inner
        self.applies = 0
        self.reads = 0
        self.down = False

    async def apply(self, writes: Sequence[BucketWrite]) -> None:
        self.applies += 1
        if self.down:
            raise MetricsBackendError("down (test)")
        await self.inner.apply(writes)

    async def read(self, keys: Sequence[str]) -> list[dict[str, float]]:
        self.reads += 1
        if self.down:
            raise MetricsBackendError("down (test)")
        return await self.inner.read(keys)

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Env:
    kind: str
    prefix: str
    redis_url: str | None
    clock: FakeClock = field(default_factory=lambda: FakeClock(START))
    made: list[LiveMetrics] = field(default_factory=list)
    _memory: MemoryMetricsBackend | None = None

    def backend(self) -> CountingBackend:
        """A fresh backend on the same store: another gateway process, as far as the data goes."""
        if self.redis_url is None:
            if self._memory is None:
                self._memory = MemoryMetricsBackend(self.clock)
            return CountingBackend(_Shared(self._memory))
        inner = RedisMetricsBackend.from_url(
            self.redis_url, timeout=RELAXED_TIMEOUT, connect_timeout=RELAXED_TIMEOUT, clock=self.clock
        )
        return CountingBackend(inner)

    def make(self, **options: Any) -> tuple[LiveMetrics, CountingBackend]:
        backend = self.backend()
        metrics = LiveMetrics(backend, clock=self.clock, prefix=self.prefix, **options)
        self.made.append(metrics)
        return metrics, backend

    async def advance(self, seconds: float) -> None:
        """Let time pass: the fake clock for the in-process store, real time as well for Redis's expiry."""
        self.clock.advance(seconds)
        if self.redis_url is not None:
            await asyncio.sleep(seconds)


class _Shared:
    """The one in-process store seen by several `LiveMetrics`; closing one must not clear it for the rest."""

    def __init__(self, inner: MemoryMetricsBackend) -> None:
        self.inner = inner

    async def apply(self, writes: Sequence[BucketWrite]) -> None:
        await self.inner.apply(writes)

    async def read(self, keys: Sequence[str]) -> list[dict[str, float]]:
        return await self.inner.read(keys)

    async def close(self) -> None:
        pass


@pytest.fixture
def key_prefix() -> str:
    return f"test:{uuid.uuid4().hex}:m:"


@pytest.fixture(params=["memory", "redis"])
async def env(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[Env]:
    url: str | None = request.getfixturevalue("redis_url") if request.param == "redis" else None
    environment = Env(request.param, key_prefix, url)
    yield environment
    for metrics in environment.made:
        await metrics.close()
    if url is not None:
        await delete_prefix(url, key_prefix)
