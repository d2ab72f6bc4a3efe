"""`RedisMetricsBackend`: live-metrics buckets as Redis hashes (Memorystore in the cloud).

Memorystore-compatible plain commands only (HINCRBY, HINCRBYFLOAT, HSET, PEXPIRE, HGETALL), sent as one
non-transactional pipeline per call: one round trip, no MULTI, no script. The connection options are the
cache's (`redis_pool_options`: AUTH from the URL, TLS with `rediss://` and a CA file, no client retries),
with short timeouts and the cache's `CacheBreaker`, so a dead Redis is not dialled every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis
import redis.exceptions as redis_errors

from shared.cache.breaker import CacheBreaker
from shared.cache.redis_cache import DEFAULT_CONNECT_TIMEOUT, redis_pool_options
from shared.clock import Clock, SystemClock
from shared.metrics.backends import BucketWrite, MetricsBackendError

__all__ = ["DEFAULT_METRICS_OP_TIMEOUT", "RedisMetricsBackend"]

# Metrics are written in the background, not on the request path: a little more room than the cache's 50 ms.
DEFAULT_METRICS_OP_TIMEOUT = 0.25


class RedisMetricsBackend:
    """Buckets as Redis hashes; build it with `from_url`, or around an existing `redis.asyncio` client."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        deadline: float = DEFAULT_CONNECT_TIMEOUT + 3 * DEFAULT_METRICS_OP_TIMEOUT,
        breaker: CacheBreaker | None = None,
        clock: Clock | None = None,
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self._deadline = deadline
        self.breaker = breaker or CacheBreaker(clock=clock or SystemClock(), name="redis-metrics")
        self._owns_client = owns_client

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ca_cert: str | None = None,
        timeout: float = DEFAULT_METRICS_OP_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        breaker: CacheBreaker | None = None,
        clock: Clock | None = None,
    ) -> RedisMetricsBackend:
        """Connects lazily; raises `ValueError` on a bad URL or CA file (as the cache does)."""
        # One flush and the odd read at a time: two connections are plenty.
        options = redis_pool_options(
            url, ca_cert=ca_cert, op_timeout=timeout, connect_timeout=connect_timeout, max_connections=2
        )
        client = aioredis.Redis.from_pool(aioredis.ConnectionPool.from_url(url, **options))
        return cls(client, deadline=connect_timeout + 3 * timeout, breaker=breaker, clock=clock, owns_client=True)

    async def _pipeline(self, fill: Callable[[aioredis.client.Pipeline], None]) -> list[object]:
        if not self.breaker.allow():
            raise MetricsBackendError("redis breaker open")
        try:
            async with asyncio.timeout(self._deadline):
                async with self._client.pipeline(transaction=False) as pipe:
                    fill(pipe)
                    replies: list[object] = await pipe.execute()
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except redis_errors.ResponseError as exc:
            self.breaker.record_success()  # it answered: reachable, the command was refused (OOM, READONLY)
            raise MetricsBackendError(f"redis refused: {exc}") from exc
        except (redis_errors.RedisError, TimeoutError, OSError) as exc:
            self.breaker.record_failure()
            raise MetricsBackendError(f"{type(exc).__name__}: {exc}") from exc
        self.breaker.record_success()
        return replies

    async def apply(self, writes: Sequence[BucketWrite]) -> None:
        if not writes:
            return

        def fill(pipe: aioredis.client.Pipeline) -> None:
            for write in writes:
                for name, amount in write.ints.items():
                    pipe.hincrby(write.key, name, amount)
                for name, value in write.floats.items():
                    pipe.hincrbyfloat(write.key, name, value)
                if write.gauges:
                    pipe.hset(write.key, mapping=dict(write.gauges.items()))
                pipe.pexpire(write.key, max(1, write.expire_ms))

        await self._pipeline(fill)

    async def read(self, keys: Sequence[str]) -> list[dict[str, float]]:
        if not keys:
            return []

        def fill(pipe: aioredis.client.Pipeline) -> None:
            for key in keys:
                pipe.hgetall(key)

        replies = await self._pipeline(fill)
        return [_decode(reply) for reply in replies]

    async def close(self) -> None:
        if self._owns_client:
            # Closing a pool whose server is gone may complain; nothing to do about it.
            with contextlib.suppress(Exception):
                await self._client.aclose()


def _decode(reply: object) -> dict[str, float]:
    if not isinstance(reply, dict):
        return {}
    fields: dict[str, float] = {}
    for name, value in reply.items():
        key = name.decode() if isinstance(name, bytes) else str(name)
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue  # a stray field someone else wrote: not ours to count
        if math.isfinite(number):
            fields[key] = number
    return fields
