"""Building what the health API needs, once per instance: settings in, a ready `HealthCollector` out.

`build_health_deps` reads the same shared state the chat instances write: breaker records in the
document store, live metrics in Redis (in-process without `REDIS_URL`, where only the dev server, which
passes its chat deps' own metrics, sees anything). Pass any part to share it (the dev server shares its
store, cache, metrics, breakers and key ring); the rest is built here. The KMS box is built only for
`KMS_BACKEND=gcp`, the one case with something to reach. With `REDIS_URL`, the limits component reports
`LIMITS_INSTANCES`, the N the chat ledger divides each limit by while Redis is away. `health_api` is this
module's per-process holder (style.md point 11), built once and never mutated after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from shared.api.health import HealthApi
from shared.api.keys_deps import gateway_key_ring
from shared.auth import KeyLookup
from shared.breakers import BreakerBoard, BreakerPolicy
from shared.cache import CachePort, build_cache
from shared.catalog import Catalog, default_catalog
from shared.clock import Clock, SystemClock
from shared.crypto.port import SecretBox
from shared.health import HealthCollector
from shared.metrics import LiveMetrics, build_live_metrics
from shared.settings import Settings
from shared.store import DocumentStore, build_store

__all__ = ["HealthDeps", "LazyHealthDeps", "build_health_deps", "health_api"]


@dataclass(slots=True)
class HealthDeps:
    settings: Settings
    keys: KeyLookup
    collector: HealthCollector
    store: DocumentStore
    cache: CachePort
    metrics: LiveMetrics
    breakers: BreakerBoard

    async def aclose(self) -> None:
        """Close what these deps hold (not for deps sharing another app's parts: that app closes them)."""
        await self.metrics.close()
        await self.cache.close()
        await self.breakers.drain()  # a mirror load in flight finishes before its store closes
        await self.store.close()


def build_health_deps(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: DocumentStore | None = None,
    cache: CachePort | None = None,
    metrics: LiveMetrics | None = None,
    breakers: BreakerBoard | None = None,
    keys: KeyLookup | None = None,
    catalog: Catalog | None = None,
    box: SecretBox | None = None,
) -> HealthDeps:
    clock = clock or SystemClock()
    store = store if store is not None else build_store(settings)
    if cache is None:
        cache = build_cache(redis_url=settings.redis_url, redis_ca_cert=settings.redis_ca_cert, max_entries=16)
    if metrics is None:
        metrics = build_live_metrics(redis_url=settings.redis_url, redis_ca_cert=settings.redis_ca_cert, clock=clock)
    if breakers is None:
        breakers = BreakerBoard(store, BreakerPolicy.from_settings(settings), clock)
    if box is None and settings.kms_backend == "gcp":
        from shared.crypto.factory import build_secret_box  # the KMS client loads only when it is used

        box = build_secret_box(settings)
    collector = HealthCollector(
        store=store,
        cache=cache,
        metrics=metrics,
        breakers=breakers,
        catalog=catalog if catalog is not None else default_catalog(),
        clock=clock,
        kms=box if settings.kms_backend == "gcp" else None,
        # The chat ledger's N matters only on Redis (set beside REDIS_URL); embedded, each instance is exact.
        limits_instances=settings.limits_instances if settings.redis_url else None,
    )
    keys = keys if keys is not None else gateway_key_ring(settings, store, clock)
    return HealthDeps(settings, keys, collector, store, cache, metrics, breakers)


class LazyHealthDeps:
    """Builds `HealthDeps` from an environment on first use; concurrent first requests share one build."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._deps: HealthDeps | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> HealthDeps:
        if self._deps is None:
            async with self._lock:
                if self._deps is None:
                    self._deps = build_health_deps(Settings.from_env(self._environ))
        return self._deps


_api: HealthApi | None = None


def health_api(environ: Mapping[str, str]) -> HealthApi:
    global _api
    if _api is None:
        _api = HealthApi(LazyHealthDeps(environ).get)
    return _api
