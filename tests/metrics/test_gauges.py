"""Per-instance gauges in the live metrics (the event backlog): each instance's latest value, summed over
the instances that reported in the last two minutes; written only on change or once a minute, on the
same flush as the buckets; a backend outage keeps the value to be written again."""

from __future__ import annotations

from collections.abc import Sequence

from shared.metrics import BucketWrite, LiveMetrics, MemoryMetricsBackend, MetricsBackendError
from tests.fakes import FakeClock

START = 60 * 29_000_000 + 5.0  # 5 s into a minute


class CountingBackend(MemoryMetricsBackend):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.applies: list[list[BucketWrite]] = []
        self.down = False

    async def apply(self, writes: Sequence[BucketWrite]) -> None:
        if self.down:
            raise MetricsBackendError("down (test)")
        self.applies.append(list(writes))
        await super().apply(writes)

    async def read(self, keys: Sequence[str]) -> list[dict[str, float]]:
        if self.down:
            raise MetricsBackendError("down (test)")
        return await super().read(keys)


def instances(backend: MemoryMetricsBackend, clock: FakeClock, count: int) -> list[LiveMetrics]:
    return [LiveMetrics(backend, clock=clock) for _ in range(count)]


async def test_the_total_sums_every_instance_and_reads_its_own_value_live() -> None:
    clock = FakeClock(now=START)
    backend = MemoryMetricsBackend(clock)
    a, b, health = instances(backend, clock, 3)
    backlog = {"a": 7, "b": 5}
    a.gauge("events_backlog", lambda: backlog["a"])
    b.gauge("events_backlog", lambda: backlog["b"])
    await a.flush()
    await b.flush()
    found = await health.gauge_total("events_backlog")
    assert (found.total, found.instances, found.complete) == (12, 2, True)
    backlog["a"] = 100  # not flushed yet: others still see 7, the instance itself sees 100
    assert (await health.gauge_total("events_backlog")).total == 12
    assert (await a.gauge_total("events_backlog")).total == 105


async def test_an_instance_gone_for_two_minutes_drops_out() -> None:
    clock = FakeClock(now=START)
    backend = MemoryMetricsBackend(clock)
    alive, gone, health = instances(backend, clock, 3)
    alive.gauge("events_backlog", lambda: 1)
    gone.gauge("events_backlog", lambda: 50)
    await alive.flush()
    await gone.flush()
    clock.advance(60)  # the next minute: the previous one still counts
    await alive.flush()
    assert (await health.gauge_total("events_backlog")).total == 51
    clock.advance(60)
    await alive.flush()
    found = await health.gauge_total("events_backlog")
    assert (found.total, found.instances) == (1, 1)


async def test_written_on_change_or_once_a_minute_on_the_buckets_flush() -> None:
    clock = FakeClock(now=START)
    backend = CountingBackend(clock)
    metrics = LiveMetrics(backend, clock=clock)
    value = {"n": 3}
    metrics.gauge("events_backlog", lambda: value["n"])
    metrics.record("openai", "gpt-4o", error_kind=None, latency_s=0.2, ttft_s=None)
    await metrics.flush()
    assert len(backend.applies) == 1
    assert len(backend.applies[0]) == 2  # the bucket and the gauge, in one round trip
    await metrics.flush()
    await metrics.flush()
    assert len(backend.applies) == 1  # nothing changed: no write
    value["n"] = 4
    await metrics.flush()
    clock.advance(60)
    await metrics.flush()  # a new minute: written again to stay alive
    assert len(backend.applies) == 3
    await metrics.close()


async def test_an_outage_keeps_the_value_to_write_later_and_reads_say_incomplete() -> None:
    clock = FakeClock(now=START)
    backend = CountingBackend(clock)
    chat, health = instances(backend, clock, 2)
    chat.gauge("events_backlog", lambda: 9)
    backend.down = True
    assert await chat.flush() is False
    found = await chat.gauge_total("events_backlog")
    assert (found.total, found.complete) == (9, False)  # its own value, flagged
    backend.down = False
    await chat.flush()
    assert (await health.gauge_total("events_backlog")).total == 9


async def test_a_failing_gauge_source_never_breaks_the_flush() -> None:
    clock = FakeClock(now=START)
    backend = CountingBackend(clock)
    metrics = LiveMetrics(backend, clock=clock)

    def broken() -> int:
        raise RuntimeError("bug")

    metrics.gauge("events_backlog", broken)
    metrics.record("openai", "gpt-4o", error_kind=None, latency_s=0.2, ttft_s=None)
    assert await metrics.flush() is True
    assert len(backend.applies[0]) == 1
