"""Helpers for the router tests: a fixed `today`, a fake clock, hand-made catalog rows and requests."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.catalog import Catalog, CatalogModel
from shared.model_names import ResolvedModel
from shared.unified import ChatRequest, Message
from tests.fakes import FakeClock as FakeClock

# A day on which the packaged catalog's gpt-4 is still current and several frontier models are retired.
TODAY = date(2026, 7, 1)
ALL_SAMPLING = ("temperature", "top_p", "top_k", "stop", "n", "seed", "presence_penalty", "frequency_penalty")


def row(model_id: str, provider: str = "openai", **overrides: Any) -> CatalogModel:
    """A valid catalog row: every feature, every sampling parameter, class `c` tier 1, $1/$2 per 1M tokens."""
    features = {"tools": True, "vision": True, "json_mode": True, "streaming": True, "chat_completions": True}
    features.update(overrides.pop("features", {}))
    data: dict[str, Any] = {
        "id": model_id,
        "provider": provider,
        "aliases": [],
        "prices": {"input": "1", "output": "2", "cached_input": None, "cache_write_5m": None, "cache_write_1h": None},
        "long_context": None,
        "price_verified": True,
        "price_source": "test",
        "price_date": "2026-01-01",
        "context_window": 100_000,
        "max_output": 8192,
        "features": features,
        "features_source": "test",
        "sampling": list(ALL_SAMPLING),
        "sampling_source": "test",
        "class": "c",
        "tier": 1,
        "retired": None,
        "retired_source": None,
        "ttft_ms": 500,
    }
    data.update(overrides)
    return CatalogModel.model_validate(data)


def prices(input_price: str, output_price: str) -> dict[str, Any]:
    return {
        "input": input_price,
        "output": output_price,
        "cached_input": None,
        "cache_write_5m": None,
        "cache_write_1h": None,
    }


def catalog(*rows: CatalogModel) -> Catalog:
    return Catalog(rows)


def resolved(entry: CatalogModel) -> ResolvedModel:
    return ResolvedModel(provider=entry.provider, model=entry.id, entry=entry)


def chat(model: str = "m", text: str = "hello there", **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message(role="user", content=text),), **fields)
