"""Router settings (`ROUTER_*`) and the effective switches for one request.

The per-request switches (seed body `costOptimization` / `fallback` / `preferredProvider`, or the
`x-gateway-cost-optimization` / `x-gateway-fallback` headers, parsed into `ChatOptions` by the API layer)
override the deployment's settings when given.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.chat_types import ChatOptions
from shared.settings import Settings

__all__ = ["RoutePolicy", "RouterConfig"]


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    """What applies to one request after its own options are taken into account."""

    cost_optimization: bool
    fallback: bool
    preferred_provider: str | None


@dataclass(frozen=True, slots=True)
class RouterConfig:
    fallback_enabled: bool = True
    fallback_order: tuple[str, ...] = ("openai", "anthropic", "gemini")
    cost_optimization: bool = True
    performance_weighting: float = 0.3
    max_retries: int = 3
    max_candidates: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.performance_weighting <= 1.0:
            raise ValueError(f"performance_weighting must be within [0, 1], got {self.performance_weighting}")
        if self.max_candidates < 1:
            raise ValueError(f"max_candidates must be at least 1, got {self.max_candidates}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must not be negative, got {self.max_retries}")

    @classmethod
    def from_settings(cls, settings: Settings) -> RouterConfig:
        return cls(
            fallback_enabled=settings.router_fallback_enabled,
            fallback_order=tuple(settings.router_fallback_order),
            cost_optimization=settings.router_cost_optimization,
            performance_weighting=settings.router_performance_weighting,
            max_retries=settings.router_max_retries,
            max_candidates=settings.router_max_candidates,
        )

    def for_request(self, options: ChatOptions | None) -> RoutePolicy:
        if options is None:
            return RoutePolicy(self.cost_optimization, self.fallback_enabled, None)
        return RoutePolicy(
            cost_optimization=self.cost_optimization
            if options.cost_optimization is None
            else options.cost_optimization,
            fallback=self.fallback_enabled if options.fallback is None else options.fallback,
            preferred_provider=options.preferred_provider,
        )
