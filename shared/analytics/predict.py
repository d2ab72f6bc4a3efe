"""The cost projection for the next 30 days, from a daily cost series. Pure: numbers in, numbers out.

Method: with at least `MIN_TREND_DAYS` days, an ordinary least-squares line through (day index, cost)
extended over the horizon (each projected day clamped at 0: costs are never negative); with fewer, the
mean daily cost times the horizon. Uncertainty: a 95% band of ±1.96 · s · sqrt(horizon), where s is the
residual standard deviation (the sample standard deviation for the mean method), treating the days'
deviations as independent; it leaves out the uncertainty of the fitted line itself, so it is a lower
bound on the real spread, which the report says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["HORIZON_DAYS", "MIN_TREND_DAYS", "Projection", "project_costs"]

HORIZON_DAYS = 30
MIN_TREND_DAYS = 7
_Z95 = 1.96

Method = Literal["linear_trend", "mean", "none"]


@dataclass(frozen=True, slots=True)
class Projection:
    method: Method
    basis_days: int  # how many daily values the projection rests on
    horizon_days: int
    cost_micros: int | None  # None: no data to project from
    low_micros: int | None
    high_micros: int | None
    slope_micros_per_day: float | None  # the trend's daily change (linear_trend only)


def _fit(values: Sequence[int]) -> tuple[float, float, float]:
    """Least squares y = a + b·x over x = 0..n-1: (a, b, residual standard deviation with n-2 dof)."""
    n = len(values)
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    sxx = sum((x - mean_x) ** 2 for x in range(n))
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    sse = sum((y - (intercept + slope * x)) ** 2 for x, y in enumerate(values))
    return intercept, slope, math.sqrt(sse / (n - 2))


def _band(total: float, spread: float, horizon: int) -> tuple[int, int, int]:
    half = _Z95 * spread * math.sqrt(horizon)
    return round(total), max(0, round(total - half)), round(total + half)


def project_costs(daily_micros: Sequence[int], horizon: int = HORIZON_DAYS) -> Projection:
    """Projected cost of the next `horizon` days from consecutive daily costs (oldest first, gaps as 0)."""
    n = len(daily_micros)
    if n == 0:
        return Projection("none", 0, horizon, None, None, None, None)
    if n < MIN_TREND_DAYS:
        mean = sum(daily_micros) / n
        spread = math.sqrt(sum((y - mean) ** 2 for y in daily_micros) / (n - 1)) if n > 1 else 0.0
        cost, low, high = _band(mean * horizon, spread, horizon)
        return Projection("mean", n, horizon, cost, low, high, None)
    intercept, slope, spread = _fit(daily_micros)
    total = sum(max(0.0, intercept + slope * x) for x in range(n, n + horizon))
    cost, low, high = _band(total, spread, horizon)
    return Projection("linear_trend", n, horizon, cost, low, high, slope)
