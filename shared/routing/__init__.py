"""The router (architecture.md, Routing): pure logic that turns a request, its resolved model and the
request's options into an ordered plan of (provider, model) routes, plus the seed's cost analysis.

Modules: `tokens` (offline prompt estimate), `needs` (what a request needs, what a model lacks), `config`
(settings and per-request policy), `scoring` (the score formula), `latency` (the measured-TTFT view),
`router` (the plan), `analysis` (`analyzeCosts`).
"""

from __future__ import annotations

from shared.routing.analysis import CostAnalysis, CostEstimate, analyze_costs, to_seed
from shared.routing.config import RoutePolicy, RouterConfig
from shared.routing.latency import LatencyView, TtftSource
from shared.routing.needs import RequestNeeds, unmet
from shared.routing.router import Candidate, Exclusion, Route, RoutePlan, Router, RouteReason, estimate_for
from shared.routing.scoring import score
from shared.routing.tokens import estimate_prompt_tokens

__all__ = [
    "Candidate",
    "CostAnalysis",
    "CostEstimate",
    "Exclusion",
    "LatencyView",
    "RequestNeeds",
    "Route",
    "RoutePlan",
    "RoutePolicy",
    "RouteReason",
    "Router",
    "RouterConfig",
    "TtftSource",
    "analyze_costs",
    "estimate_for",
    "estimate_prompt_tokens",
    "score",
    "to_seed",
    "unmet",
]
