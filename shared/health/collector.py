"""`HealthCollector`: gathers the health facts concurrently, each part bounded by a short timeout.

Store, cache and KMS pings, the breaker mirror's reload and the live-metrics reads run side by side;
none of them can make health fail or hang: a dependency that raises or is slow becomes `ok=False`, a
mirror that does not load in time leaves the last one, metrics not read in time are left out.

A collection is reused for `max_age` seconds and concurrent callers share one, so the public, keyless
status cannot be turned into a flood of store and KMS calls.

The limits component (shared.health.limits) comes from the cache's Redis ping: the limits ledger is on the
same `REDIS_URL`, so no second connection is opened for it.

Never calls a provider: everything comes from the breakers and the live metrics the chat instances keep.
"""

from __future__ import annotations

import asyncio

from shared.breakers.board import BreakerBoard
from shared.cache.port import CachePort
from shared.catalog import Catalog
from shared.clock import Clock
from shared.crypto.port import SecretBox
from shared.health.facts import EventsFact, HealthFacts
from shared.health.limits import limits_fact
from shared.health.probes import has_redis, ping_cache, ping_kms, ping_store
from shared.health.routes import catalog_routes, provider_breakers, read_routes, route_phases
from shared.metrics.buckets import MINUTE, minute_of
from shared.metrics.gauges import EVENTS_BACKLOG
from shared.metrics.live import LiveMetrics
from shared.store.port import DocumentStore

__all__ = ["HealthCollector"]


class HealthCollector:
    def __init__(
        self,
        *,
        store: DocumentStore,
        cache: CachePort,
        metrics: LiveMetrics,
        breakers: BreakerBoard,
        catalog: Catalog,
        clock: Clock,
        kms: SecretBox | None = None,
        ping_timeout: float = 0.5,
        metrics_timeout: float = 1.0,
        window_minutes: int = 5,
        max_age: float = 1.0,
        limits_instances: int | None = None,
    ) -> None:
        """`kms` is the Cloud KMS box to ping; `None` for a local keyset (nothing to reach).
        `limits_instances`: the expected chat instance count N the limits ledger divides each limit by while
        Redis is away, reported with the limits component when given (None: not told, shown as "1/N")."""
        if limits_instances is not None and limits_instances < 1:
            raise ValueError(f"limits_instances must be at least 1, got {limits_instances}")
        self._store = store
        self._cache = cache
        self._metrics = metrics
        self._breakers = breakers
        self._pairs = catalog_routes(catalog)
        self._clock = clock
        self._kms = kms
        self._ping_timeout = ping_timeout
        self._metrics_timeout = metrics_timeout
        self._minutes = window_minutes
        self._max_age = max_age
        self._limits_instances = limits_instances
        self._last: tuple[float, HealthFacts] | None = None  # (monotonic time collected, facts)
        self._lock = asyncio.Lock()

    async def collect(self) -> HealthFacts:
        async with self._lock:
            now = self._clock.monotonic()
            if self._last is not None and now - self._last[0] < self._max_age:
                return self._last[1]
            facts = await self._gather()
            self._last = (now, facts)
            return facts

    async def _gather(self) -> HealthFacts:
        store, cache, kms, events, _ = await asyncio.gather(
            ping_store(self._store, self._clock, self._ping_timeout),
            ping_cache(self._cache, self._clock, self._ping_timeout),
            ping_kms(self._kms, self._clock, self._ping_timeout),
            self._events(),
            self._refresh_breakers(),
        )
        phases = route_phases(self._breakers.views())
        snapshots, routes = await read_routes(
            self._metrics, self._pairs, phases, minutes=self._minutes, budget=self._metrics_timeout
        )
        wall = self._clock.time()
        return HealthFacts(
            store=store,
            cache=cache,
            kms=kms,
            events=events,
            providers=provider_breakers(self._pairs, phases),
            routes=tuple(routes),
            requests=sum(s.requests for s in snapshots),
            errors=sum(s.errors for s in snapshots),
            cache_hits=sum(s.cache_hits for s in snapshots),
            # The newest minute is still running: the window covers the full older minutes and part of it.
            window_seconds=(self._minutes - 1) * MINUTE + max(1.0, wall - minute_of(wall)),
            limits=limits_fact(redis=has_redis(self._cache), ping=cache, instances=self._limits_instances),
        )

    async def _events(self) -> EventsFact:
        """The backlog every chat instance reports to the live metrics (shared.metrics.gauges)."""
        try:
            async with asyncio.timeout(self._metrics_timeout):
                found = await self._metrics.gauge_total(EVENTS_BACKLOG)
        except TimeoutError:
            return EventsFact(backlog=None, detail="live metrics timeout")
        if not found.complete:
            return EventsFact(backlog=None, detail="live metrics unreachable")
        if not found.instances:
            return EventsFact(backlog=0, instances=0, detail="no instance reported in the last 2 minutes")
        return EventsFact(backlog=found.total, instances=found.instances)

    async def _refresh_breakers(self) -> None:
        # Not `refresh()`: its 5 ms wait suits the request path; health can wait for the shared state.
        load = self._breakers.start_refresh()
        if load is not None:
            await asyncio.wait({load}, timeout=self._ping_timeout)
