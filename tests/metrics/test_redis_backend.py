"""RedisMetricsBackend on the wire (real redis-server): the commands sent, one pipeline per flush, the
expiry set, the configuration, and Redis killed for real (then restarted on the same port)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from shared.cache.breaker import BreakerPolicy, CacheBreaker
from shared.cache.redis_cache import redis_pool_options
from shared.metrics import LiveMetrics, MemoryMetricsBackend, build_live_metrics
from shared.metrics.redis_backend import RedisMetricsBackend
from tests.cache import RELAXED_TIMEOUT, FakeClock, state_of
from tests.metrics.conftest import START
from tests.redis_server import RedisServer


class RecordingPipeline(Pipeline):
    batches: list[tuple[bool, list[str]]]

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        names = [str(args[0]).upper() for args, _ in self.command_stack]
        self.batches.append((self.is_transaction, names))
        return await super().execute(raise_on_error)


class RecordingRedis(aioredis.Redis):
    """Every round trip this client makes: pipelines (with their commands) and direct commands."""

    batches: list[tuple[bool, list[str]]]
    direct: list[str]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = RecordingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.batches = self.batches
        return pipe

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.direct.append(str(args[0]))
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def recording_client(url: str) -> RecordingRedis:
    options = redis_pool_options(url, op_timeout=RELAXED_TIMEOUT, connect_timeout=RELAXED_TIMEOUT)
    client = RecordingRedis(connection_pool=aioredis.ConnectionPool.from_url(url, **options))
    client.auto_close_connection_pool = True  # as `from_pool` does: closing the client closes its pool
    client.batches, client.direct = [], []
    return client


async def test_a_flush_is_one_plain_pipeline_of_memorystore_commands(
    redis_url: str, key_prefix: str, raw_redis: aioredis.Redis
) -> None:
    client = recording_client(redis_url)
    metrics = LiveMetrics(RedisMetricsBackend(client, owns_client=True), clock=FakeClock(START), prefix=key_prefix)
    for index in range(50):
        metrics.record("openai", f"m{index % 4}", error_kind=None, latency_s=0.3, ttft_s=0.1)
        metrics.record("gemini", "g", error_kind="timeout", latency_s=1.0, ttft_s=None)
    await metrics.flush()
    assert len(client.batches) == 1
    assert client.direct == []
    transaction, names = client.batches[0]
    assert transaction is False  # no MULTI/EXEC
    assert set(names) == {"HINCRBY", "HINCRBYFLOAT", "PEXPIRE"}
    assert names.count("PEXPIRE") == 5  # one per bucket touched

    key = f"{key_prefix}openai:m0:{int(START // 60) * 60}"
    stored = await raw_redis.hgetall(key)
    assert stored[b"n"] == b"13"
    assert stored[b"lat:500"] == b"13"
    assert stored[b"ttft:100"] == b"13"
    assert float(stored[b"lat_sum"]) == pytest.approx(13 * 0.3)
    # Kept until the end of its minute plus an hour (55 s of the minute are left at START).
    assert 3655_000 - 2000 < await raw_redis.pttl(key) <= 3655_000

    await metrics.snapshot("openai", "m0", minutes=60)
    assert len(client.batches) == 2
    assert set(client.batches[1][1]) == {"HGETALL"}
    await metrics.close()


async def test_redis_killed_then_restarted(own_redis: RedisServer, key_prefix: str) -> None:
    clock = FakeClock(START)
    breaker = CacheBreaker(BreakerPolicy(failure_threshold=2, open_seconds=5), clock=clock)
    backend = RedisMetricsBackend.from_url(
        own_redis.url, timeout=RELAXED_TIMEOUT, connect_timeout=RELAXED_TIMEOUT, breaker=breaker, clock=clock
    )
    metrics = LiveMetrics(backend, clock=clock, prefix=key_prefix)
    metrics.record("openai", "m", error_kind=None, latency_s=0.1, ttft_s=None)
    assert await metrics.flush() is True

    own_redis.kill()
    for _ in range(4):  # record and flush never raise; the breaker opens and stops dialling
        metrics.record("openai", "m", error_kind="api_error", latency_s=0.1, ttft_s=None)
        assert await metrics.flush() is False
    assert state_of(breaker) == "open"
    assert metrics.pending_buckets == 1
    snapshot = await metrics.snapshot("openai", "m")
    assert (snapshot.complete, snapshot.requests) == (False, 4)  # only the deltas not yet written

    own_redis.start()
    clock.advance(6)  # the breaker lets a probe through
    assert await metrics.flush() is True
    assert state_of(breaker) == "closed"
    snapshot = await metrics.snapshot("openai", "m")
    # The restarted server kept nothing (no persistence in the test); the four held deltas all arrived.
    assert (snapshot.complete, snapshot.requests, snapshot.errors_by_kind) == (True, 4, {"api_error": 4})
    await metrics.close()


def test_configuration_is_checked_at_build_time() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisMetricsBackend.from_url("http://localhost:6379")
    assert isinstance(build_live_metrics(redis_url=None).backend, MemoryMetricsBackend)


async def test_build_live_metrics_on_redis(redis_url: str) -> None:
    metrics = build_live_metrics(redis_url=redis_url)
    assert isinstance(metrics.backend, RedisMetricsBackend)
    await metrics.close()


async def test_gauges_are_set_not_added_on_redis(redis_url: str, key_prefix: str, raw_redis: aioredis.Redis) -> None:
    clock = FakeClock(START)
    chat = LiveMetrics(RedisMetricsBackend.from_url(redis_url, clock=clock), clock=clock, prefix=key_prefix)
    health = LiveMetrics(RedisMetricsBackend.from_url(redis_url, clock=clock), clock=clock, prefix=key_prefix)
    backlog = {"n": 40}
    chat.gauge("events_backlog", lambda: backlog["n"])
    await chat.flush()
    backlog["n"] = 2
    await chat.flush()
    found = await health.gauge_total("events_backlog")
    assert (found.total, found.instances, found.complete) == (2, 1, True)
    key = f"{key_prefix}g:events_backlog:{int(START // 60) * 60}"
    assert await raw_redis.hgetall(key) == {chat.gauges.instance.encode(): b"2"}
    # Kept two minutes past its minute (55 s of the minute are left at START).
    assert 175_000 - 2000 < await raw_redis.pttl(key) <= 175_000
    await chat.close()
    await health.close()
