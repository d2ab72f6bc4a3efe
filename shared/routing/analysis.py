"""Cost analysis before a call: the seed's `analyzeCosts` (seed.md, "Cost Analysis Example").

It prices the requested model and every equivalent that could serve the request (the router's candidates,
with the same prompt estimate and output reserve the router scores with), names the cheapest, and turns
the numbers into concrete recommendations. Credentials and breakers are not consulted: this is about
price, not about what is reachable right now.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal

from shared.chat_types import ChatOptions
from shared.cost import Cost, format_usd, usd_display
from shared.model_names import ResolvedModel
from shared.providers import SEED_NAMES
from shared.routing.needs import RequestNeeds
from shared.routing.router import Router, estimate_for
from shared.unified import ChatRequest

__all__ = ["CostAnalysis", "CostEstimate", "analyze_costs", "to_seed"]


@dataclass(frozen=True, slots=True)
class CostEstimate:
    provider: str
    model: str
    tier: int | None
    estimated: Cost
    saving_micros: int | None  # requested model's estimate minus this one (negative: dearer); None unpriced


@dataclass(frozen=True, slots=True)
class CostAnalysis:
    model: str
    provider: str
    prompt_tokens: int
    max_output_tokens: int
    estimated_cost: Cost
    candidates: tuple[CostEstimate, ...]  # cheapest first; the requested model included
    cheapest_provider: str
    cheapest_model: str
    recommendations: tuple[str, ...]


def _seed_provider(provider: str) -> str:
    return SEED_NAMES.get(provider, provider.upper())


def _percent_less(cheaper: int, dearer: int) -> int:
    # Rounded down: "100% less" must never be printed for something that still costs money.
    return int((Decimal(dearer - cheaper) * 100 / dearer).to_integral_value(rounding=ROUND_DOWN))


def _recommendations(
    analysis: CostAnalysis, request: ChatRequest, router: Router, options: ChatOptions | None
) -> tuple[str, ...]:
    model, requested = analysis.model, analysis.estimated_cost
    if requested.micros is None:
        return (
            f"{model} is not in the gateway's catalog, so its cost is unknown (usage.cost will be null) and the "
            "gateway never substitutes it; name a catalog model (GET /v1/models) to get estimates and cheaper "
            "equivalents.",
        )
    found: list[str] = []
    cheapest = analysis.candidates[0]
    cheaper = cheapest.estimated.micros
    if cheapest.model != model and cheaper is not None and cheaper < requested.micros:
        found.append(
            f"Use {cheapest.model} ({_seed_provider(cheapest.provider)}) for this request: estimated "
            f"${format_usd(cheaper)} instead of ${format_usd(requested.micros)} "
            f"({_percent_less(cheaper, requested.micros)}% less)."
        )
        if not router.config.for_request(options).cost_optimization:
            found.append(
                "Enable cost optimization (costOptimization: true, or the header x-gateway-cost-optimization: on) "
                "so the gateway routes to the cheapest equivalent model that can serve the request."
            )
    elif len(analysis.candidates) > 1:
        found.append(f"{model} is already the cheapest model that can serve this request.")
    if request.max_tokens is None:
        found.append(f"Set maxTokens: the estimate reserves {analysis.max_output_tokens:,} output tokens.")
    entry = router.catalog.get(model)
    if entry is not None and entry.equivalence_class is None:
        found.append(f"{model} has no equivalence class, so the gateway never routes it to a cheaper model.")
    return tuple(found)


def analyze_costs(
    request: ChatRequest, resolved: ResolvedModel, router: Router, *, options: ChatOptions | None = None
) -> CostAnalysis:
    """Estimated cost of `request` on the requested model and on each equivalent that can serve it."""
    needs = RequestNeeds.of(request)
    candidates = router.candidates(request, resolved, needs=needs)
    requested = candidates[0]  # the router always lists the requested model first
    requested_cost = estimate_for(requested.entry, needs)
    estimates = [
        CostEstimate(
            provider=c.provider,
            model=c.model,
            tier=None if c.entry is None else c.entry.tier,
            estimated=cost,
            saving_micros=None
            if cost.micros is None or requested_cost.micros is None
            else requested_cost.micros - cost.micros,
        )
        for c in candidates
        for cost in (estimate_for(c.entry, needs),)
    ]
    order = router.config.fallback_order

    def key(e: CostEstimate) -> tuple[int, int, str]:
        # The requested model stays ahead of an equally priced substitute; then fallback order, then id.
        rank = order.index(e.provider) if e.provider in order else len(order)
        return (e.estimated.micros or 0, 0 if e.model == requested.model else 1 + rank, e.model)

    estimates.sort(key=key)
    cheapest = estimates[0]
    analysis = CostAnalysis(
        model=requested.model,
        provider=requested.provider,
        prompt_tokens=needs.prompt_tokens,
        max_output_tokens=needs.output_reserve,
        estimated_cost=requested_cost,
        candidates=tuple(estimates),
        cheapest_provider=cheapest.provider,
        cheapest_model=cheapest.model,
        recommendations=(),
    )
    return replace(analysis, recommendations=_recommendations(analysis, request, router, options))


def _usd(cost: Cost) -> float | None:
    return None if cost.micros is None else usd_display(cost.micros)


def to_seed(analysis: CostAnalysis) -> dict[str, object]:
    """The seed's `analyzeCosts` result: camelCase, seed provider spellings, USD numbers with 6 decimals."""
    return {
        "model": analysis.model,
        "provider": _seed_provider(analysis.provider),
        "promptTokens": analysis.prompt_tokens,
        "maxOutputTokens": analysis.max_output_tokens,
        "estimatedCost": _usd(analysis.estimated_cost),
        "unpriced": analysis.estimated_cost.unpriced,
        "cheapestProvider": _seed_provider(analysis.cheapest_provider),
        "cheapestModel": analysis.cheapest_model,
        "recommendations": list(analysis.recommendations),
        "candidates": [
            {
                "provider": _seed_provider(c.provider),
                "model": c.model,
                "tier": c.tier,
                "estimatedCost": _usd(c.estimated),
                "savings": None if c.saving_micros is None else usd_display(c.saving_micros),
            }
            for c in analysis.candidates
        ],
    }
