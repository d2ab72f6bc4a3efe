"""LiveMetrics over both backends (the `env` fixture runs each test in-process and on a real Redis).

record + flush + snapshot, two instances adding up, one round trip per flush, expiry, an outage (deltas
kept, bounded, retried), partial reads, the EWMA, and the background flusher. Redis killed for real and
the wire commands are in `test_redis_backend.py`.
"""

from __future__ import annotations

import asyncio
import math

import pytest

from shared.metrics import LiveMetrics, MemoryMetricsBackend
from tests.cache import FakeClock
from tests.metrics.conftest import START, Env


def record_ok(metrics: LiveMetrics, latency: float, ttft: float | None = None, model: str = "gpt-4o") -> None:
    metrics.record("openai", model, error_kind=None, latency_s=latency, ttft_s=ttft)


async def test_record_flush_snapshot(env: Env) -> None:
    metrics, _ = env.make()
    for _ in range(8):
        record_ok(metrics, 0.08, ttft=0.03)
    record_ok(metrics, 0.4, ttft=0.2)
    record_ok(metrics, 20.0, ttft=0.04)  # past the last bound: counted in `inf`
    metrics.record("openai", "gpt-4o", error_kind="timeout", latency_s=30.0, ttft_s=None)
    metrics.record("openai", "gpt-4o", error_kind="rate_limit", latency_s=0.01, ttft_s=None)
    metrics.record("openai", "other", error_kind=None, latency_s=1.0, ttft_s=None)
    assert await metrics.flush() is True
    assert metrics.pending_buckets == 0

    snapshot = await metrics.snapshot("openai", "gpt-4o")
    assert snapshot.complete
    assert snapshot.requests == 12
    assert snapshot.errors_by_kind == {"rate_limit": 1, "timeout": 1}
    assert snapshot.error_rate == pytest.approx(2 / 12)
    # Ten successes: eight in (50, 100] ms, one in (250, 500], one past 10 s; errors take no latency sample.
    assert snapshot.latency_p50 == pytest.approx(0.05 + 0.05 * 5 / 8)
    assert snapshot.latency_p95 == pytest.approx(10.0)  # rank 9.5 falls in the open bucket: "at least 10 s"
    # TTFT: nine within 50 ms, one in (100, 250]: the median is 5/9 of the way through the first bucket.
    assert snapshot.ttft_p50 == pytest.approx(0.05 * 5 / 9)
    assert snapshot.ttft_p95 == pytest.approx(0.1 + 0.15 * 0.5)
    other = await metrics.snapshot("openai", "other")
    assert (other.requests, other.errors) == (1, 0)
    assert (await metrics.snapshot("anthropic", "gpt-4o")).requests == 0


async def test_cache_hits_are_counted_apart_from_provider_calls(env: Env) -> None:
    first, _ = env.make()
    second, _ = env.make()
    record_ok(first, 0.2)
    first.record_hit("openai", "gpt-4o")
    second.record_hit("openai", "gpt-4o")
    await first.flush()
    await second.flush()
    snapshot = await first.snapshot("openai", "gpt-4o")
    # Hits add up across instances and leave the provider's request count and error rate alone.
    assert (snapshot.cache_hits, snapshot.requests, snapshot.error_rate) == (2, 1, 0.0)


async def test_two_instances_add_up(env: Env) -> None:
    first, _ = env.make()
    second, _ = env.make()
    for _ in range(3):
        record_ok(first, 0.2)
    record_ok(second, 0.2)
    second.record("openai", "gpt-4o", error_kind="overloaded", latency_s=0.1, ttft_s=None)
    await first.flush()
    await second.flush()
    record_ok(first, 0.2)  # unflushed: the reader's own pending deltas count, the other's do not yet
    seen_by_first = await first.snapshot("openai", "gpt-4o")
    seen_by_second = await second.snapshot("openai", "gpt-4o")
    assert (seen_by_first.requests, seen_by_first.errors_by_kind) == (6, {"overloaded": 1})
    assert seen_by_second.requests == 5
    await first.flush()
    assert (await second.snapshot("openai", "gpt-4o")).requests == 6


async def test_flush_is_one_round_trip_however_many_buckets(env: Env) -> None:
    metrics, backend = env.make()
    for index in range(20):
        record_ok(metrics, 0.1, ttft=0.05, model=f"model-{index % 5}")
        metrics.record("anthropic", f"model-{index % 3}", error_kind="api_error", latency_s=1.0, ttft_s=None)
    env.clock.advance(60)  # a second minute: more buckets, still one write
    record_ok(metrics, 0.1)
    assert metrics.pending_buckets == 9
    await metrics.flush()
    assert backend.applies == 1
    await metrics.flush()  # nothing pending: no round trip at all
    assert backend.applies == 1
    await metrics.snapshot("openai", "model-0", minutes=60)
    assert backend.reads == 1  # an hour of buckets read in one round trip too


