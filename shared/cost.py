"""Cost of a request from the provider's reported usage: Decimal arithmetic, token class by token class.

One formula serves all three providers, because `shared.unified.Usage` already normalizes their usage
objects (providers.md 1.2, 2.2, 3.2, 6):

    uncached = input_tokens - cached_input_tokens - cache_write_tokens - cache_write_1h_tokens
    cost     = uncached * input + cached_input_tokens * cached_input
             + cache_write_tokens * cache_write_5m + cache_write_1h_tokens * cache_write_1h
             + output_tokens * output                         (prices per 1M tokens)

- OpenAI (pricing.md "Cost formulas"): `(prompt - cached)*in + cached*cached + completion*out`. Its rows
  have no cache-write price except gpt-5.6-*, so reported cache writes cost `input` there: the same sum.
- Anthropic: `input_tokens` on the wire excludes cache tokens; the adapter adds them back, so `uncached`
  is Anthropic's own `input_tokens`, 5m writes cost 1.25x input, 1h writes 2x, reads 0.1x (the row's prices).
- Gemini: `(promptTokenCount - cachedContentTokenCount)*in + cached*cached + (candidates + thoughts)*out`;
  the adapter already folds thoughts into `output_tokens`.
- Reasoning tokens are a breakdown inside `output_tokens` and are never billed twice.
- Long context: when `input_tokens` (all prompt tokens: OpenAI prompt_tokens, Anthropic total input,
  Gemini promptTokenCount) exceeds the row's threshold, the *whole* request uses the long-context prices.

Rounding happens once, at the end: the exact sum (in micro-USD, since prices are per 1M tokens a token
count times a price *is* micro-USD) is rounded ROUND_HALF_UP to whole micro-dollars. Unpriced models
(no catalog row) cost `None`, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

from shared.catalog import CatalogModel
from shared.unified import Usage

__all__ = [
    "DEFAULT_OUTPUT_RESERVE",
    "UNPRICED",
    "Cost",
    "Rates",
    "cost_of",
    "estimate_cost",
    "format_usd",
    "rates_for",
    "usd_display",
]

# Output tokens reserved by `estimate_cost` when neither the request nor the catalog gives a bound
# (providers.md 7: "Reserve max_tokens (or a model default) for output cost").
DEFAULT_OUTPUT_RESERVE = 4096

_MICROS_PER_USD = Decimal(1_000_000)
# Token counts (< 10**12) times prices with a few decimals need ~20 significant digits; 50 leaves no
# room for an inexact intermediate, whatever the caller's thread-local decimal context says.
_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Cost:
    """A request's cost. `usd` is exact (unrounded); `micros` is what events store and replies show.

    Unpriced (the model has no catalog row): `usd` and `micros` are None and `unpriced` is True.
    """

    usd: Decimal | None
    micros: int | None
    unpriced: bool


UNPRICED = Cost(usd=None, micros=None, unpriced=True)


@dataclass(frozen=True, slots=True)
class Rates:
    """The per-1M-token prices that apply to one request, every token class resolved to a number."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    long_context: bool


def rates_for(entry: CatalogModel, input_tokens: int) -> Rates:
    """The prices for a request with `input_tokens` prompt tokens (long-context tier above the threshold)."""
    base = entry.prices
    tier = entry.long_context
    if tier is not None and input_tokens > tier.threshold:
        # A token class the long tier leaves null keeps its standard price (catalog convention).
        input_price = tier.input
        output_price = tier.output
        cached = tier.cached_input if tier.cached_input is not None else base.cached_input
        write_5m = tier.cache_write_5m if tier.cache_write_5m is not None else base.cache_write_5m
        write_1h = tier.cache_write_1h if tier.cache_write_1h is not None else base.cache_write_1h
        long_context = True
    else:
        input_price, output_price = base.input, base.output
        cached, write_5m, write_1h = base.cached_input, base.cache_write_5m, base.cache_write_1h
        long_context = False
    # A token class the row has no price for (e.g. cache reads reported on gpt-4, or cache writes on an
    # OpenAI row without a write price) is billed at the input price: the provider charged them as
    # prompt tokens, and this never under-bills a discount we cannot see.
    return Rates(
        input=input_price,
        output=output_price,
        cached_input=cached if cached is not None else input_price,
        cache_write_5m=write_5m if write_5m is not None else input_price,
        cache_write_1h=write_1h if write_1h is not None else input_price,
        long_context=long_context,
    )


def _check_counts(usage: Usage) -> None:
    for name in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "cache_write_1h_tokens"):
        if getattr(usage, name) < 0:
            raise ValueError(f"usage.{name} is negative: {getattr(usage, name)}")


def _finish(micros_exact: Decimal) -> Cost:
    micros = int(micros_exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return Cost(usd=micros_exact / _MICROS_PER_USD, micros=micros, unpriced=False)


def cost_of(usage: Usage, entry: CatalogModel | None) -> Cost:
    """The cost of one request from its reported usage. `entry` None (an unpriced model): unpriced."""
    if entry is None:
        return UNPRICED
    _check_counts(usage)
    rates = rates_for(entry, usage.input_tokens)
    with localcontext(_CONTEXT):
        # Defensive: a provider reporting more cached+written than prompt tokens must not yield a
        # negative uncached count (it would refund tokens); the classes it did report are still billed.
        uncached = max(
            0,
            usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens - usage.cache_write_1h_tokens,
        )
        # Token count x USD per 1M tokens = micro-USD, exactly.
        micros_exact = (
            uncached * rates.input
            + usage.cached_input_tokens * rates.cached_input
            + usage.cache_write_tokens * rates.cache_write_5m
            + usage.cache_write_1h_tokens * rates.cache_write_1h
            + usage.output_tokens * rates.output
        )
        return _finish(micros_exact)


def estimate_cost(input_tokens: int, max_output_tokens: int | None, entry: CatalogModel | None) -> Cost:
    """An upper-bound cost before the call, for routing: every prompt token uncached at the input price
    (of the tier the prompt falls in) plus the whole output reserve at the output price.

    The output reserve is `max_output_tokens`, capped at the model's max output when known; without a
    request value it is the model's max output, else DEFAULT_OUTPUT_RESERVE. Cache reads (cheaper) are
    not assumed; Anthropic cache writes (dearer) cannot be known before the call and are not included.
    """
    if entry is None:
        return UNPRICED
    if input_tokens < 0 or (max_output_tokens is not None and max_output_tokens < 0):
        raise ValueError("token counts must not be negative")
    reserve = max_output_tokens if max_output_tokens is not None else (entry.max_output or DEFAULT_OUTPUT_RESERVE)
    if entry.max_output is not None:
        reserve = min(reserve, entry.max_output)
    rates = rates_for(entry, input_tokens)
    with localcontext(_CONTEXT):
        return _finish(input_tokens * rates.input + reserve * rates.output)


def usd_display(micros: int) -> float:
    """USD as the JSON number replies show (`usage.cost`): 6 decimals."""
    return round(micros / 1_000_000, 6)


def format_usd(micros: int) -> str:
    """USD with exactly 6 decimals, e.g. 1500 -> "0.001500" (headers such as x-gateway-cost-usd)."""
    return f"{Decimal(micros).scaleb(-6):.6f}"
