from __future__ import annotations

import pytest

from shared.chat_types import ChatOptions
from shared.routing.config import RoutePolicy, RouterConfig
from shared.settings import Settings


def test_from_settings_reads_router_fields() -> None:
    settings = Settings.from_env(
        {
            "ROUTER_FALLBACK_ENABLED": "off",
            "ROUTER_FALLBACK_ORDER": "GOOGLE,OPENAI",
            "ROUTER_COST_OPTIMIZATION": "false",
            "ROUTER_PERFORMANCE_WEIGHTING": "0.5",
            "ROUTER_MAX_RETRIES": "1",
            "ROUTER_MAX_CANDIDATES": "2",
        }
    )
    config = RouterConfig.from_settings(settings)
    assert config == RouterConfig(
        fallback_enabled=False,
        fallback_order=settings.router_fallback_order,
        cost_optimization=False,
        performance_weighting=0.5,
        max_retries=1,
        max_candidates=2,
    )
    assert config.fallback_order[0] == "gemini"


def test_defaults_match_the_seed() -> None:
    assert RouterConfig.from_settings(Settings()) == RouterConfig()
    assert RouterConfig() == RouterConfig(True, ("openai", "anthropic", "gemini"), True, 0.3, 3, 3)


def test_no_options_use_the_config() -> None:
    config = RouterConfig(cost_optimization=False, fallback_enabled=True)
    assert config.for_request(None) == RoutePolicy(cost_optimization=False, fallback=True, preferred_provider=None)
    assert config.for_request(ChatOptions()) == RoutePolicy(False, True, None)


def test_options_override_when_set() -> None:
    config = RouterConfig(cost_optimization=False, fallback_enabled=True)
    policy = config.for_request(ChatOptions(cost_optimization=True, fallback=False, preferred_provider="gemini"))
    assert policy == RoutePolicy(cost_optimization=True, fallback=False, preferred_provider="gemini")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"performance_weighting": 1.5}, "performance_weighting"),
        ({"performance_weighting": -0.1}, "performance_weighting"),
        ({"max_candidates": 0}, "max_candidates"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_rejects_invalid_values(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RouterConfig(**kwargs)  # type: ignore[arg-type]
