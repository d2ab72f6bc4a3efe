"""The seed's configuration object (`createAIService(prisma, config)`), validated, in Python.

    ServiceConfig(router={"fallbackEnabled": True, "maxRetries": 3}, cache={"ttlSeconds": 300})
    ServiceConfig.model_validate({"router": {"cost_optimization_enabled": False}})

Every field takes the seed's camelCase name and the snake_case one. A field left out keeps what the
environment says (`Settings.from_env`, the same variables the HTTP functions read: `ROUTER_*`, `CACHE_*`,
`ANALYTICS_DETAILED_LOGGING`, ...), so `apply(settings)` only overrides what the object sets. Wrong types and
out-of-range values raise `ConfigError` (a `ValueError`) naming the field by its seed path
(`router.maxRetries`) and what it accepts; unknown fields are refused, so a misspelt option never passes as
a default.

`tenant` is not in the seed (its service lives inside one app): here it says whose app the in-process
service acts for; every call's `user_id` is a user of that tenant.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from shared.settings import Settings

__all__ = ["AnalyticsOptions", "CacheOptions", "ConfigError", "RouterOptions", "ServiceConfig"]

SeedProvider = Literal["OPENAI", "ANTHROPIC", "GOOGLE"]
_INTERNAL = {"OPENAI": "openai", "ANTHROPIC": "anthropic", "GOOGLE": "gemini"}
_PROVIDER_NAMES = {"openai": "OPENAI", "anthropic": "ANTHROPIC", "google": "GOOGLE", "gemini": "GOOGLE"}


class ConfigError(ValueError):
    """The configuration object is not valid: `field` is its seed path (`router.maxRetries`)."""

    def __init__(self, message: str, *, field: str | None) -> None:
        super().__init__(message)
        self.field = field


class _Options(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", strict=True, frozen=True)


class RouterOptions(_Options):
    fallback_enabled: bool | None = None
    fallback_order: tuple[SeedProvider, ...] | None = Field(default=None, min_length=1)
    cost_optimization_enabled: bool | None = None
    performance_weighting: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    max_retries: Annotated[int, Field(ge=0, le=10)] | None = None

    @field_validator("fallback_order", mode="before")
    @classmethod
    def _providers(cls, value: object) -> object:
        # The seed passes ApiProvider enum values (OPENAI, ANTHROPIC, GOOGLE); any case, "gemini" too.
        if isinstance(value, list | tuple):
            return tuple(_PROVIDER_NAMES.get(v.lower(), v) if isinstance(v, str) else v for v in value)
        return value

    @field_validator("fallback_order")
    @classmethod
    def _distinct(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("names a provider more than once")
        return value

    @field_validator("performance_weighting", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class CacheOptions(_Options):
    enabled: bool | None = None
    ttl_seconds: Annotated[int, Field(ge=1)] | None = None
    max_size: Annotated[int, Field(ge=1)] | None = None


class AnalyticsOptions(_Options):
    detailed_logging: bool | None = Field(
        default=None, description="a structured JSON log line per provider attempt (never a key)"
    )
    log_content: bool | None = Field(
        default=None, description="with detailed_logging: also the request's messages (off unless set)"
    )


class ServiceConfig(_Options):
    tenant: str = Field(default="default", min_length=1, max_length=128)
    router: RouterOptions = RouterOptions()
    cache: CacheOptions = CacheOptions()
    analytics: AnalyticsOptions = AnalyticsOptions()

    @classmethod
    def parse(cls, value: ServiceConfig | dict[str, Any] | None) -> ServiceConfig:
        """`value` validated; `ConfigError` names the first field at fault by its seed path."""
        if value is None:
            return cls()
        if isinstance(value, ServiceConfig):
            return value
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            path = ".".join(_camel(part) for part in error["loc"])
            raise ConfigError(f"config.{path}: {error['msg']}", field=path or None) from None

    def apply(self, settings: Settings) -> Settings:
        """`settings` with every field this object sets put in its place."""
        r, c, a = self.router, self.cache, self.analytics
        changes: dict[str, Any] = {
            "router_fallback_enabled": r.fallback_enabled,
            "router_fallback_order": None
            if r.fallback_order is None
            else tuple(_INTERNAL[p] for p in r.fallback_order),
            "router_cost_optimization": r.cost_optimization_enabled,
            "router_performance_weighting": r.performance_weighting,
            "router_max_retries": r.max_retries,
            "cache_enabled": c.enabled,
            "cache_ttl_seconds": c.ttl_seconds,
            "cache_max_size": c.max_size,
            "analytics_detailed_logging": a.detailed_logging,
            "analytics_log_content": a.log_content,
        }
        return dataclasses.replace(settings, **{k: v for k, v in changes.items() if v is not None})


def _camel(part: int | str) -> str:
    return str(part) if isinstance(part, int) else to_camel(part)