async def test_buckets_expire_after_the_retention(env: Env) -> None:
    metrics, _ = env.make(retention_seconds=0.3)
    env.clock.now = START - 5 + 59.6  # 0.4 s before the minute ends: the bucket lives 0.7 s from now
    record_ok(metrics, 0.1)
    await metrics.flush()
    assert (await metrics.snapshot("openai", "gpt-4o")).requests == 1
    await env.advance(0.5)  # into the next minute, within the retention: still read
    assert (await metrics.snapshot("openai", "gpt-4o", minutes=2)).requests == 1
    await env.advance(0.5)
    assert (await metrics.snapshot("openai", "gpt-4o", minutes=2)).requests == 0


async def test_an_hour_is_kept_by_default(env: Env) -> None:
    metrics, _ = env.make()
    record_ok(metrics, 0.1)
    await metrics.flush()
    env.clock.advance(59 * 60)
    assert (await metrics.snapshot("openai", "gpt-4o", minutes=60)).requests == 1
    assert (await metrics.snapshot("openai", "gpt-4o", minutes=5)).requests == 0


async def test_an_outage_keeps_the_deltas_and_a_later_flush_delivers_them(env: Env) -> None:
    metrics, backend = env.make()
    record_ok(metrics, 0.1)
    backend.down = True
    record_ok(metrics, 0.1)
    assert await metrics.flush() is False  # never raises
    record_ok(metrics, 0.1)  # merged with the deltas that failed
    assert await metrics.flush() is False
    assert metrics.pending_buckets == 1
    partial = await metrics.snapshot("openai", "gpt-4o")
    assert (partial.complete, partial.requests) == (False, 3)  # what this instance knows, flagged
    backend.down = False
    assert await metrics.flush() is True
    other, _ = env.make()
    assert (await other.snapshot("openai", "gpt-4o")).requests == 3


async def test_pending_deltas_are_bounded_and_stale_ones_dropped(env: Env) -> None:
    metrics, backend = env.make(max_pending_buckets=3)
    backend.down = True
    for index in range(5):
        record_ok(metrics, 0.1, model=f"m{index}")
        env.clock.advance(60)  # each in its own minute: the oldest are dropped first
    assert metrics.pending_buckets == 3
    assert metrics.dropped_buckets == 2
    env.clock.advance(3600)  # past the retention of every pending minute: not worth writing
    backend.down = False
    assert await metrics.flush() is True
    assert metrics.dropped_buckets == 5
    assert backend.applies == 0  # nothing left worth a round trip


async def test_ewma_weights_recent_minutes_and_sample_counts(env: Env) -> None:
    metrics, _ = env.make()
    assert await metrics.ttft_ewma("openai", "gpt-4o") is None
    record_ok(metrics, 2.0, ttft=1.0)
    env.clock.advance(60)
    record_ok(metrics, 0.4, ttft=0.2)
    record_ok(metrics, 0.4, ttft=0.2)
    await metrics.flush()
    # Current minute: mean 0.2 from 2 samples (weight 2); one minute old: 1.0 from 1 (weight 1 * 0.5).
    assert await metrics.ttft_ewma("openai", "gpt-4o", half_life_minutes=1) == pytest.approx((0.4 + 0.5) / 2.5)
    assert await metrics.latency_ewma("openai", "gpt-4o", half_life_minutes=1) == pytest.approx((0.8 + 1.0) / 2.5)


async def test_background_flush_and_close(env: Env) -> None:
    metrics, backend = env.make(flush_interval=0.02)
    reader, _ = env.make()
    record_ok(metrics, 0.1)  # starts the flusher lazily; no explicit flush below
    for _ in range(200):
        if (await reader.snapshot("openai", "gpt-4o")).requests == 1:
            break
        await asyncio.sleep(0.01)
    assert (await reader.snapshot("openai", "gpt-4o")).requests == 1
    assert backend.applies >= 1
    record_ok(metrics, 0.1)
    await metrics.close()  # flushes what is left
    assert (await reader.snapshot("openai", "gpt-4o")).requests == 2
    await metrics.close()  # twice is fine


def test_record_outside_a_loop_and_odd_values_never_raise() -> None:
    metrics = LiveMetrics(MemoryMetricsBackend(FakeClock(START)), clock=FakeClock(START))
    metrics.record("openai", "m", error_kind=None, latency_s=math.nan, ttft_s=-1.0)
    metrics.record("openai", "m", error_kind=None, latency_s=math.inf, ttft_s=math.inf)
    assert metrics.pending_buckets == 1
    asyncio.run(metrics.close())


@pytest.mark.parametrize(
    "options",
    [{"retention_seconds": 0}, {"flush_interval": 0}, {"max_pending_buckets": 0}],
)
def test_bad_settings_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(options))):
        LiveMetrics(MemoryMetricsBackend(), **options)  # type: ignore[arg-type]
