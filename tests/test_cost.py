"""Costs from usage (shared/cost.py), each computed by hand in the comments (prices: USD per 1M tokens, so
token count x price = micro-USD).

Usage is the unified form: input_tokens = ALL prompt tokens (uncached + cache reads + cache writes),
output_tokens includes reasoning. Where a case mirrors a recorded response, the provider's own numbers are
quoted and converted by hand (providers.md 6).
"""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.catalog import CatalogModel, default_catalog
from shared.cost import DEFAULT_OUTPUT_RESERVE, UNPRICED, Cost, cost_of, estimate_cost, format_usd, usd_display
from shared.unified import Usage


def model(name: str) -> CatalogModel:
    return default_catalog()[name]


def micros(usage: Usage, name: str) -> int | None:
    return cost_of(usage, model(name)).micros


# ---------------------------------------------------------------------------------------------- OpenAI


def test_openai_cached_prompt() -> None:
    # gpt-4o: in 2.50, cached 1.25, out 10.00.
    # (1000 - 400) * 2.50 = 1500; 400 * 1.25 = 500; 500 * 10.00 = 5000  ->  7000 micros = $0.007000
    cost = cost_of(Usage(input_tokens=1000, cached_input_tokens=400, output_tokens=500), model("gpt-4o"))
    assert cost == Cost(usd=Decimal("0.007"), micros=7000, unpriced=False)


def test_openai_reasoning_tokens_are_inside_output() -> None:
    # openai/reasoning.json (o3-mini-2025-01-31): prompt_tokens 113, completion_tokens 347 of which
    # reasoning_tokens 320. o3-mini: in 1.10, out 4.40.
    # 113 * 1.10 = 124.3; 347 * 4.40 = 1526.8; total 1651.1  ->  1651 micros (reasoning not billed again)
    usage = Usage(input_tokens=113, output_tokens=347, reasoning_tokens=320)
    cost = cost_of(usage, model("o3-mini-2025-01-31"))
    assert cost.micros == 1651
    assert cost.usd == Decimal("0.0016511")
    assert cost_of(Usage(input_tokens=113, output_tokens=347), model("o3-mini")) == cost


def test_openai_cache_writes_where_the_row_prices_them() -> None:
    # gpt-5.6-sol: in 4.00, cached 0.40, cache write 5.00, out 20.00.
    # uncached 10000 - 2000 - 3000 = 5000 * 4.00 = 20000; 2000 * 0.40 = 800; 3000 * 5.00 = 15000;
    # 1000 * 20.00 = 20000  ->  55800 micros
    usage = Usage(input_tokens=10_000, cached_input_tokens=2000, cache_write_tokens=3000, output_tokens=1000)
    assert micros(usage, "gpt-5.6-sol") == 55_800


def test_openai_cache_writes_without_a_write_price_cost_input() -> None:
    # gpt-4o has no write price: writes are prompt tokens at 2.50, i.e. OpenAI's (prompt - cached)*in.
    # (1000 - 0) * 2.50 = 2500  (with or without the 300 writes reported)
    assert micros(Usage(input_tokens=1000, cache_write_tokens=300), "gpt-4o") == 2500
    assert micros(Usage(input_tokens=1000), "gpt-4o") == 2500


def test_openai_cached_tokens_on_a_row_without_a_cached_price_cost_input() -> None:
    # gpt-4 lists no cached price: the 500 cached tokens are billed at the input price 30.00.
    # 500 * 30 + 500 * 30 = 30000 micros, the same as 1000 uncached tokens.
    assert micros(Usage(input_tokens=1000, cached_input_tokens=500), "gpt-4") == 30_000


def test_openai_long_context_tier() -> None:
    # gpt-5.4 above 272,000 prompt tokens: in 5.00, cached 0.50, out 22.50 for the whole request.
    # (300000 - 100000) * 5.00 = 1000000; 100000 * 0.50 = 50000; 2000 * 22.50 = 45000  ->  1095000 micros
    usage = Usage(input_tokens=300_000, cached_input_tokens=100_000, output_tokens=2000)
    cost = cost_of(usage, model("gpt-5.4"))
    assert cost.micros == 1_095_000
    assert format_usd(1_095_000) == "1.095000"


