from __future__ import annotations

import asyncio

from shared.routing.latency import LatencyView
from tests.routing import FakeClock


class FakeMetrics:
    """Scripted TTFT values; counts reads; optionally fails or blocks until released."""

    def __init__(self, values: dict[tuple[str, str], float | None]) -> None:
        self.values = values
        self.reads: list[tuple[str, str]] = []
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def ttft_ewma(self, provider: str, model: str) -> float | None:
        self.reads.append((provider, model))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("metrics backend down")
        return self.values.get((provider, model))


PAIRS = [("openai", "gpt-4o"), ("gemini", "gemini-2.5-pro")]


async def test_refresh_loads_values_and_get_serves_them() -> None:
    metrics = FakeMetrics({PAIRS[0]: 0.4, PAIRS[1]: 2.5})
    view = LatencyView(metrics, clock=FakeClock())
    assert view.get(*PAIRS[0]) is None
    await view.refresh(PAIRS, max_wait=1.0)
    assert view.get(*PAIRS[0]) == 0.4
    assert view.get(*PAIRS[1]) == 2.5
    assert view.get("anthropic", "unknown") is None


async def test_fresh_values_are_not_reloaded_until_the_ttl() -> None:
    clock = FakeClock()
    metrics = FakeMetrics({PAIRS[0]: 0.4})
    view = LatencyView(metrics, clock=clock, ttl_seconds=10)
    await view.refresh(PAIRS[:1], max_wait=1.0)
    clock.advance(9.9)
    await view.refresh(PAIRS[:1], max_wait=1.0)
    assert metrics.reads == [PAIRS[0]]
    metrics.values[PAIRS[0]] = 0.9
    clock.advance(0.1)
    await view.refresh(PAIRS[:1], max_wait=1.0)
    assert metrics.reads == [PAIRS[0], PAIRS[0]]
    assert view.get(*PAIRS[0]) == 0.9


async def test_errors_keep_the_old_value_and_never_raise() -> None:
    clock = FakeClock()
    metrics = FakeMetrics({PAIRS[0]: 0.4})
    view = LatencyView(metrics, clock=clock)
    await view.refresh(PAIRS[:1], max_wait=1.0)
    metrics.fail = True
    clock.advance(60)
    await view.refresh(PAIRS, max_wait=1.0)
    assert view.get(*PAIRS[0]) == 0.4
    assert view.get(*PAIRS[1]) is None
    # The failed attempt counts as a check: not retried before the TTL.
    await view.refresh(PAIRS, max_wait=1.0)
    assert len(metrics.reads) == 3


async def test_a_slow_read_does_not_hold_the_caller_and_lands_later() -> None:
    metrics = FakeMetrics({PAIRS[0]: 0.7})
    metrics.gate = asyncio.Event()
    view = LatencyView(metrics, clock=FakeClock())
    await view.refresh(PAIRS[:1], max_wait=0.0)
    assert view.get(*PAIRS[0]) is None
    # A second refresh while the first is in flight starts no new read.
    await view.refresh(PAIRS[:1], max_wait=0.0)
    assert metrics.reads == [PAIRS[0]]
    metrics.gate.set()
    # A refresh of a pair being loaded waits for that load (up to max_wait) instead of starting another.
    await view.refresh(PAIRS[:1], max_wait=5.0)
    assert view.get(*PAIRS[0]) == 0.7
    assert metrics.reads == [PAIRS[0]]


async def test_aclose_cancels_pending_reads() -> None:
    metrics = FakeMetrics({})
    metrics.gate = asyncio.Event()
    view = LatencyView(metrics, clock=FakeClock())
    await view.refresh(PAIRS, max_wait=0.0)
    await view.aclose()
    assert view.get(*PAIRS[0]) is None
    # Cancelled loads are not "in flight" any more: the next refresh reads again.
    metrics.gate.set()
    await view.refresh(PAIRS, max_wait=1.0)
    assert len(metrics.reads) == 4


async def test_without_metrics_refresh_is_a_no_op() -> None:
    view = LatencyView(None, clock=FakeClock())
    await view.refresh(PAIRS)
    assert view.get(*PAIRS[0]) is None


async def test_the_cache_is_bounded() -> None:
    pairs = [("gemini", f"gemini-x{i}") for i in range(5)]
    metrics = FakeMetrics(dict.fromkeys(pairs, 1.0))
    view = LatencyView(metrics, clock=FakeClock(), max_entries=3)
    await view.refresh(pairs, max_wait=1.0)
    assert [view.get(*p) for p in pairs] == [None, None, 1.0, 1.0, 1.0]
