"""`CacheBreaker`: the small, process-local circuit breaker that keeps a dead Redis off the hot path.

Not the route/credential breakers of the architecture (those are shared through the document store):
this one only decides, per instance, whether the next cache call may touch the network at all.

    closed --N consecutive failures--> open --interval passed--> half-open --probe ok--> closed
                                         ^                           |
                                         +-------probe failed--------+   (interval grows, capped)

- Consecutive failures rather than a ratio: cache calls are many and alike, and Redis trouble is
  all-or-nothing (down, unreachable, refusing AUTH), so a run of failures is the clearest signal.
- Open: `allow()` says no, and the adapter answers with a miss / no-op without a network call.
- Half-open: exactly one caller is let through as the probe. Its outcome decides; if it never
  reports (cancelled with the request), the probe lease lapses after `probe_timeout_seconds`.
- Each trip in a row opens for longer (`open_seconds * growth**(trips-1)`, at most
  `max_open_seconds`); closing resets it. No jitter: the breaker is per instance and lets one
  probe through, so instances cannot stampede Redis together.
- Transitions are logged (they are rare by construction); the clock is injected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from shared.clock import Clock, SystemClock

__all__ = ["BreakerPolicy", "BreakerState", "CacheBreaker"]

BreakerState = Literal["closed", "open", "half_open"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failure_threshold: int = 5
    open_seconds: float = 1.0
    max_open_seconds: float = 30.0
    growth: float = 2.0
    probe_timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if not 0 < self.open_seconds <= self.max_open_seconds:
            raise ValueError("need 0 < open_seconds <= max_open_seconds")
        if self.growth < 1:
            raise ValueError("growth must be at least 1")
        if not self.probe_timeout_seconds > 0:
            raise ValueError("probe_timeout_seconds must be positive")

    def open_interval(self, trips: int) -> float:
        """How long the breaker stays open after its `trips`-th trip in a row (1-based)."""
        return float(min(self.max_open_seconds, self.open_seconds * self.growth ** max(0, trips - 1)))


class CacheBreaker:
    """Consecutive-failure breaker with a growing open interval and a single half-open probe."""

    def __init__(self, policy: BreakerPolicy | None = None, *, clock: Clock | None = None, name: str = "redis") -> None:
        self.policy = policy or BreakerPolicy()
        self.name = name
        self._clock = clock or SystemClock()
        self._state: BreakerState = "closed"
        self._failures = 0  # consecutive, while closed
        self._trips = 0  # consecutive trips without closing in between
        self._open_until = 0.0
        self._probe_until: float | None = None  # half-open: the running probe's lease

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def trips(self) -> int:
        return self._trips

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def open_remaining(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state != "open":
            return 0.0
        return max(0.0, self._open_until - self._clock.monotonic())

    def allow(self) -> bool:
        """May the next call touch the backend? In half-open, `True` makes the caller the probe."""
        if self._state == "closed":
            return True
        now = self._clock.monotonic()
        if self._state == "open":
            if now < self._open_until:
                return False
            self._state = "half_open"
        elif self._probe_until is not None and now < self._probe_until:
            return False  # half-open with a live probe: everyone else waits for its verdict
        self._probe_until = now + self.policy.probe_timeout_seconds
        return True

    def record_success(self) -> None:
        if self._state == "closed":
            self._failures = 0
        elif self._state == "half_open":
            _log.warning("cache breaker %s closed: the probe succeeded after %d trip(s)", self.name, self._trips)
            self._state = "closed"
            self._failures = 0
            self._trips = 0
            self._probe_until = None
        # open: a late success from before the trip; only the probe decides when to close

    def record_failure(self) -> None:
        if self._state == "closed":
            self._failures += 1
            if self._failures >= self.policy.failure_threshold:
                self._trip(f"{self._failures} consecutive failures")
        elif self._state == "half_open":
            self._trip("the probe failed")
        # open: a late failure from before the trip changes nothing

    def release(self) -> None:
        """The call `allow()` let through ended without a verdict (cancelled): free the probe slot."""
        if self._state == "half_open":
            self._probe_until = None

    def _trip(self, reason: str) -> None:
        self._trips += 1
        interval = self.policy.open_interval(self._trips)
        self._state = "open"
        self._open_until = self._clock.monotonic() + interval
        self._failures = 0
        self._probe_until = None
        _log.warning("cache breaker %s opened for %.1f s (%s; trip %d)", self.name, interval, reason, self._trips)