@pytest.mark.parametrize(
    ("input_tokens", "expected"),
    [
        (272_000, 680_000),  # exactly at the threshold: standard, 272000 * 2.50
        (272_001, 1_360_005),  # one above: 272001 * 5.00
    ],
)
def test_long_context_threshold_is_exclusive(input_tokens: int, expected: int) -> None:
    assert micros(Usage(input_tokens=input_tokens), "gpt-5.4") == expected


# ------------------------------------------------------------------------------------------- Anthropic


def test_anthropic_cache_read_from_a_recording() -> None:
    # anthropic/usage_cached.json (claude-sonnet-4-20250514): input_tokens 11, cache_read_input_tokens 2055,
    # cache_creation_input_tokens 0, output_tokens 100. Unified input = 11 + 2055 = 2066, cached 2055.
    # 11 * 3.00 = 33; 2055 * 0.30 = 616.5; 100 * 15.00 = 1500; total 2149.5  ->  2150 micros (half up)
    usage = Usage(input_tokens=2066, cached_input_tokens=2055, output_tokens=100)
    cost = cost_of(usage, model("claude-sonnet-4-20250514"))
    assert cost.usd == Decimal("0.0021495")
    assert cost.micros == 2150
    assert usd_display(2150) == 0.00215


def test_anthropic_5m_and_1h_cache_writes() -> None:
    # claude-haiku-4-5: in 1.00, 5m write 1.25, 1h write 2.00, read 0.10, out 5.00.
    # Wire: input_tokens 100, ephemeral_5m 1000, ephemeral_1h 2000, cache_read 4000, output 300.
    # Unified input = 100 + 1000 + 2000 + 4000 = 7100.
    # 100 * 1.00 = 100; 1000 * 1.25 = 1250; 2000 * 2.00 = 4000; 4000 * 0.10 = 400; 300 * 5.00 = 1500
    #   ->  7250 micros
    usage = Usage(
        input_tokens=7100,
        cached_input_tokens=4000,
        cache_write_tokens=1000,
        cache_write_1h_tokens=2000,
        output_tokens=300,
    )
    assert micros(usage, "claude-haiku-4-5") == 7250


def test_anthropic_thinking_is_output() -> None:
    # anthropic/reasoning.json (claude-haiku-4-5-20251001): input_tokens 592, output_tokens 127 (thinking
    # included). 592 * 1.00 = 592; 127 * 5.00 = 635  ->  1227 micros
    usage = Usage(input_tokens=592, output_tokens=127, reasoning_tokens=100)
    assert micros(usage, "claude-haiku-4-5-20251001") == 1227


def test_anthropic_long_context_bills_the_whole_request_at_the_higher_rate() -> None:
    # claude-sonnet-4 with the 1M beta, total input 250000 > 200000: in 6.00, read 0.60, 5m write 7.50,
    # out 22.50. Wire: input_tokens 50000, cache_read 150000, cache_creation (5m) 50000, output 1000.
    # 50000 * 6.00 = 300000; 150000 * 0.60 = 90000; 50000 * 7.50 = 375000; 1000 * 22.50 = 22500
    #   ->  787500 micros
    usage = Usage(input_tokens=250_000, cached_input_tokens=150_000, cache_write_tokens=50_000, output_tokens=1000)
    assert micros(usage, "claude-sonnet-4") == 787_500
    # At exactly 200000 total input the standard prices apply: 50000*3 + 100000*0.30 + 50000*3.75 + 1000*15
    # = 150000 + 30000 + 187500 + 15000 = 382500
    usage = Usage(input_tokens=200_000, cached_input_tokens=100_000, cache_write_tokens=50_000, output_tokens=1000)
    assert micros(usage, "claude-sonnet-4") == 382_500


def test_anthropic_row_without_cache_prices_bills_cache_tokens_as_input() -> None:
    # claude-3-sonnet has no cache prices: 800 * 3.00 + 200 * 3.00 (read, at input) + 10 * 15.00 = 3150
    assert micros(Usage(input_tokens=1000, cached_input_tokens=200, output_tokens=10), "claude-3-sonnet") == 3150


# ---------------------------------------------------------------------------------------------- Gemini


