"""The circuit breakers' tuning: one frozen policy object, built from settings at the edge.

Every number the breakers use lives here, so the state logic, the window and the shared board take
one value instead of a handful of loose floats (style.md, 8 and 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings

__all__ = ["BreakerPolicy"]


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    # Failure ratio over a sliding window, counted only once the window holds `min_requests` outcomes.
    window_seconds: float = 60.0
    min_requests: int = 5
    failure_ratio: float = 0.5
    # Trip n (1-based) opens for min(open_max_seconds, open_seconds * growth ** (n - 1)).
    open_seconds: float = 30.0
    open_max_seconds: float = 600.0
    growth: float = 2.0
    # A probe whose outcome never arrives (crashed instance, cancelled request) lets another probe go after this.
    probe_timeout_seconds: float = 30.0
    # The shared mirror is reloaded at request start when older than this, waiting at most `max_wait_seconds`.
    refresh_seconds: float = 2.0
    max_wait_seconds: float = 0.005

    def __post_init__(self) -> None:
        positive = {
            "window_seconds": self.window_seconds,
            "open_seconds": self.open_seconds,
            "open_max_seconds": self.open_max_seconds,
            "probe_timeout_seconds": self.probe_timeout_seconds,
            "refresh_seconds": self.refresh_seconds,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"BreakerPolicy.{name} must be positive, got {value!r}")
        if self.min_requests < 1:
            raise ValueError(f"BreakerPolicy.min_requests must be at least 1, got {self.min_requests!r}")
        if not 0.0 <= self.failure_ratio <= 1.0:
            raise ValueError(f"BreakerPolicy.failure_ratio must be within [0, 1], got {self.failure_ratio!r}")
        if self.growth < 1.0:
            raise ValueError(f"BreakerPolicy.growth must be at least 1, got {self.growth!r}")
        if self.max_wait_seconds < 0:
            raise ValueError(f"BreakerPolicy.max_wait_seconds must not be negative, got {self.max_wait_seconds!r}")

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerPolicy:
        return cls(
            window_seconds=settings.breaker_window_seconds,
            min_requests=settings.breaker_min_requests,
            failure_ratio=settings.breaker_failure_ratio,
            open_seconds=settings.breaker_open_seconds,
            open_max_seconds=settings.breaker_open_max_seconds,
            refresh_seconds=settings.breaker_refresh_seconds,
        )

    def open_period(self, trips: int) -> float:
        """Seconds the breaker stays open on trip number `trips` (1-based): grows on repeated trips, capped."""
        try:
            period = self.open_seconds * self.growth ** max(0, trips - 1)
        except OverflowError:  # a breaker that keeps failing long past the cap
            return self.open_max_seconds
        return float(min(self.open_max_seconds, period))
