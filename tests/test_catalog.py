"""The catalog data file against pricing.md, and the loader's validation and lookups (shared/catalog.py)."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared.catalog import Catalog, CatalogModel, default_catalog, load_catalog
from shared.errors import CatalogError

# Every model of pricing.md's OpenAI, Anthropic and Gemini tables, combined rows split, copied by hand from
# the tables: id -> (input, output, cached input, cache write 5m, cache write 1h); None = "—" in the table.
PRICING_MD: dict[str, tuple[str, str, str | None, str | None, str | None]] = {
    # OpenAI
    "gpt-3.5-turbo": ("0.50", "1.50", None, None, None),
    "gpt-4": ("30.00", "60.00", None, None, None),
    "gpt-4-turbo": ("10.00", "30.00", None, None, None),
    "gpt-4o": ("2.50", "10.00", "1.25", None, None),
    "gpt-4o-mini": ("0.15", "0.60", "0.075", None, None),
    "gpt-4.1": ("2.00", "8.00", "0.50", None, None),
    "gpt-4.1-mini": ("0.40", "1.60", "0.10", None, None),
    "gpt-4.1-nano": ("0.10", "0.40", "0.025", None, None),
    "o1": ("15.00", "60.00", "7.50", None, None),
    "o1-mini": ("1.10", "4.40", "0.55", None, None),
    "o3": ("2.00", "8.00", "0.50", None, None),
    "o3-mini": ("1.10", "4.40", "0.55", None, None),
    "o4-mini": ("1.10", "4.40", "0.275", None, None),
    "gpt-5": ("1.25", "10.00", "0.125", None, None),
    "gpt-5-mini": ("0.25", "2.00", "0.025", None, None),
    "gpt-5-nano": ("0.05", "0.40", "0.005", None, None),
    "gpt-5.1": ("1.25", "10.00", "0.125", None, None),
    "gpt-5.2": ("1.75", "14.00", "0.175", None, None),
    "gpt-5.4": ("2.50", "15.00", "0.25", None, None),
    "gpt-5.4-mini": ("0.75", "4.50", "0.075", None, None),
    "gpt-5.4-nano": ("0.20", "1.25", "0.02", None, None),
    "gpt-5.5": ("5.00", "30.00", "0.50", None, None),
    "gpt-5.6-sol": ("4.00", "20.00", "0.40", "5.00", None),
    "gpt-5.6-terra": ("2.00", "12.00", "0.20", "2.50", None),
    "gpt-5.6-luna": ("0.20", "1.20", "0.02", "0.25", None),
    "gpt-5-pro": ("15", "120", None, None, None),
    "gpt-5.2-pro": ("21", "168", None, None, None),
    "gpt-5.5-pro": ("30", "180", None, None, None),
    # Anthropic
    "claude-3-haiku-20240307": ("0.25", "1.25", "0.03", "0.30", "0.50"),
    "claude-3-sonnet-20240229": ("3.00", "15.00", None, None, None),
    "claude-3-opus-20240229": ("15.00", "75.00", "1.50", "18.75", "30"),
    "claude-3-5-sonnet-20240620": ("3.00", "15.00", "0.30", "3.75", "6"),
    "claude-3-5-sonnet-20241022": ("3.00", "15.00", "0.30", "3.75", "6"),
    "claude-3-5-haiku-20241022": ("0.80", "4.00", "0.08", "1.00", "1.60"),
    "claude-3-7-sonnet-20250219": ("3.00", "15.00", "0.30", "3.75", "6"),
    "claude-sonnet-4-20250514": ("3.00", "15.00", "0.30", "3.75", "6"),
    "claude-opus-4-20250514": ("15.00", "75.00", "1.50", "18.75", "30"),
    "claude-opus-4-1-20250805": ("15.00", "75.00", "1.50", "18.75", "30"),
    "claude-sonnet-4-5-20250929": ("3.00", "15.00", "0.30", "3.75", "6"),
    "claude-haiku-4-5-20251001": ("1.00", "5.00", "0.10", "1.25", "2"),
    "claude-opus-4-5-20251101": ("5.00", "25.00", "0.50", "6.25", "10"),
    "claude-opus-4-6": ("5.00", "25.00", "0.50", "6.25", "10"),
    "claude-sonnet-4-6": ("3.00", "15.00", "0.30", "3.75", "6"),
    "claude-opus-4-7": ("5.00", "25.00", "0.50", "6.25", "10"),
    "claude-opus-4-8": ("5.00", "25.00", "0.50", "6.25", "10"),
    "claude-sonnet-5": ("2.00", "10.00", "0.20", "2.50", "4"),
    "claude-opus-5": ("5.00", "25.00", "0.50", "6.25", "10"),
    "claude-fable-5": ("10.00", "50.00", "1.00", "12.50", "20"),
    "claude-mythos-5": ("10.00", "50.00", "1.00", "12.50", "20"),
    # Gemini
    "gemini-1.5-flash": ("0.075", "0.30", "0.01875", None, None),
    "gemini-1.5-flash-8b": ("0.0375", "0.15", "0.01", None, None),
    "gemini-1.5-pro": ("1.25", "5.00", "0.3125", None, None),
    "gemini-2.0-flash": ("0.10", "0.40", "0.025", None, None),
    "gemini-2.0-flash-lite": ("0.075", "0.30", None, None, None),
    "gemini-2.5-flash": ("0.30", "2.50", "0.03", None, None),
    "gemini-2.5-flash-lite": ("0.10", "0.40", "0.01", None, None),
    "gemini-2.5-pro": ("1.25", "10.00", "0.125", None, None),
    "gemini-3-flash-preview": ("0.50", "3.00", "0.05", None, None),
    "gemini-3.1-pro-preview": ("2.00", "12.00", "0.20", None, None),
    "gemini-3.1-flash-lite": ("0.25", "1.50", "0.025", None, None),
    "gemini-3.5-flash": ("1.50", "9.00", "0.15", None, None),
    "gemini-3.7-flash": ("0.75", "3.75", "0.075", None, None),
    "gemini-3.8-flash": ("0.75", "3.75", "0.075", None, None),
    "gemini-4-argon": ("2.00", "10.00", "0.10", None, None),
    "gemini-4-hydrogen": ("1.50", "7.50", "0.075", None, None),
}

# Rows whose price carries a ⚠ in pricing.md.
UNVERIFIED_PRICES = {
    "gpt-3.5-turbo", "o3", "gpt-5.2", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.5",
    "gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna", "gpt-5-pro", "gpt-5.2-pro", "gpt-5.5-pro",
    "claude-3-5-haiku-20241022", "claude-opus-4-7", "claude-opus-4-8", "claude-sonnet-5", "claude-opus-5",
    "claude-fable-5", "claude-mythos-5",
    "gemini-1.5-flash-8b", "gemini-1.5-pro", "gemini-2.0-flash", "gemini-3.7-flash", "gemini-3.8-flash",
    "gemini-4-argon", "gemini-4-hydrogen",
}  # fmt: skip

# pricing.md's Equivalence table: name as written there -> (class, tier).
EQUIVALENCE = {
    "gpt-3.5-turbo": ("small", 1), "claude-3-haiku": ("small", 1), "gemini-1.5-flash-8b": ("small", 1),
    "gpt-4o-mini": ("small", 2), "gpt-4.1-nano": ("small", 2), "claude-3-5-haiku": ("small", 2),
    "gemini-1.5-flash": ("small", 2), "gemini-2.0-flash-lite": ("small", 2),
    "gpt-4.1-mini": ("small", 3), "gemini-2.0-flash": ("small", 3), "gemini-2.5-flash-lite": ("small", 3),
    "claude-haiku-4-5": ("small", 4), "gemini-2.5-flash": ("small", 4),
    "gpt-4": ("frontier", 1), "claude-3-sonnet": ("frontier", 1),
    "gpt-4-turbo": ("frontier", 2), "claude-3-opus": ("frontier", 2), "gemini-1.5-pro": ("frontier", 2),
    "gpt-4o": ("frontier", 3), "gpt-4.1": ("frontier", 3), "claude-3-5-sonnet": ("frontier", 3),
    "claude-3-7-sonnet": ("frontier", 3),
    "claude-sonnet-4": ("frontier", 4), "claude-opus-4": ("frontier", 4), "claude-opus-4-1": ("frontier", 4),
    "gemini-2.5-pro": ("frontier", 4),
    "claude-sonnet-4-5": ("frontier", 5), "claude-opus-4-5": ("frontier", 5),
    "o1-mini": ("reasoning", 1),
    "o1": ("reasoning", 2), "o3-mini": ("reasoning", 2), "gpt-5-nano": ("reasoning", 2),
    "o3": ("reasoning", 3), "o4-mini": ("reasoning", 3), "gpt-5-mini": ("reasoning", 3),
    "gpt-5": ("reasoning", 4), "gpt-5.1": ("reasoning", 4),
}  # fmt: skip

# pricing.md calls these unverified (absent from the SDKs' model lists): left out.
UNVERIFIED_IDS = ["gpt-6-sol", "gpt-6-luna", "gpt-6.1-sol", "claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5"]

RESPONSES_ONLY = ["gpt-5-pro", "gpt-5.2-pro", "gpt-5.5-pro"]


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


# ---------------------------------------------------------------------------------------------- the data


def test_catalog_holds_exactly_the_pricing_md_models(catalog: Catalog) -> None:
    assert sorted(m.id for m in catalog) == sorted(PRICING_MD)


@pytest.mark.parametrize("model_id", sorted(PRICING_MD))
def test_prices_match_pricing_md(catalog: Catalog, model_id: str) -> None:
    entry = catalog[model_id]
    expected = tuple(_dec(v) for v in PRICING_MD[model_id])
    prices = entry.prices
    got = (prices.input, prices.output, prices.cached_input, prices.cache_write_5m, prices.cache_write_1h)
    assert got == expected
    assert entry.price_date == date(2026, 11, 26)
    assert entry.price_source


@pytest.mark.parametrize("model_id", sorted(PRICING_MD))
def test_price_verified_follows_the_warning_signs(catalog: Catalog, model_id: str) -> None:
    assert catalog[model_id].price_verified is (model_id not in UNVERIFIED_PRICES)


def test_anthropic_cache_prices_follow_the_multipliers(catalog: Catalog) -> None:
    # AP: 5m write = 1.25x input, 1h write = 2x input, read = 0.1x input. Claude 3 Haiku is the exception:
    # AP lists rounded figures for it (0.30 / 0.03 instead of 0.3125 / 0.025); Claude 3 Sonnet has none.
    for entry in catalog.by_provider("anthropic"):
        p = entry.prices
        if entry.id in ("claude-3-haiku-20240307", "claude-3-sonnet-20240229"):
            continue
        assert p.cache_write_5m == p.input * Decimal("1.25"), entry.id
        assert p.cache_write_1h == p.input * 2, entry.id
        assert p.cached_input == p.input / 10, entry.id


@pytest.mark.parametrize("model_id", UNVERIFIED_IDS)
def test_unverified_ids_are_left_out(catalog: Catalog, model_id: str) -> None:
    assert catalog.get(model_id) is None


def test_providers(catalog: Catalog) -> None:
    assert len(catalog.by_provider("openai")) == 28
    assert len(catalog.by_provider("anthropic")) == 21
    assert len(catalog.by_provider("gemini")) == 16
    assert catalog.by_provider("mistral") == ()
    for provider in ("openai", "anthropic", "gemini"):
        assert all(m.provider == provider for m in catalog.by_provider(provider))


@pytest.mark.parametrize(
    ("model_id", "threshold", "tier_in", "tier_out", "tier_cached"),
    [
        ("gpt-5.4", 272_000, "5.00", "22.50", "0.50"),
        ("claude-sonnet-4-20250514", 200_000, "6.00", "22.50", "0.60"),
        ("claude-sonnet-4-5-20250929", 200_000, "6.00", "22.50", "0.60"),
        ("gemini-1.5-flash", 128_000, "0.15", "0.60", None),
        ("gemini-1.5-flash-8b", 128_000, "0.075", "0.30", None),
        ("gemini-1.5-pro", 128_000, "2.50", "10.00", None),
        ("gemini-2.5-pro", 200_000, "2.50", "15.00", "0.25"),
        ("gemini-3.1-pro-preview", 200_000, "4.00", "18.00", "0.40"),
    ],
)
def test_long_context_tiers(
    catalog: Catalog, model_id: str, threshold: int, tier_in: str, tier_out: str, tier_cached: str | None
) -> None:
    tier = catalog[model_id].long_context
    assert tier is not None
    assert (tier.threshold, tier.input, tier.output, tier.cached_input) == (
        threshold,
        Decimal(tier_in),
        Decimal(tier_out),
        _dec(tier_cached),
    )


def test_models_without_a_long_context_tier(catalog: Catalog) -> None:
    with_tier = {m.id for m in catalog if m.long_context is not None}
    # pricing.md's tiers, plus the >272k tiers L110 gives for gpt-5.5, gpt-5.6-* and gpt-5.5-pro.
    assert with_tier == {
        "gpt-5.4", "gpt-5.5", "gpt-5.6-sol", "gpt-5.6-terra", "gpt-5.6-luna", "gpt-5.5-pro",
        "claude-sonnet-4-20250514", "claude-sonnet-4-5-20250929",
        "gemini-1.5-flash", "gemini-1.5-flash-8b", "gemini-1.5-pro", "gemini-2.5-pro", "gemini-3.1-pro-preview",
    }  # fmt: skip


@pytest.mark.parametrize(("name", "expected"), sorted(EQUIVALENCE.items()))
def test_equivalence_table(catalog: Catalog, name: str, expected: tuple[str, int]) -> None:
    entry = catalog[name]
    assert (entry.equivalence_class, entry.tier) == expected


def test_models_outside_the_equivalence_table_have_no_class(catalog: Catalog) -> None:
    in_table = {catalog[name].id for name in EQUIVALENCE}
    in_table.add("claude-3-5-sonnet-20240620")  # the table's "claude-3-5-sonnet" covers both snapshots
    for entry in catalog:
        if entry.id not in in_table:
            assert (entry.equivalence_class, entry.tier) == (None, None), entry.id


@pytest.mark.parametrize(
    ("alias", "model_id"),
    [
        ("claude-3-haiku", "claude-3-haiku-20240307"),
        ("claude-3-sonnet", "claude-3-sonnet-20240229"),
        ("claude-3-opus", "claude-3-opus-20240229"),
        ("claude-3-5-sonnet", "claude-3-5-sonnet-20241022"),
        ("claude-3-5-haiku", "claude-3-5-haiku-20241022"),
        ("claude-3-7-sonnet", "claude-3-7-sonnet-20250219"),
        ("claude-sonnet-4", "claude-sonnet-4-20250514"),
        ("claude-sonnet-4-0", "claude-sonnet-4-20250514"),
        ("claude-opus-4", "claude-opus-4-20250514"),
        ("claude-opus-4-1", "claude-opus-4-1-20250805"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
        ("claude-haiku-4-5", "claude-haiku-4-5-20251001"),
        ("claude-opus-4-5", "claude-opus-4-5-20251101"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("CLAUDE-3-Haiku", "claude-3-haiku-20240307"),
        ("  gpt-4o  ", "gpt-4o"),
    ],
)
def test_aliases_resolve_to_the_same_row(catalog: Catalog, alias: str, model_id: str) -> None:
    assert catalog[alias] is catalog[model_id]
    assert alias in catalog


def test_names_are_unique_and_lowercase(catalog: Catalog) -> None:
    names = [name for entry in catalog for name in entry.names]
    assert len(names) == len(set(names))
    assert all(name == name.lower() for name in names)


def test_unknown_names(catalog: Catalog) -> None:
    assert catalog.get("gpt-4o-2024-05-13") is None  # a different snapshot at a different price: no alias
    assert "nope" not in catalog
    assert 42 not in catalog
    with pytest.raises(KeyError):
        catalog["nope"]


@pytest.mark.parametrize("model_id", RESPONSES_ONLY)
def test_responses_only_models(catalog: Catalog, model_id: str) -> None:
    entry = catalog[model_id]
    assert entry.chat_completions is False
    assert entry.substitutable is False
    assert entry.equivalence_class is None
    today = date(2026, 1, 1)
    assert all(model_id not in {e.id for e in catalog.equivalents(m, today=today)} for m in catalog)


def test_every_other_model_is_served_by_chat_completions(catalog: Catalog) -> None:
    assert sorted(m.id for m in catalog if not m.chat_completions) == sorted(RESPONSES_ONLY)


def test_reasoning_models_take_no_temperature_or_top_p(catalog: Catalog) -> None:
    reasoning = [m for m in catalog if m.id.startswith(("o1", "o3", "o4", "gpt-5"))]
    assert len(reasoning) == 20
    for entry in reasoning:
        assert not entry.accepts("temperature"), entry.id
        assert not entry.accepts("top_p"), entry.id


@pytest.mark.parametrize("model_id", ["o3", "o4-mini", "o1-mini", "gpt-5", "gpt-5-mini", "gpt-5.1", "gpt-5.2"])
def test_models_that_reject_stop(catalog: Catalog, model_id: str) -> None:
    # providers.md 1.1 (o3/o4-mini/o1-mini: 400 unsupported_parameter, openai/error_400.json).
    assert not catalog[model_id].accepts("stop")


def test_sampling_per_provider(catalog: Catalog) -> None:
    assert catalog["gpt-4o"].sampling == (
        "temperature", "top_p", "stop", "n", "seed", "presence_penalty", "frequency_penalty",
    )  # fmt: skip
    assert catalog["o1"].accepts("stop")
    # Anthropic: n is impossible (400) and seed/penalties are dropped by the adapter: not accepted.
    haiku = catalog["claude-haiku-4-5"]
    assert haiku.sampling == ("temperature", "top_p", "top_k", "stop")
    assert not catalog["claude-opus-4-7"].accepts("temperature")  # providers.md 2.1
    assert catalog["gemini-1.5-pro"].accepts("presence_penalty")
    assert not catalog["gemini-2.5-flash"].accepts("presence_penalty")  # 'Penalty is not enabled' (providers.md 3.1)
    assert all(m.sampling_source and m.features_source for m in catalog)


def test_features(catalog: Catalog) -> None:
    assert catalog["gpt-3.5-turbo"].features.vision is False
    assert catalog["gpt-4"].features.json_mode is False
    assert catalog["o1-mini"].features.tools is False
    assert catalog["gpt-4o"].features.vision is True
    assert catalog["claude-3-haiku"].features.json_mode is False
    assert catalog["claude-sonnet-4-5"].features.json_mode is True
    assert all(m.features.tools and m.features.vision for m in catalog.by_provider("gemini"))


def test_limits_and_latency_defaults(catalog: Catalog) -> None:
    assert (catalog["gpt-4"].context_window, catalog["gpt-4"].max_output) == (8192, 4096)
    assert (catalog["gpt-5.4"].context_window, catalog["gpt-5.4"].max_output) == (1_050_000, 128_000)
    assert catalog["claude-3-7-sonnet"].max_output == 64_000
    assert catalog["gemini-1.5-pro"].context_window == 2_097_152
    assert catalog["gemini-4-argon"].max_output is None
    assert catalog["gpt-5-pro"].max_output is None
    assert all(m.ttft_ms > 0 for m in catalog)


@pytest.mark.parametrize(
    ("model_id", "retired"),
    [
        ("claude-3-sonnet-20240229", date(2025, 7, 21)),
        ("claude-3-opus-20240229", date(2026, 1, 5)),
        ("claude-3-5-sonnet-20240620", date(2025, 10, 22)),
        ("claude-3-5-sonnet-20241022", date(2025, 10, 22)),
        ("claude-3-5-haiku-20241022", date(2026, 2, 19)),
        ("claude-3-7-sonnet-20250219", date(2026, 2, 19)),
        ("claude-sonnet-4-20250514", date(2026, 6, 15)),
        ("claude-opus-4-20250514", date(2026, 6, 15)),
        ("gemini-1.5-flash", date(2025, 9, 24)),
        ("gemini-1.5-flash-8b", date(2025, 9, 24)),
        ("gemini-1.5-pro", date(2025, 9, 24)),
        ("gemini-2.0-flash", date(2026, 6, 1)),
        ("gpt-3.5-turbo", date(2026, 10, 23)),
        ("o1-mini", date(2025, 10, 27)),
        ("claude-3-haiku-20240307", None),
        ("claude-opus-4-5-20251101", None),
    ],
)
def test_retirement_dates(catalog: Catalog, model_id: str, retired: date | None) -> None:
    entry = catalog[model_id]
    assert entry.retired == retired
    assert (entry.retired_source is not None) is (retired is not None)


# ------------------------------------------------------------------------------------------ equivalents


def test_equivalents_respect_class_and_tier(catalog: Catalog) -> None:
    today = date(2025, 1, 1)
    for entry in catalog:
        found = catalog.equivalents(entry, today=today)
        if entry.equivalence_class is None or entry.tier is None:
            assert found == ()
            continue
        for other in found:
            assert other.equivalence_class == entry.equivalence_class
            assert other.tier is not None
            assert other.tier >= entry.tier
            assert other.id != entry.id
            assert not other.is_retired(today)


def test_equivalents_of_gpt_4o_mini_on_a_date_before_any_small_retirement(catalog: Catalog) -> None:
    # small, tier >= 2, nothing retired yet on 2025-01-01; ordered by tier then id.
    found = [m.id for m in catalog.equivalents("gpt-4o-mini", today=date(2025, 1, 1))]
    assert found == [
        "claude-3-5-haiku-20241022", "gemini-1.5-flash", "gemini-2.0-flash-lite", "gpt-4.1-nano",
        "gemini-2.0-flash", "gemini-2.5-flash-lite", "gpt-4.1-mini",
        "claude-haiku-4-5-20251001", "gemini-2.5-flash",
    ]  # fmt: skip
    assert "gpt-3.5-turbo" not in found  # tier 1 < tier 2
    assert "claude-3-haiku-20240307" not in found


def test_retired_models_are_not_equivalents_but_still_resolvable(catalog: Catalog) -> None:
    before = {m.id for m in catalog.equivalents("gpt-4", today=date(2025, 7, 20))}
    on_the_day = {m.id for m in catalog.equivalents("gpt-4", today=date(2025, 7, 21))}
    assert "claude-3-sonnet-20240229" in before
    assert "claude-3-sonnet-20240229" not in on_the_day  # retired 2025-07-21: from that day on
    assert before - on_the_day == {"claude-3-sonnet-20240229"}
    # Still in the catalog (callers may name it; the provider decides).
    assert catalog["claude-3-sonnet"].id == "claude-3-sonnet-20240229"
    # A retired model still has its own equivalents (it is the named model; substitutes are what is filtered).
    assert catalog.equivalents("claude-3-sonnet", today=date(2030, 1, 1)) != ()


def test_equivalents_change_with_the_injected_date(catalog: Catalog) -> None:
    early = {m.id for m in catalog.equivalents("o1-mini", today=date(2025, 1, 1))}
    late = {m.id for m in catalog.equivalents("o1-mini", today=date(2026, 11, 26))}
    assert {"o1", "o3-mini", "o4-mini"} <= early
    assert not {"o1", "o3-mini", "o4-mini"} & late  # shut down 2026-10-23 (openai-python chat_model.py)
    assert {"gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5.1", "o3"} <= late


def test_top_tier_and_unclassed_models(catalog: Catalog) -> None:
    today = date(2025, 1, 1)
    assert [m.id for m in catalog.equivalents("claude-opus-4-5", today=today)] == ["claude-sonnet-4-5-20250929"]
    assert catalog.equivalents("gpt-5.4", today=today) == ()
    assert catalog.equivalents("gemini-3.5-flash", today=today) == ()
    with pytest.raises(KeyError):
        catalog.equivalents("no-such-model", today=today)


def test_default_catalog_is_loaded_once() -> None:
    assert default_catalog() is default_catalog()
    assert len(default_catalog()) == len(PRICING_MD)


# ------------------------------------------------------------------------------------------- validation


def _row(model_id: str = "test-model", **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": model_id,
        "provider": "openai",
        "aliases": [],
        "prices": {
            "input": "1.00",
            "output": "2.00",
            "cached_input": None,
            "cache_write_5m": None,
            "cache_write_1h": None,
        },
        "long_context": None,
        "price_verified": True,
        "price_source": "test",
        "price_date": "2026-01-01",
        "context_window": 1000,
        "max_output": 100,
        "features": {"tools": True, "vision": False, "json_mode": True, "streaming": True, "chat_completions": True},
        "features_source": "test",
        "sampling": ["temperature"],
        "sampling_source": "test",
        "class": "small",
        "tier": 1,
        "retired": None,
        "retired_source": None,
        "ttft_ms": 500,
    }
    row.update(changes)
    return row


def _write(tmp_path: Path, rows: list[dict[str, Any]], **top: Any) -> Path:
    document: dict[str, Any] = {"schema_version": 1, "models": rows}
    document.update(top)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _with(row: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(row)
    *parents, last = path.split(".")
    target = changed
    for key in parents:
        target = target[key]
    target[last] = value
    return changed


def test_a_valid_small_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, [_row("a-1"), _row("b-1", aliases=["b"], provider="gemini")]))
    assert [m.id for m in catalog] == ["a-1", "b-1"]
    assert catalog["B"].provider == "gemini"
    assert isinstance(catalog["a-1"], CatalogModel)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("provider", "mistral", "provider"),
        ("prices.input", "-0.01", "prices.input"),
        ("prices.cached_input", "-1", "prices.cached_input"),
        ("prices.output", 2.0, "prices.output"),  # a float: prices must be decimal strings
        ("prices.output", "two", "prices.output"),
        ("prices.output", "NaN", "prices.output"),
        ("prices.input", None, "prices.input"),
        ("tier", None, "(row)"),  # class without tier
        ("class", None, "(row)"),  # tier without class
        ("tier", 0, "tier"),
        ("tier", 6, "tier"),
        ("tier", "2", "tier"),
        ("price_date", "2026-13-01", "price_date"),
        ("price_date", "01/02/2026", "price_date"),
        ("price_date", 20260101, "price_date"),
        ("retired", "2026-02-30", "retired"),
        ("features.vision", "yes", "features.vision"),
        ("features.chat_completions", None, "features.chat_completions"),
        ("sampling", ["temperature", "warmth"], "sampling.1"),
        ("sampling", ["stop", "stop"], "(row)"),
        ("context_window", 0, "context_window"),
        ("ttft_ms", -5, "ttft_ms"),
        ("id", "Has Spaces", "id"),
        ("aliases", ["UPPER"], "aliases.0"),
        ("long_context", {"threshold": 0, "input": "1", "output": "2"}, "long_context.threshold"),
        ("unexpected", 1, "unexpected"),
    ],
)
def test_a_bad_row_fails_naming_the_row_and_field(tmp_path: Path, field: str, value: Any, named: str) -> None:
    rows = [_row("good-model"), _with(_row("bad-model"), field, value)]
    row_name = value if field == "id" else "bad-model"  # a row is named by its id as written
    with pytest.raises(CatalogError) as raised:
        load_catalog(_write(tmp_path, rows))
    assert raised.value.row == row_name
    assert f"catalog row {row_name!r}" in raised.value.message
    assert f"field '{named}'" in raised.value.message


def test_a_retired_date_needs_its_source(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="retired_source"):
        load_catalog(_write(tmp_path, [_row(retired="2026-01-01")]))


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    row = _row("no-price")
    del row["prices"]
    with pytest.raises(CatalogError, match=r"'no-price', field 'prices'"):
        load_catalog(_write(tmp_path, [row]))


def test_a_row_without_an_id_is_named_by_position(tmp_path: Path) -> None:
    row = _row()
    del row["id"]
    with pytest.raises(CatalogError) as raised:
        load_catalog(_write(tmp_path, [_row("first"), row]))
    assert raised.value.row == "#1"


@pytest.mark.parametrize(
    ("rows", "bad_row", "field"),
    [
        ([_row("dup"), _row("dup")], "dup", "id"),
        ([_row("one", aliases=["shared"]), _row("two", aliases=["shared"])], "two", "aliases"),
        ([_row("one"), _row("two", aliases=["one"])], "two", "aliases"),
        ([_row("one", aliases=["two"]), _row("two")], "two", "id"),
        ([_row("one", aliases=["one"])], "one", "(row)"),
    ],
)
def test_duplicate_names_are_rejected(tmp_path: Path, rows: list[dict[str, Any]], bad_row: str, field: str) -> None:
    with pytest.raises(CatalogError) as raised:
        load_catalog(_write(tmp_path, rows))
    assert raised.value.row == bad_row
    assert f"field '{field}'" in raised.value.message


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(broken)
    with pytest.raises(CatalogError, match="schema_version"):
        load_catalog(_write(tmp_path, [_row()], schema_version=2))
    with pytest.raises(CatalogError, match="non-empty list"):
        load_catalog(_write(tmp_path, []))
    with pytest.raises(CatalogError, match="unknown top-level"):
        load_catalog(_write(tmp_path, [_row()], extra_key=1))
    as_list = tmp_path / "list.json"
    as_list.write_text("[]", encoding="utf-8")
    with pytest.raises(CatalogError, match="JSON object"):
        load_catalog(as_list)


def test_rows_are_frozen(catalog: Catalog) -> None:
    entry = catalog["gpt-4o"]
    with pytest.raises(ValueError, match="frozen"):
        entry.ttft_ms = 1
