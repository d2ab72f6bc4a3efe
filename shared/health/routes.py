"""Route facts for health: route breakers per provider, and the live metrics of the routes that had traffic.

The live metrics cannot list the pairs they hold, so the catalog's chat models are the pairs asked about
(about 65 short reads, one after the other: the Redis metrics backend keeps only two connections, and
the router's flusher needs one of them). Pairs with no requests in the window are left out of the
report unless their breaker is not closed.

`last_error_kind` is the most frequent error kind of the most recent minute that had errors: the
buckets count kinds per minute, not in order, so that is as close to "last" as they tell.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence

from shared.breakers.board import BreakerView
from shared.breakers.scopes import route_scope
from shared.breakers.state import Phase
from shared.catalog import Catalog
from shared.health.facts import ProviderBreakers, RouteFact
from shared.metrics.buckets import MetricsSnapshot
from shared.metrics.live import LiveMetrics

__all__ = ["catalog_routes", "provider_breakers", "read_routes", "route_phases"]

Pair = tuple[str, str]


def catalog_routes(catalog: Catalog) -> tuple[Pair, ...]:
    """Every (provider, model) a chat request may be routed to."""
    return tuple((m.provider, m.id) for m in catalog if m.chat_completions)


def route_phases(views: Iterable[BreakerView]) -> dict[str, Phase]:
    return {view.scope: view.state for view in views}


def provider_breakers(pairs: Sequence[Pair], phases: Mapping[str, Phase]) -> dict[str, ProviderBreakers]:
    """Per provider: its catalog routes, and how many of them are open or half-open."""
    counts: dict[str, list[int]] = {}
    for provider, model in pairs:
        routes_open_half = counts.setdefault(provider, [0, 0, 0])
        routes_open_half[0] += 1
        state = phases.get(route_scope(provider, model), "closed")
        if state == "open":
            routes_open_half[1] += 1
        elif state == "half_open":
            routes_open_half[2] += 1
    return {p: ProviderBreakers(routes=c[0], open=c[1], half_open=c[2]) for p, c in counts.items()}


async def read_routes(
    metrics: LiveMetrics, pairs: Sequence[Pair], phases: Mapping[str, Phase], *, minutes: int, budget: float
) -> tuple[list[MetricsSnapshot], list[RouteFact]]:
    """Snapshots of every pair (as many as `budget` seconds allow) and the route facts worth reporting."""
    snapshots: list[MetricsSnapshot] = []
    routes: list[RouteFact] = []
    try:
        async with asyncio.timeout(budget):
            for provider, model in pairs:
                snapshot = await metrics.snapshot(provider, model, minutes=minutes)
                snapshots.append(snapshot)
                phase = phases.get(route_scope(provider, model), "closed")
                if snapshot.requests or phase != "closed":
                    kind = await _last_error_kind(metrics, snapshot) if snapshot.errors else None
                    routes.append(_route_fact(snapshot, phase, kind))
    except TimeoutError:
        pass  # report what was read in time; health must answer promptly
    return snapshots, routes


async def _last_error_kind(metrics: LiveMetrics, window: MetricsSnapshot) -> str | None:
    # snapshot(k) sums the k newest minutes: the first k with errors isolates the newest minute that had any.
    for minutes in range(1, window.minutes):
        recent = await metrics.snapshot(window.provider, window.model, minutes=minutes)
        if recent.errors:
            return _most_frequent(recent.errors_by_kind)
    return _most_frequent(window.errors_by_kind)


def _most_frequent(kinds: Mapping[str, int]) -> str | None:
    return min(kinds, key=lambda kind: (-kinds[kind], kind)) if kinds else None


def _route_fact(snapshot: MetricsSnapshot, phase: Phase, last_error_kind: str | None) -> RouteFact:
    return RouteFact(
        provider=snapshot.provider,
        model=snapshot.model,
        breaker=phase,
        requests=snapshot.requests,
        errors=snapshot.errors,
        latency_p50_ms=_ms(snapshot.latency_p50),
        latency_p95_ms=_ms(snapshot.latency_p95),
        last_error_kind=last_error_kind,
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
