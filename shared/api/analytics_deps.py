"""Building what the analytics API needs, once per instance: settings in, key ring and analytics out.

The report side is light (the gateway key ring, the analytics port of ANALYTICS_BACKEND: DuckDB over
the local event segments and rollup file, or BigQuery, shared.analytics.factory, and the usage limits'
`LimitsStore` on the same document store, for the report's `limits` section) and built on the first
request.

The cost analysis (`POST /api/ai/analytics/costs`) is the chat service core's
`analyze_costs` (one code path: the same catalog, router and model resolution as chat); that core is
built only when the first cost analysis arrives, and calls no provider. `analytics_api` is this module's
per-process holder (style.md point 11), built once and never mutated after.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shared.analytics.factory import analytics_port
from shared.analytics.port import AnalyticsPort
from shared.analytics.service import AnalyticsService
from shared.api.analytics import AnalyticsApi
from shared.api.deps import ChatDeps, build_chat_deps
from shared.api.keys_deps import gateway_key_ring
from shared.auth import KeyLookup
from shared.clock import Clock, SystemClock
from shared.limits.store import LimitsStore
from shared.service import AIService
from shared.settings import Settings
from shared.store import DocumentStore, build_store

__all__ = ["COSTS_BODY_LIMIT", "AnalyticsDeps", "LazyAnalyticsDeps", "analytics_api", "build_analytics_deps"]

COSTS_BODY_LIMIT = 1024 * 1024  # a cost analysis reads the prompt to estimate its tokens


@dataclass(slots=True)
class AnalyticsDeps:
    settings: Settings
    keys: KeyLookup
    store: DocumentStore
    analytics: AnalyticsService
    chat: Callable[[], ChatDeps]  # builds the chat core; called once, under `_lock`
    body_limit: int = COSTS_BODY_LIMIT
    _chat: ChatDeps | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    async def chat_service(self) -> AIService:
        """The chat service core, built on first use; concurrent first calls share one build."""
        if self._chat is None:
            async with self._lock:
                if self._chat is None:
                    self._chat = self.chat()
        return self._chat.service

    async def aclose(self) -> None:
        if self._chat is not None:
            await self._chat.aclose()
        await self.store.close()


def build_analytics_deps(
    settings: Settings,
    *,
    clock: Clock | None = None,
    port: AnalyticsPort | None = None,
    store: DocumentStore | None = None,
) -> AnalyticsDeps:
    clock = clock or SystemClock()
    store = store if store is not None else build_store(settings)
    port = port if port is not None else analytics_port(settings)
    return AnalyticsDeps(
        settings=settings,
        keys=gateway_key_ring(settings, store, clock),
        store=store,
        analytics=AnalyticsService(port, clock, LimitsStore(store, clock)),
        chat=lambda: build_chat_deps(settings, clock=clock),
    )


class LazyAnalyticsDeps:
    """Builds `AnalyticsDeps` from an environment on first use; concurrent first requests share one build."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._deps: AnalyticsDeps | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AnalyticsDeps:
        if self._deps is None:
            async with self._lock:
                if self._deps is None:
                    self._deps = build_analytics_deps(Settings.from_env(self._environ))
        return self._deps


_api: AnalyticsApi | None = None


def analytics_api(environ: Mapping[str, str]) -> AnalyticsApi:
    global _api
    if _api is None:
        _api = AnalyticsApi(LazyAnalyticsDeps(environ).get)
    return _api
