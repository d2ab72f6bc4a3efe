"""The seed's configuration object: camelCase and snake_case names, clear errors naming the field by its
seed path, and exactly the fields it sets applied over the environment's settings."""

from __future__ import annotations

import dataclasses

import pytest

from shared.facade import ConfigError, ServiceConfig
from shared.settings import Settings

SEED_EXAMPLE = {
    "router": {
        "fallbackEnabled": True,
        "fallbackOrder": ["OPENAI", "ANTHROPIC", "GOOGLE"],
        "costOptimizationEnabled": True,
        "performanceWeighting": 0.3,
        "maxRetries": 3,
    },
    "cache": {"enabled": True, "ttlSeconds": 300, "maxSize": 1000},
    "analytics": {"detailedLogging": True},
}


def test_the_seed_example_is_accepted_and_applied() -> None:
    env = dataclasses.replace(Settings(), router_max_retries=1, cache_ttl_seconds=10, router_fallback_order=("gemini",))
    applied = ServiceConfig.parse(SEED_EXAMPLE).apply(env)
    assert applied.router_fallback_order == ("openai", "anthropic", "gemini")
    assert (applied.router_max_retries, applied.router_performance_weighting) == (3, 0.3)
    assert (applied.cache_enabled, applied.cache_ttl_seconds, applied.cache_max_size) == (True, 300, 1000)
    assert applied.analytics_detailed_logging is True
    assert applied.analytics_log_content is False


def test_snake_case_names_work_too_and_unset_fields_keep_the_environment() -> None:
    env = dataclasses.replace(Settings(), router_max_retries=7, cache_max_size=5)
    config = ServiceConfig.parse({"router": {"cost_optimization_enabled": False}, "cache": {"ttl_seconds": 9}})
    applied = config.apply(env)
    assert (applied.router_cost_optimization, applied.cache_ttl_seconds) == (False, 9)
    assert (applied.router_max_retries, applied.cache_max_size) == (7, 5)  # from the environment


def test_provider_names_in_any_spelling() -> None:
    config = ServiceConfig.parse({"router": {"fallbackOrder": ["google", "Anthropic"]}})
    assert config.apply(Settings()).router_fallback_order == ("gemini", "anthropic")


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        ({"router": {"maxRetries": "3"}}, "router.maxRetries", "integer"),
        ({"router": {"maxRetries": 11}}, "router.maxRetries", "less than or equal to 10"),
        ({"router": {"performanceWeighting": 1.5}}, "router.performanceWeighting", "less than or equal to 1"),
        ({"router": {"fallbackOrder": ["OPENAI", "AZURE"]}}, "router.fallbackOrder.1", "OPENAI"),
        ({"router": {"fallbackOrder": ["OPENAI", "openai"]}}, "router.fallbackOrder", "more than once"),
        ({"router": {"fallbackEnabled": "yes"}}, "router.fallbackEnabled", "boolean"),
        ({"cache": {"ttlSeconds": 0}}, "cache.ttlSeconds", "greater than or equal to 1"),
        ({"cache": {"maxSixe": 10}}, "cache.maxSixe", "Extra inputs"),
        ({"analytics": {"detailedLogging": 1}}, "analytics.detailedLogging", "boolean"),
        ({"tenant": ""}, "tenant", "at least 1"),
    ],
)
def test_bad_values_name_the_field(value: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ServiceConfig.parse(value)
    assert caught.value.field == field
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"config.{field}: ")
