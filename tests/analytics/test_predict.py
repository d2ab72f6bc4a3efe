"""The 30-day cost projection on synthetic series: flat, rising, short, noisy, empty, never negative."""

from __future__ import annotations

import pytest

from shared.analytics.predict import MIN_TREND_DAYS, project_costs


def test_empty_series_projects_nothing() -> None:
    p = project_costs([])
    assert (p.method, p.cost_micros, p.low_micros, p.high_micros) == ("none", None, None, None)


def test_flat_series_projects_the_same_daily_cost_with_no_band() -> None:
    p = project_costs([1_000] * 14)
    assert (p.method, p.basis_days, p.cost_micros, p.low_micros, p.high_micros) == (
        "linear_trend",
        14,
        30_000,
        30_000,
        30_000,
    )
    assert p.slope_micros_per_day == pytest.approx(0.0)


def test_rising_series_continues_the_line() -> None:
    p = project_costs([100 * d for d in range(1, 11)])  # 100, 200, ... 1000: slope 100 a day
    assert p.method == "linear_trend"
    assert p.slope_micros_per_day == pytest.approx(100.0)
    assert p.cost_micros == sum(100 * d for d in range(11, 41))  # days 11..40 on the same line
    assert p.low_micros == p.high_micros == p.cost_micros  # a perfect line leaves no residual


def test_noise_widens_the_band_around_the_estimate() -> None:
    p = project_costs([1_000, 1_200, 800, 1_100, 900, 1_050, 950, 1_000])
    assert p.cost_micros is not None
    assert p.low_micros is not None
    assert p.high_micros is not None
    assert p.low_micros < p.cost_micros < p.high_micros
    assert p.high_micros - p.cost_micros == pytest.approx(p.cost_micros - p.low_micros, abs=1)
    assert 20_000 < p.cost_micros < 40_000


def test_short_series_uses_the_mean() -> None:
    assert project_costs([100] * MIN_TREND_DAYS).method == "linear_trend"
    p = project_costs([100, 300])
    assert (p.method, p.basis_days, p.cost_micros) == ("mean", 2, 6_000)
    assert p.low_micros is not None
    assert p.high_micros is not None
    assert p.low_micros < 6_000 < p.high_micros


def test_one_day_has_no_spread_and_falling_costs_never_go_negative() -> None:
    assert project_costs([500]).cost_micros == 15_000
    falling = project_costs([7_000, 6_000, 5_000, 4_000, 3_000, 2_000, 1_000])
    assert falling.cost_micros == 0
    assert falling.low_micros == 0
