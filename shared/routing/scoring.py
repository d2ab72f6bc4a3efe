"""The routing score (architecture, Routing), lower wins:

    (1 - w) * price / cheapest_price + w * latency / fastest_latency

Zero is a real value for both (a free preview model; a latency measured as 0 by a coarse clock), and a
ratio against zero is undefined. Each value is therefore floored before dividing: prices at one micro-dollar
(the smallest amount the gateway bills), latencies at one millisecond. So a zero-priced model against a
zero cheapest price has a price term of exactly 1 (it *is* the cheapest), and a priced model against a free
one gets a large but finite ratio (price in micro-dollars), which keeps the ordering total and meaningful.

`scores` is `score` over every candidate of one request at once (the router's hot path): the same
arithmetic in the same order, so the same floats, with the checks done inline; a value that fails them goes
through `score` itself, which raises its own error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["LATENCY_FLOOR_S", "PRICE_FLOOR_USD", "score", "scores"]

PRICE_FLOOR_USD = 1e-6
LATENCY_FLOOR_S = 1e-3


def _ratio(value: float, best: float, floor: float, what: str) -> float:
    if not (math.isfinite(value) and math.isfinite(best)) or value < 0 or best < 0:
        raise ValueError(f"{what} values must be finite and not negative, got {value} and {best}")
    return max(value, floor) / max(best, floor)


def score(price: float, cheapest_price: float, latency: float, fastest_latency: float, weight: float) -> float:
    """The score of one candidate against the cheapest price and fastest latency among all candidates."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be within [0, 1], got {weight}")
    price_term = _ratio(price, cheapest_price, PRICE_FLOOR_USD, "price")
    latency_term = _ratio(latency, fastest_latency, LATENCY_FLOOR_S, "latency")
    return (1.0 - weight) * price_term + weight * latency_term


def scores(prices: Sequence[float | None], latencies: Sequence[float], weight: float) -> list[float]:
    """Each candidate's `score` against the cheapest known price and the fastest latency of all of them.

    An unpriced candidate (price None) scores 1.0: only the lone requested model can be unpriced."""
    known = [p for p in prices if p is not None]
    if not known:
        return [1.0] * len(prices)
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be within [0, 1], got {weight}")
    cheapest, fastest = min(known), min(latencies)
    isfinite = math.isfinite
    valid_best = isfinite(cheapest) and isfinite(fastest) and cheapest >= 0 and fastest >= 0
    price_best, latency_best = max(cheapest, PRICE_FLOOR_USD), max(fastest, LATENCY_FLOOR_S)
    price_weight = 1.0 - weight
    out: list[float] = []
    for price, latency in zip(prices, latencies, strict=True):
        if price is None:
            out.append(1.0)
        elif valid_best and isfinite(price) and isfinite(latency) and price >= 0 and latency >= 0:
            # `x if x > floor else floor` is `max(x, floor)` without a call per value.
            out.append(
                price_weight * ((price if price > PRICE_FLOOR_USD else PRICE_FLOOR_USD) / price_best)
                + weight * ((latency if latency > LATENCY_FLOOR_S else LATENCY_FLOOR_S) / latency_best)
            )
        else:
            out.append(score(price, cheapest, latency, fastest, weight))  # raises, naming the bad value
    return out
