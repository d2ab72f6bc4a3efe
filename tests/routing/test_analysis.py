from __future__ import annotations

from datetime import date

import pytest

from shared.catalog import Catalog, default_catalog
from shared.chat_types import ChatOptions
from shared.cost import DEFAULT_OUTPUT_RESERVE, estimate_cost, format_usd, usd_display
from shared.model_names import ResolvedModel, resolve_model
from shared.routing.analysis import CostAnalysis, analyze_costs, to_seed
from shared.routing.config import RouterConfig
from shared.routing.router import Router
from shared.unified import ChatRequest, Tool
from tests.routing import TODAY, catalog, chat, prices, row

REAL = default_catalog()


def analyze(
    model: str,
    request: ChatRequest | None = None,
    *,
    cat: Catalog = REAL,
    today: date = TODAY,
    options: ChatOptions | None = None,
    **config: object,
) -> CostAnalysis:
    router = Router(cat, RouterConfig(**config), today=lambda: today)  # type: ignore[arg-type]
    return analyze_costs(
        request or chat(model, "Analyze this data..."), resolve_model(model, cat), router, options=options
    )


def test_gpt4_numbers() -> None:
    a = analyze("gpt-4")
    gpt4 = REAL["gpt-4"]
    expected = estimate_cost(a.prompt_tokens, DEFAULT_OUTPUT_RESERVE, gpt4)
    assert a.model == "gpt-4"
    assert a.provider == "openai"
    assert a.max_output_tokens == DEFAULT_OUTPUT_RESERVE
    assert a.estimated_cost == expected
    micros = [c.estimated.micros for c in a.candidates]
    assert all(m is not None for m in micros)
    assert micros == sorted(micros)  # type: ignore[type-var]
    cheapest = a.candidates[0]
    assert (a.cheapest_provider, a.cheapest_model) == (cheapest.provider, cheapest.model) == ("openai", "gpt-4.1")
    assert cheapest.estimated.micros is not None
    assert expected.micros is not None
    assert cheapest.estimated.micros < expected.micros
    for c in a.candidates:
        assert c.saving_micros == expected.micros - (c.estimated.micros or 0)
    assert {c.model for c in a.candidates} >= {"gpt-4", "gpt-4.1", "gemini-2.5-pro"}
    assert next(c.tier for c in a.candidates if c.model == "gpt-4.1") == 3


def test_gpt4_recommendations() -> None:
    a = analyze("gpt-4")
    cheapest = a.candidates[0]
    assert cheapest.estimated.micros is not None
    assert a.estimated_cost.micros is not None
    saving = a.estimated_cost.micros - cheapest.estimated.micros
    percent = saving * 100 // a.estimated_cost.micros
    assert a.recommendations == (
        f"Use gpt-4.1 (OPENAI) for this request: estimated ${format_usd(cheapest.estimated.micros)} instead of "
        f"${format_usd(a.estimated_cost.micros)} ({percent}% less).",
        "Set maxTokens: the estimate reserves 4,096 output tokens.",
    )


def test_cost_optimization_hint_when_it_is_off() -> None:
    off = analyze("gpt-4", cost_optimization=False)
    assert any(r.startswith("Enable cost optimization") for r in off.recommendations)
    on_for_request = analyze("gpt-4", cost_optimization=False, options=ChatOptions(cost_optimization=True))
    assert not any(r.startswith("Enable cost optimization") for r in on_for_request.recommendations)


def test_max_tokens_set_is_used_and_no_hint() -> None:
    a = analyze("gpt-4", chat("gpt-4", max_tokens=100))
    assert a.max_output_tokens == 100
    assert a.estimated_cost == estimate_cost(a.prompt_tokens, 100, REAL["gpt-4"])
    assert not any(r.startswith("Set maxTokens") for r in a.recommendations)


def test_candidates_respect_request_needs() -> None:
    cat = catalog(
        row("asked", prices=prices("10", "20")),
        row("cheap-no-tools", prices=prices("0.1", "0.2"), features={"tools": False}),
    )
    a = analyze("asked", chat("asked", tools=(Tool(name="f"),)), cat=cat)
    assert [c.model for c in a.candidates] == ["asked"]
    assert a.cheapest_model == "asked"
    assert not any(r.startswith("Use ") for r in a.recommendations)


def test_already_cheapest() -> None:
    cat = catalog(row("asked", prices=prices("1", "1")), row("dear", "gemini", prices=prices("9", "9")))
    a = analyze("asked", cat=cat)
    assert a.cheapest_model == "asked"
    assert "asked is already the cheapest model that can serve this request." in a.recommendations
    dear = next(c for c in a.candidates if c.model == "dear")
    assert dear.saving_micros is not None
    assert dear.saving_micros < 0


def test_equal_price_keeps_the_requested_model_cheapest() -> None:
    cat = catalog(row("b-asked", "gemini"), row("a-twin"))
    assert analyze("b-asked", cat=cat).cheapest_model == "b-asked"


def test_unpriced_model() -> None:
    router = Router(REAL, RouterConfig(), today=lambda: TODAY)
    target = ResolvedModel(provider="gemini", model="gemini-9-ultra", entry=None)
    a = analyze_costs(chat("gemini-9-ultra"), target, router)
    assert a.estimated_cost.unpriced
    assert a.estimated_cost.micros is None
    assert (a.cheapest_provider, a.cheapest_model) == ("gemini", "gemini-9-ultra")
    assert len(a.recommendations) == 1
    assert "not in the gateway's catalog" in a.recommendations[0]
    seed = to_seed(a)
    assert seed["estimatedCost"] is None
    assert seed["unpriced"] is True
    assert seed["cheapestProvider"] == "GOOGLE"
    assert seed["candidates"] == [
        {"provider": "GOOGLE", "model": "gemini-9-ultra", "tier": None, "estimatedCost": None, "savings": None}
    ]


def test_model_without_class_says_so() -> None:
    a = analyze("gpt-5.2")
    assert [c.model for c in a.candidates] == ["gpt-5.2"]
    assert any("no equivalence class" in r for r in a.recommendations)


def test_to_seed_shape() -> None:
    a = analyze("gpt-4")
    seed = to_seed(a)
    assert set(seed) == {
        "model",
        "provider",
        "promptTokens",
        "maxOutputTokens",
        "estimatedCost",
        "unpriced",
        "cheapestProvider",
        "cheapestModel",
        "recommendations",
        "candidates",
    }
    assert a.estimated_cost.micros is not None
    assert seed["estimatedCost"] == usd_display(a.estimated_cost.micros)
    assert seed["estimatedCost"] == pytest.approx(float(a.estimated_cost.usd or 0), abs=1e-6)
    assert (seed["provider"], seed["cheapestProvider"], seed["cheapestModel"]) == ("OPENAI", "OPENAI", "gpt-4.1")
    assert seed["recommendations"] == list(a.recommendations)
    candidates = seed["candidates"]
    assert isinstance(candidates, list)
    assert len(candidates) == len(a.candidates)
    google = next(c for c in candidates if c["model"] == "gemini-2.5-pro")
    assert google["provider"] == "GOOGLE"
    assert set(google) == {"provider", "model", "tier", "estimatedCost", "savings"}
    for c in candidates:
        assert c["savings"] == pytest.approx(seed["estimatedCost"] - c["estimatedCost"], abs=2e-6)


def test_claude_via_alias_uses_the_canonical_id() -> None:
    a = analyze("claude-3-haiku")
    assert a.model == "claude-3-haiku-20240307"
    assert to_seed(a)["provider"] == "ANTHROPIC"
