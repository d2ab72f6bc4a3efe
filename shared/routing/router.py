"""The router: which (provider, model) routes to try for one request, in which order (architecture, Routing).

Pure logic: the catalog, the router settings, the request's options, a latency view and an `unavailable`
callback (credentials, breakers) go in; a `RoutePlan` comes out. The caller runs the fallback loop.

1. Candidates: the requested model (always, even retired or lacking a feature: the provider decides) and its
   catalog equivalents on `today` (same class, tier at least as high, not retired) that have every feature,
   parameter and the room the request needs. A model without a catalog row or without a class has only itself.
2. Minus the routes `unavailable(provider, model)` names a reason for (no usable credential, open breaker).
3. Score: price = the estimated cost (prompt estimate + one shared output reserve, see
   `RequestNeeds.output_reserve`), latency = the view's TTFT EWMA, else the catalog's `ttft_ms`.
4. Order: cost optimization on, all by score; off, the requested model first and the rest by score. Ties go
   by the position of the provider in `fallback_order`, then by model id. A preferred provider's best route
   moves to the front. Fallback off keeps only the first route; then at most `max_candidates`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from shared.catalog import Catalog, CatalogModel
from shared.chat_types import ChatOptions
from shared.cost import Cost, estimate_cost
from shared.model_names import ResolvedModel
from shared.routing.config import RoutePolicy, RouterConfig
from shared.routing.latency import LatencyView
from shared.routing.needs import RequestNeeds, unmet
from shared.routing.scoring import score
from shared.unified import ChatRequest

_MEMO_SIZE = 256

__all__ = [
    "UNKNOWN_TTFT_S",
    "Candidate",
    "Exclusion",
    "Route",
    "RoutePlan",
    "RouteReason",
    "Router",
    "estimate_for",
]

RouteReason = Literal["requested", "cheapest", "preferred", "fallback"]
# TTFT shown for a model with neither a catalog row nor a measurement. It never affects an order: such a
# model has no substitutes, so it is always scored alone.
UNKNOWN_TTFT_S = 1.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A route that can serve the request feature-wise (availability not yet checked)."""

    provider: str
    model: str
    entry: CatalogModel | None


@dataclass(frozen=True, slots=True)
class Route:
    provider: str
    model: str
    entry: CatalogModel | None
    reason: RouteReason
    price_usd: float | None  # the estimated request price, for ordering only (None: unpriced)
    latency_s: float
    score: float


@dataclass(frozen=True, slots=True)
class Exclusion:
    provider: str
    model: str
    reason: str


@dataclass(frozen=True, slots=True)
class RoutePlan:
    routes: tuple[Route, ...]
    excluded: tuple[Exclusion, ...]
    policy: RoutePolicy
    needs: RequestNeeds


def estimate_for(entry: CatalogModel | None, needs: RequestNeeds) -> Cost:
    """The estimated cost of serving a request with `needs` on `entry` (unpriced when `entry` is None)."""
    return estimate_cost(needs.prompt_tokens, needs.output_reserve, entry)


def _requested_id(resolved: ResolvedModel) -> str:
    return resolved.entry.id if resolved.entry is not None else resolved.model