def test_gemini_cached_and_thoughts_from_a_recording() -> None:
    # gemini/usage_cached.json (gemini-2.5-flash): promptTokenCount 557, cachedContentTokenCount 330,
    # candidatesTokenCount 73, thoughtsTokenCount 70 -> output 143. in 0.30, cached 0.03, out 2.50.
    # (557 - 330) * 0.30 = 68.1; 330 * 0.03 = 9.9; 143 * 2.50 = 357.5; total 435.5  ->  436 micros
    usage = Usage(input_tokens=557, cached_input_tokens=330, output_tokens=143, reasoning_tokens=70)
    cost = cost_of(usage, model("gemini-2.5-flash"))
    assert cost.usd == Decimal("0.0004355")
    assert cost.micros == 436


def test_gemini_long_context_tier_chosen_by_prompt_tokens() -> None:
    # gemini-2.5-pro above 200k: in 2.50, cached 0.25, out 15.00.
    # (250000 - 50000) * 2.50 = 500000; 50000 * 0.25 = 12500; 1000 * 15.00 = 15000  ->  527500 micros
    usage = Usage(input_tokens=250_000, cached_input_tokens=50_000, output_tokens=1000)
    assert micros(usage, "gemini-2.5-pro") == 527_500
    # At 200000: (150000 * 1.25) + 50000 * 0.125 + 1000 * 10 = 187500 + 6250 + 10000 = 203750
    usage = Usage(input_tokens=200_000, cached_input_tokens=50_000, output_tokens=1000)
    assert micros(usage, "gemini-2.5-pro") == 203_750


def test_gemini_long_tier_without_a_cached_price_keeps_the_standard_cached_price() -> None:
    # gemini-1.5-flash above 128k: in 0.15, out 0.60; the tier has no cached price, so 0.01875 stays.
    # 100000 * 0.15 = 15000; 100000 * 0.01875 = 1875; 1000 * 0.60 = 600  ->  17475 micros
    usage = Usage(input_tokens=200_000, cached_input_tokens=100_000, output_tokens=1000)
    assert micros(usage, "gemini-1.5-flash") == 17_475


# -------------------------------------------------------------------------------- unpriced and rounding


def test_unpriced_models_cost_none_never_zero() -> None:
    # gemini/reasoning.json's model gemini-3-pro-preview is not in the catalog.
    cost = cost_of(Usage(input_tokens=29, output_tokens=1737, reasoning_tokens=1001), None)
    assert cost == UNPRICED
    assert (cost.usd, cost.micros, cost.unpriced) == (None, None, True)
    assert estimate_cost(1000, 100, None) == UNPRICED


@pytest.mark.parametrize(
    ("input_tokens", "expected"),
    [
        (10, 1),  # gpt-5-nano in 0.05: 10 * 0.05 = 0.5 -> 1 (half up; banker's rounding would give 0)
        (50, 3),  # 2.5 -> 3 (banker's: 2)
        (9, 0),  # 0.45 -> 0
        (30, 2),  # 1.5 -> 2
    ],
)
def test_rounding_is_half_up_at_half_a_micro_dollar(input_tokens: int, expected: int) -> None:
    assert micros(Usage(input_tokens=input_tokens), "gpt-5-nano") == expected


def test_rounding_happens_once_at_the_end() -> None:
    # gpt-5-nano: 8 input * 0.05 = 0.4 and 1 output * 0.40 = 0.4. Rounded per class: 0 + 0 = 0.
    # Rounded once: 0.8 -> 1 micro.
    cost = cost_of(Usage(input_tokens=8, output_tokens=1), model("gpt-5-nano"))
    assert cost.usd == Decimal("0.0000008")
    assert cost.micros == 1


def test_zero_usage_is_a_real_zero() -> None:
    assert cost_of(Usage(), model("gpt-4o")) == Cost(usd=Decimal(0), micros=0, unpriced=False)


def test_the_callers_decimal_context_does_not_matter() -> None:
    usage = Usage(input_tokens=2066, cached_input_tokens=2055, output_tokens=100)
    with localcontext() as ctx:
        ctx.prec = 3
        assert cost_of(usage, model("claude-sonnet-4")).micros == 2150


def test_over_reported_cache_tokens_do_not_refund() -> None:
    # cached 700 > input 500 (inconsistent usage): uncached is 0, not -200.
    # gpt-4o: 700 * 1.25 = 875 micros
    assert micros(Usage(input_tokens=500, cached_input_tokens=700), "gpt-4o") == 875


