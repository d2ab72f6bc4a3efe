"""Backoff and jitter: the one place that decides how long to wait before trying again.

Full jitter (a uniform draw between 0 and the capped exponential step: base 0.25 s, cap 8 s) spreads
retries of many instances apart. A provider's own hint (`retry-after`, `retry-after-ms`, Gemini
`RetryInfo`) is obeyed when it is short enough; a longer hint means "not this provider, not now": the
caller fails over (or gives up) at once instead of holding the request (architecture, Routing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    base_seconds: float = 0.25
    cap_seconds: float = 8.0
    max_retry_after_seconds: float = 10.0
    # All the waiting one request may do across its retries; a request is not held longer than this.
    max_total_wait_seconds: float = 10.0

    def delay(self, retry: int, retry_after: float | None, random: Callable[[], float]) -> float | None:
        """Seconds to wait before retry number `retry` (1-based), or `None` when it should not happen:
        retries used up, or the provider asked for a longer wait than the gateway holds a request."""
        if retry > self.max_retries:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_seconds else None
        step = min(self.cap_seconds, self.base_seconds * 2.0 ** (retry - 1))
        return float(random() * step)