class Router:
    def __init__(
        self,
        catalog: Catalog,
        config: RouterConfig,
        *,
        latency: LatencyView | None = None,
        today: Callable[[], date],
    ) -> None:
        self.catalog = catalog
        self.config = config
        self._latency = latency
        self._today = today
        # Hot path: the equivalents of a model change only with the day (retirements), and one request asks
        # for its candidates twice (latency refresh, then the plan). Both are remembered, boundedly.
        self._equivalents: dict[tuple[str, date], tuple[CatalogModel, ...]] = {}
        # Per model: (input, output, (threshold, long input, long output) | None), USD per 1M tokens.
        self._rates: dict[str, tuple[float, float, tuple[int, float, float] | None]] = {}
        self._gathered: dict[tuple[str, str, RequestNeeds], tuple[tuple[Candidate, ...], tuple[Exclusion, ...]]] = {}

    def _equivalents_of(self, entry: CatalogModel) -> tuple[CatalogModel, ...]:
        today = self._today()
        key = (entry.id, today)
        found = self._equivalents.get(key)
        if found is None:
            if len(self._equivalents) >= _MEMO_SIZE:
                self._equivalents.clear()
            found = self._equivalents[key] = self.catalog.equivalents(entry, today=today)
        return found

    def _gather(self, resolved: ResolvedModel, needs: RequestNeeds) -> tuple[list[Candidate], list[Exclusion]]:
        key = (resolved.provider, resolved.model, needs)
        memo = self._gathered.get(key)
        if memo is None:
            memo = self._gathered[key] = self._gather_now(resolved, needs)
            if len(self._gathered) > _MEMO_SIZE:
                del self._gathered[next(iter(self._gathered))]  # the oldest: a request asks twice in a row
        return list(memo[0]), list(memo[1])

    def _gather_now(
        self, resolved: ResolvedModel, needs: RequestNeeds
    ) -> tuple[tuple[Candidate, ...], tuple[Exclusion, ...]]:
        candidates = [Candidate(resolved.provider, _requested_id(resolved), resolved.entry)]
        excluded: list[Exclusion] = []
        if resolved.entry is None:
            return tuple(candidates), ()
        for entry in self._equivalents_of(resolved.entry):
            reason = unmet(entry, needs)
            if reason is None:
                candidates.append(Candidate(entry.provider, entry.id, entry))
            else:
                excluded.append(Exclusion(entry.provider, entry.id, reason))
        return tuple(candidates), tuple(excluded)

    def candidates(
        self, request: ChatRequest, resolved: ResolvedModel, *, needs: RequestNeeds | None = None
    ) -> list[Candidate]:
        """The requested model first, then its equivalents that can serve `request` (availability not checked)."""
        return self._gather(resolved, needs or RequestNeeds.of(request))[0]

    def candidate_pairs(
        self, request: ChatRequest, resolved: ResolvedModel, *, needs: RequestNeeds | None = None
    ) -> list[tuple[str, str]]:
        """The (provider, model) pairs whose latency the caller should refresh before `plan`."""
        return [(c.provider, c.model) for c in self.candidates(request, resolved, needs=needs)]

    def _latency_of(self, candidate: Candidate) -> float:
        measured = None if self._latency is None else self._latency.get(candidate.provider, candidate.model)
        if measured is not None:
            return measured
        return candidate.entry.ttft_ms / 1000 if candidate.entry is not None else UNKNOWN_TTFT_S

    def _price(self, entry: CatalogModel | None, needs: RequestNeeds) -> float | None:
        """`estimate_for` in binary floating point: the same formula, fast enough for every candidate of
        every request. Ordering only; what is billed and shown comes from `shared.cost` (Decimal)."""
        if entry is None:
            return None
        rates = self._rates.get(entry.id)
        if rates is None:
            long = entry.long_context
            rates = self._rates[entry.id] = (
                float(entry.prices.input),
                float(entry.prices.output),
                (long.threshold, float(long.input), float(long.output)) if long is not None else None,
            )
        input_rate, output_rate, long_tier = rates
        if long_tier is not None and needs.prompt_tokens > long_tier[0]:
            input_rate, output_rate = long_tier[1], long_tier[2]
        reserve = needs.output_reserve if entry.max_output is None else min(needs.output_reserve, entry.max_output)
        return (needs.prompt_tokens * input_rate + reserve * output_rate) / 1_000_000

    def _scored(self, candidates: list[Candidate], needs: RequestNeeds) -> list[Route]:
        prices = [self._price(c.entry, needs) for c in candidates]
        latencies = [self._latency_of(c) for c in candidates]
        known = [p for p in prices if p is not None]
        # Only the lone requested model can be unpriced (pass-through names have no equivalents): score 1.
        cheapest = min(known, default=0.0)
        fastest = min(latencies, default=0.0)
        weight = self.config.performance_weighting
        return [
            Route(
                provider=c.provider,
                model=c.model,
                entry=c.entry,
                reason="fallback",
                price_usd=price,
                latency_s=latency,
                score=1.0 if price is None else score(price, cheapest, latency, fastest, weight),
            )
            for c, price, latency in zip(candidates, prices, latencies, strict=True)
        ]

    def _order_key(self, route: Route) -> tuple[float, int, str]:
        order = self.config.fallback_order
        rank = order.index(route.provider) if route.provider in order else len(order)
        return (route.score, rank, route.model)

    def plan(
        self,
        request: ChatRequest,
        resolved: ResolvedModel,
        options: ChatOptions | None,
        *,
        unavailable: Callable[[str, str], str | None] = lambda p, m: None,
        needs: RequestNeeds | None = None,
    ) -> RoutePlan:
        """The ordered routes to try for `request` (possibly none: every candidate was unavailable)."""
        needs = needs or RequestNeeds.of(request)
        policy = self.config.for_request(options)
        candidates, excluded = self._gather(resolved, needs)
        requested = (resolved.provider, _requested_id(resolved))
        if not policy.cost_optimization and not policy.fallback:
            # Both off pins the named model: substitutes would only ever have been fallbacks.
            candidates = [c for c in candidates if (c.provider, c.model) == requested]
        available: list[Candidate] = []
        for c in candidates:
            reason = unavailable(c.provider, c.model)
            if reason is None:
                available.append(c)
            else:
                excluded.append(Exclusion(c.provider, c.model, reason))
        routes = sorted(self._scored(available, needs), key=self._order_key)
        if not policy.cost_optimization:
            # The caller's model first; the others only as fallbacks (a stable sort keeps their score order).
            routes.sort(key=lambda r: (r.provider, r.model) != requested)
        first_reason: RouteReason = "fallback"
        preferred = next((i for i, r in enumerate(routes) if r.provider == policy.preferred_provider), 0)
        if preferred > 0:
            routes.insert(0, routes.pop(preferred))
            first_reason = "preferred"
        elif routes and (routes[0].provider, routes[0].model) == requested:
            first_reason = "requested"
        elif policy.cost_optimization:
            first_reason = "cheapest"
        # Otherwise the requested model is unavailable and the best substitute leads as a fallback.
        routes = routes[: 1 if not policy.fallback else self.config.max_candidates]
        if routes:
            routes[0] = replace(routes[0], reason=first_reason)
        return RoutePlan(routes=tuple(routes), excluded=tuple(excluded), policy=policy, needs=needs)