def test_negative_counts_are_a_bug() -> None:
    with pytest.raises(ValueError, match="output_tokens"):
        cost_of(Usage(input_tokens=1, output_tokens=-1), model("gpt-4o"))


@given(
    input_tokens=st.integers(0, 2_000_000),
    output_tokens=st.integers(0, 200_000),
    reasoning=st.integers(0, 200_000),
    cached_share=st.floats(0, 1),
    name=st.sampled_from(["gpt-5.4", "claude-sonnet-4", "gemini-2.5-pro", "gpt-4o-mini", "gpt-5.6-luna"]),
)
def test_cost_properties(input_tokens: int, output_tokens: int, reasoning: int, cached_share: float, name: str) -> None:
    cached = int(input_tokens * cached_share)
    usage = Usage(input_tokens=input_tokens, cached_input_tokens=cached, output_tokens=output_tokens)
    cost = cost_of(usage, model(name))
    assert cost.usd is not None
    assert cost.micros is not None
    assert cost.micros >= 0
    assert abs(Decimal(cost.micros) - cost.usd * 1_000_000) <= Decimal("0.5")
    # Reasoning is a breakdown inside output: it never changes the cost.
    with_reasoning = Usage(
        input_tokens=input_tokens, cached_input_tokens=cached, output_tokens=output_tokens, reasoning_tokens=reasoning
    )
    assert cost_of(with_reasoning, model(name)) == cost
    # Never more than the same prompt fully uncached (cache reads are never dearer than input).
    uncached = cost_of(Usage(input_tokens=input_tokens, output_tokens=output_tokens), model(name))
    assert uncached.usd is not None
    assert cost.usd <= uncached.usd


# ------------------------------------------------------------------------------------- display helpers


@pytest.mark.parametrize(
    ("value", "text", "number"),
    [
        (0, "0.000000", 0.0),
        (1, "0.000001", 0.000001),
        (1500, "0.001500", 0.0015),
        (2150, "0.002150", 0.00215),
        (1_095_000, "1.095000", 1.095),
        (123_456_789, "123.456789", 123.456789),
    ],
)
def test_usd_formatting(value: int, text: str, number: float) -> None:
    assert format_usd(value) == text
    assert usd_display(value) == number


# ---------------------------------------------------------------------------------------- estimates


def test_estimate_uses_the_output_reserve() -> None:
    # gpt-4o: 1000 * 2.50 + 500 * 10.00 = 2500 + 5000 = 7500 micros
    assert estimate_cost(1000, 500, model("gpt-4o")).micros == 7500


def test_estimate_defaults_and_caps_the_reserve_at_the_model_max_output() -> None:
    # No max_tokens: the model's max output 16384 -> 2500 + 16384 * 10.00 = 166340
    assert estimate_cost(1000, None, model("gpt-4o")).micros == 166_340
    # max_tokens above the model's max output is capped to 16384: same figure.
    assert estimate_cost(1000, 100_000, model("gpt-4o")).micros == 166_340


def test_estimate_without_a_known_max_output_uses_the_default_reserve() -> None:
    # gemini-4-argon has no max output: 1000 * 2.00 + 4096 * 10.00 = 2000 + 40960 = 42960
    assert DEFAULT_OUTPUT_RESERVE == 4096
    assert estimate_cost(1000, None, model("gemini-4-argon")).micros == 42_960


def test_estimate_uses_the_long_context_tier() -> None:
    # gpt-5.4, 300000 prompt tokens (> 272k): 300000 * 5.00 + 1000 * 22.50 = 1500000 + 22500 = 1522500
    assert estimate_cost(300_000, 1000, model("gpt-5.4")).micros == 1_522_500


def test_estimate_is_an_upper_bound_of_the_same_request_uncached() -> None:
    entry = model("claude-haiku-4-5")
    estimate = estimate_cost(5000, 800, entry)
    actual = cost_of(Usage(input_tokens=5000, cached_input_tokens=3000, output_tokens=200), entry)
    assert estimate.usd is not None
    assert actual.usd is not None
    assert actual.usd <= estimate.usd


def test_estimate_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="negative"):
        estimate_cost(-1, 10, model("gpt-4o"))
