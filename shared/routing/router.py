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
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from shared.catalog import Catalog, CatalogModel
from shared.chat_types import ChatOptions
from shared.cost import Cost, estimate_cost
from shared.model_names import ResolvedModel
from shared.routing.config import RoutePolicy, RouterConfig
from shared.routing.latency import LatencyView
from shared.routing.needs import RequestNeeds, unmet
from shared.routing.scoring import scores
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


@dataclass(frozen=True, slots=True)
class _Known:
    """What routing uses of a candidate that no request changes: its pair, its catalog TTFT (used until
    one is measured) and the rank of its provider in `fallback_order`."""

    candidate: Candidate
    pair: tuple[str, str]
    ttft: float
    rank: int


@dataclass(frozen=True, slots=True, eq=False)
class _Gathered:
    """The candidates (as `_Known`) and exclusions of one (model, needs, day), and the estimated prices of
    those a plan has priced so far (a price depends on the needs only; unavailable candidates are never
    priced)."""

    known: tuple[_Known, ...]
    excluded: tuple[Exclusion, ...]
    pairs: tuple[tuple[str, str], ...]
    prices: dict[tuple[str, str], float | None] = field(default_factory=dict)


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
        self._equivalents: dict[tuple[str, date], tuple[tuple[CatalogModel, _Known], ...]] = {}
        # Per model: (input, output, (threshold, long input, long output) | None), USD per 1M tokens.
        self._rates: dict[str, tuple[float, float, tuple[int, float, float] | None]] = {}
        self._gathered: dict[tuple[str, str, RequestNeeds, date], _Gathered] = {}
        order = config.fallback_order
        self._ranks = {provider: order.index(provider) for provider in order}

    def _know(self, candidate: Candidate) -> _Known:
        entry = candidate.entry
        return _Known(
            candidate,
            (candidate.provider, candidate.model),
            entry.ttft_ms / 1000 if entry is not None else UNKNOWN_TTFT_S,
            self._ranks.get(candidate.provider, len(self.config.fallback_order)),
        )

    def _equivalents_of(self, entry: CatalogModel, today: date) -> tuple[tuple[CatalogModel, _Known], ...]:
        key = (entry.id, today)
        found = self._equivalents.get(key)
        if found is None:
            if len(self._equivalents) >= _MEMO_SIZE:
                self._equivalents.clear()
            found = self._equivalents[key] = tuple(
                (m, self._know(Candidate(m.provider, m.id, m))) for m in self.catalog.equivalents(entry, today=today)
            )
        return found

    def _gather(self, resolved: ResolvedModel, needs: RequestNeeds) -> _Gathered:
        # Keyed by the day too: the equivalents change with retirements, and with them what was gathered.
        today = self._today()
        key = (resolved.provider, resolved.model, needs, today)
        memo = self._gathered.get(key)
        if memo is None:
            memo = self._gathered[key] = self._gather_now(resolved, needs, today)
            if len(self._gathered) > _MEMO_SIZE:
                del self._gathered[next(iter(self._gathered))]  # the oldest: a request asks twice in a row
        return memo

    def _gather_now(self, resolved: ResolvedModel, needs: RequestNeeds, today: date) -> _Gathered:
        known = [self._know(Candidate(resolved.provider, _requested_id(resolved), resolved.entry))]
        excluded: list[Exclusion] = []
        if resolved.entry is not None:
            for entry, k in self._equivalents_of(resolved.entry, today):
                reason = unmet(entry, needs)
                if reason is None:
                    known.append(k)
                else:
                    excluded.append(Exclusion(entry.provider, entry.id, reason))
        return _Gathered(tuple(known), tuple(excluded), tuple(k.pair for k in known))

    def candidates(
        self, request: ChatRequest, resolved: ResolvedModel, *, needs: RequestNeeds | None = None
    ) -> list[Candidate]:
        """The requested model first, then its equivalents that can serve `request` (availability not checked)."""
        return [k.candidate for k in self._gather(resolved, needs or RequestNeeds.of(request)).known]

    def candidate_pairs(
        self, request: ChatRequest, resolved: ResolvedModel, *, needs: RequestNeeds | None = None
    ) -> list[tuple[str, str]]:
        """The (provider, model) pairs whose latency the caller should refresh before `plan`."""
        return list(self._gather(resolved, needs or RequestNeeds.of(request)).pairs)

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

    def _prices(self, gathered: _Gathered, chosen: list[_Known], needs: RequestNeeds) -> list[float | None]:
        """The estimated price of each chosen candidate, remembered with what was gathered for `needs`."""
        known = gathered.prices
        out: list[float | None] = []
        for k in chosen:
            if k.pair in known:
                out.append(known[k.pair])
            else:
                price = known[k.pair] = self._price(k.candidate.entry, needs)
                out.append(price)
        return out

    def _latencies(self, chosen: list[_Known]) -> list[float]:
        """The measured TTFT of each chosen candidate, else its catalog TTFT."""
        view = self._latency
        if view is None:
            return [k.ttft for k in chosen]
        out: list[float] = []
        for k in chosen:
            measured = view.get(*k.pair)
            out.append(k.ttft if measured is None else measured)
        return out

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
        gathered = self._gather(resolved, needs)
        requested = (resolved.provider, _requested_id(resolved))
        # Both switches off pin the named model: substitutes would only ever have been fallbacks.
        pinned = not policy.cost_optimization and not policy.fallback
        excluded = list(gathered.excluded)
        available: list[_Known] = []
        for k in gathered.known:
            if pinned and k.pair != requested:
                continue
            reason = unavailable(*k.pair)
            if reason is None:
                available.append(k)
            else:
                excluded.append(Exclusion(k.pair[0], k.pair[1], reason))
        prices = self._prices(gathered, available, needs)
        latencies = self._latencies(available)
        # Only the lone requested model can be unpriced (pass-through names have no equivalents): score 1.
        scored = scores(prices, latencies, self.config.performance_weighting)
        # Positions into `available`, by score; ties by the provider's place in `fallback_order`, then model id.
        order = sorted(range(len(available)), key=lambda j: (scored[j], available[j].rank, available[j].pair[1]))
        if not policy.cost_optimization:
            # The caller's model first; the others only as fallbacks (a stable sort keeps their score order).
            order.sort(key=lambda j: available[j].pair != requested)
        first_reason: RouteReason = "fallback"
        preferred = next((n for n, j in enumerate(order) if available[j].pair[0] == policy.preferred_provider), 0)
        if preferred > 0:
            order.insert(0, order.pop(preferred))
            first_reason = "preferred"
        elif order and available[order[0]].pair == requested:
            first_reason = "requested"
        elif policy.cost_optimization:
            first_reason = "cheapest"
        # Otherwise the requested model is unavailable and the best substitute leads as a fallback.
        kept = order[: 1 if not policy.fallback else self.config.max_candidates]
        routes: list[Route] = []
        for j in kept:
            c = available[j].candidate
            why: RouteReason = "fallback" if routes else first_reason
            routes.append(Route(c.provider, c.model, c.entry, why, prices[j], latencies[j], scored[j]))
        return RoutePlan(routes=tuple(routes), excluded=tuple(excluded), policy=policy, needs=needs)
