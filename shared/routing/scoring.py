"""The routing score (architecture, Routing), lower wins:

    (1 - w) * price / cheapest_price + w * latency / fastest_latency

Zero is a real value for both (a free preview model; a latency measured as 0 by a coarse clock), and a
ratio against zero is undefined. Each value is therefore floored before dividing: prices at one micro-dollar
(the smallest amount the gateway bills), latencies at one millisecond. So a zero-priced model against a
zero cheapest price has a price term of exactly 1 (it *is* the cheapest), and a priced model against a free
one gets a large but finite ratio (price in micro-dollars), which keeps the ordering total and meaningful.
"""

from __future__ import annotations

import math

__all__ = ["LATENCY_FLOOR_S", "PRICE_FLOOR_USD", "score"]

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
