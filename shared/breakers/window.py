"""A sliding window of request outcomes for one breaker scope, counted locally by each instance.

Fixed memory: the window is cut into `buckets` slices of `span / buckets` seconds each, and a slice is
reused (zeroed) once it falls out of the window, so old failures are forgotten with a granularity of
one slice. Times are monotonic seconds: counting never depends on the wall clock.
"""

from __future__ import annotations

import math

__all__ = ["OutcomeWindow"]


class OutcomeWindow:
    def __init__(self, span_seconds: float, buckets: int = 10) -> None:
        if span_seconds <= 0 or buckets < 1:
            raise ValueError("an OutcomeWindow needs a positive span and at least one bucket")
        self._width = span_seconds / buckets
        self._slots = [-1] * buckets  # the absolute slice number each bucket currently holds
        self._total = [0] * buckets
        self._failed = [0] * buckets

    def add(self, now: float, *, ok: bool) -> None:
        index = self._bucket(now)
        self._total[index] += 1
        if not ok:
            self._failed[index] += 1

    def counts(self, now: float) -> tuple[int, int]:
        """(outcomes, failures) within the window ending at `now`."""
        current = self._slice(now)
        oldest = current - len(self._slots) + 1
        total = failed = 0
        for slot, count, failures in zip(self._slots, self._total, self._failed, strict=True):
            if oldest <= slot <= current:
                total += count
                failed += failures
        return total, failed

    def _slice(self, now: float) -> int:
        return math.floor(now / self._width)

    def _bucket(self, now: float) -> int:
        current = self._slice(now)
        index = current % len(self._slots)
        if self._slots[index] != current:
            self._slots[index] = current
            self._total[index] = 0
            self._failed[index] = 0
        return index
