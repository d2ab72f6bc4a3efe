"""`LatencyView`: the router's local, synchronous view of measured TTFT per (provider, model).

Live metrics live in the cache port (Redis in the cloud): one read is a network round trip, too slow to do
per candidate on the request path and unavailable to the synchronous planner. So the view keeps the last
value per pair and `refresh` reloads the stale ones (older than `ttl_seconds`) in ONE background task,
waiting at most `max_wait` (5 ms by default, the same budget as the breaker mirror in architecture.md). A
slow read finishes in the background and serves the next request; a failed read keeps the old value. No
background loop is relied on: Cloud Functions throttle CPU between requests.

The cache is bounded (`max_entries`): pass-through model names come from callers and are not a closed set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from shared.clock import Clock, SystemClock

__all__ = ["LatencyView", "TtftSource"]

_log = logging.getLogger(__name__)
_Pair = tuple[str, str]


class TtftSource(Protocol):
    """What the view reads (`shared.metrics.live.LiveMetrics` is one)."""

    async def ttft_ewma(self, provider: str, model: str) -> float | None: ...


@dataclass(frozen=True, slots=True)
class _Entry:
    value: float | None
    checked_at: float  # monotonic time of the last load attempt, successful or not


class LatencyView:
    def __init__(
        self,
        metrics: TtftSource | None,
        *,
        clock: Clock | None = None,
        ttl_seconds: float = 10.0,
        max_entries: int = 1024,
    ) -> None:
        if not ttl_seconds > 0:
            raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._cache: dict[_Pair, _Entry] = {}
        self._inflight: dict[_Pair, asyncio.Task[None]] = {}

    def get(self, provider: str, model: str) -> float | None:
        """The last measured TTFT in seconds, or None (never measured, or not loaded yet)."""
        entry = self._cache.get((provider, model))
        return None if entry is None else entry.value

    def start_refresh(self, pairs: Iterable[tuple[str, str]]) -> set[asyncio.Task[None]]:
        """Begin reloading the stale pairs in one task; returns that task and the loads of these pairs already
        in flight (started by a concurrent request), for the caller to wait on. Never raises."""
        waiting: set[asyncio.Task[None]] = set()
        if self._metrics is None:
            return waiting
        now = self._clock.monotonic()
        stale: list[_Pair] = []
        for pair in dict.fromkeys(pairs):
            running = self._inflight.get(pair)
            entry = self._cache.get(pair)
            if running is not None:
                waiting.add(running)
            elif entry is None or now - entry.checked_at >= self._ttl:
                stale.append(pair)
        if stale:
            task = asyncio.get_running_loop().create_task(self._load(self._metrics, stale), name="latency-view-refresh")
            self._inflight.update(dict.fromkeys(stale, task))
            waiting.add(task)
        return waiting

    async def refresh(self, pairs: Iterable[tuple[str, str]], *, max_wait: float = 0.005) -> None:
        """`start_refresh`, then wait at most `max_wait` seconds for what it returned."""
        waiting = self.start_refresh(pairs)
        if waiting:
            # asyncio.wait never cancels on timeout: a slow read still lands, for the next request.
            await asyncio.wait(waiting, timeout=max_wait)

    async def _load(self, metrics: TtftSource, pairs: list[_Pair]) -> None:
        try:
            results = await asyncio.gather(*(metrics.ttft_ewma(p, m) for p, m in pairs), return_exceptions=True)
            now = self._clock.monotonic()
            for pair, result in zip(pairs, results, strict=True):
                old = self._cache.pop(pair, None)
                if isinstance(result, BaseException):
                    if isinstance(result, asyncio.CancelledError):
                        raise result
                    _log.warning("latency view: reading TTFT of %s/%s failed: %r", *pair, result)
                    value = None if old is None else old.value
                else:
                    value = result
                self._cache[pair] = _Entry(value, now)  # re-inserted last: the dict's order is recency
            while len(self._cache) > self._max_entries:
                del self._cache[next(iter(self._cache))]
        finally:
            for pair in pairs:
                self._inflight.pop(pair, None)

    async def aclose(self) -> None:
        """Cancel the loads still running (shutdown, tests)."""
        tasks = set(self._inflight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
