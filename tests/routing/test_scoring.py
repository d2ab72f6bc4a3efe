from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.routing.scoring import LATENCY_FLOOR_S, PRICE_FLOOR_USD, score, scores


def test_the_cheapest_and_fastest_scores_one() -> None:
    assert score(0.02, 0.02, 0.5, 0.5, 0.3) == pytest.approx(1.0)


def test_formula() -> None:
    # (1 - 0.3) * 0.04/0.02 + 0.3 * 1.5/0.5
    assert score(0.04, 0.02, 1.5, 0.5, 0.3) == pytest.approx(0.7 * 2 + 0.3 * 3)


def test_weight_zero_is_price_only_and_one_is_latency_only() -> None:
    assert score(0.04, 0.02, 100.0, 0.5, 0.0) == pytest.approx(2.0)
    assert score(100.0, 0.02, 1.0, 0.5, 1.0) == pytest.approx(2.0)


def test_zero_prices() -> None:
    # A free model against a free cheapest: price term 1. A priced model against a free one: a large, finite ratio.
    assert score(0.0, 0.0, 1.0, 1.0, 0.0) == pytest.approx(1.0)
    priced = score(0.01, 0.0, 1.0, 1.0, 0.0)
    assert math.isfinite(priced)
    assert priced == pytest.approx(0.01 / PRICE_FLOOR_USD)


def test_zero_latencies() -> None:
    assert score(1.0, 1.0, 0.0, 0.0, 1.0) == pytest.approx(1.0)
    assert score(1.0, 1.0, 0.5, 0.0, 1.0) == pytest.approx(0.5 / LATENCY_FLOOR_S)


@pytest.mark.parametrize(
    ("args", "what"),
    [
        ((-1.0, 1.0, 1.0, 1.0, 0.3), "price"),
        ((1.0, 1.0, math.nan, 1.0, 0.3), "latency"),
        ((1.0, 1.0, 1.0, math.inf, 0.3), "latency"),
        ((1.0, 1.0, 1.0, 1.0, 1.5), "weight"),
        ((1.0, 1.0, 1.0, 1.0, -0.1), "weight"),
    ],
)
def test_rejects_invalid_inputs(args: tuple[float, float, float, float, float], what: str) -> None:
    with pytest.raises(ValueError, match=what):
        score(*args)


money = st.floats(min_value=0, max_value=100, allow_nan=False)
seconds = st.floats(min_value=0, max_value=60, allow_nan=False)


@given(money, money, seconds, st.floats(min_value=0, max_value=1))
def test_cheaper_never_scores_worse(a: float, b: float, latency: float, weight: float) -> None:
    cheapest = min(a, b)
    low, high = sorted((a, b))
    assert score(low, cheapest, latency, latency, weight) <= score(high, cheapest, latency, latency, weight)


@given(money, seconds, st.floats(min_value=0, max_value=1))
def test_the_best_on_both_scores_one(price: float, latency: float, weight: float) -> None:
    assert score(price, price, latency, latency, weight) == pytest.approx(1.0)


@given(
    st.lists(st.tuples(st.one_of(st.none(), money), seconds), min_size=1, max_size=8),
    st.floats(min_value=0, max_value=1),
)
def test_scores_is_score_for_each_candidate_bit_for_bit(rows: list[tuple[float | None, float]], weight: float) -> None:
    prices = [p for p, _ in rows]
    latencies = [latency for _, latency in rows]
    known = [p for p in prices if p is not None]
    cheapest, fastest = min(known, default=0.0), min(latencies)
    expected = [1.0 if p is None else score(p, cheapest, lat, fastest, weight) for p, lat in rows]
    assert scores(prices, latencies, weight) == expected


@pytest.mark.parametrize(
    ("prices", "latencies", "weight", "what"),
    [
        ([0.01, -1.0], [0.5, 0.5], 0.3, "price"),
        ([0.01, 0.02], [0.5, math.nan], 0.3, "latency"),
        ([0.01, 0.02], [math.inf, 0.5], 0.3, "latency"),
        ([0.01], [0.5], 1.5, "weight"),
    ],
)
def test_scores_rejects_what_score_rejects(
    prices: list[float | None], latencies: list[float], weight: float, what: str
) -> None:
    with pytest.raises(ValueError, match=what):
        scores(prices, latencies, weight)


def test_scores_of_a_lone_unpriced_candidate_is_one_whatever_its_latency() -> None:
    assert scores([None], [math.nan], 0.3) == [1.0]
