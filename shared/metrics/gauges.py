"""Per-instance gauges in the live metrics: a value each instance reports, summed over the instances alive.

The one gauge today is the usage-event backlog (events accepted and not yet written or acknowledged,
architecture Live metrics and health): each chat instance reports its own, health shows the total.

Layout: one hash per gauge and minute, `{prefix}g:{name}:{minute}`, with one field per instance (its id)
holding the instance's latest value, written with HSET (a value, not a delta) and kept two minutes past
its minute. An instance writes when its value changes and at least once in every minute it is alive, on
the live metrics' flush (no extra round trip: the same pipeline). A reader takes, for each instance, the
value in the newest of the current and previous minute; an instance gone for two minutes drops out, so a
crashed instance's backlog does not count forever. This instance's own value is read live, not from the
backend.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from shared.metrics.backends import BucketWrite, MetricsBackend
from shared.metrics.buckets import MINUTE, minute_of

__all__ = ["EVENTS_BACKLOG", "GaugeTotal", "Gauges"]

EVENTS_BACKLOG = "events_backlog"  # each chat instance's usage-event backlog (shared.api.deps), health's total

_KEEP = 2 * MINUTE  # seconds a minute's hash lives past its minute
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GaugeTotal:
    """A gauge summed over the instances that reported it in the last two minutes (this one included)."""

    total: int
    instances: int
    complete: bool  # False: the backend did not answer, so this is this instance's value alone


class Gauges:
    def __init__(self, prefix: str, instance: str | None = None) -> None:
        self.instance = instance or uuid.uuid4().hex[:12]
        self._prefix = prefix
        self._sources: dict[str, Callable[[], int]] = {}
        self._written: dict[str, tuple[int, int]] = {}  # name -> (minute, value) last written

    def register(self, name: str, read: Callable[[], int]) -> None:
        """Report `read()` as this instance's value of `name` from now on (`read` must be cheap, no I/O)."""
        self._sources[name] = read

    def __bool__(self) -> bool:
        return bool(self._sources)

    def key(self, name: str, minute: int) -> str:
        return f"{self._prefix}g:{name}:{minute}"

    def _value(self, name: str) -> int | None:
        try:
            value = int(self._sources[name]())
        except Exception as exc:  # a gauge never breaks the flush
            _log.warning("live metrics: gauge %s could not be read (%s)", name, type(exc).__name__)
            return None
        return max(0, value)

    def due(self, now: float) -> list[tuple[str, int, int, BucketWrite]]:
        """(name, minute, value, write) for each gauge whose value or minute changed since it was written."""
        minute = minute_of(now)
        found = []
        for name in self._sources:
            value = self._value(name)
            if value is None or self._written.get(name) == (minute, value):
                continue
            expire_ms = math.ceil((minute + MINUTE + _KEEP - now) * 1000)
            write = BucketWrite(self.key(name, minute), {}, {}, expire_ms, gauges={self.instance: value})
            found.append((name, minute, value, write))
        return found

    def written(self, name: str, minute: int, value: int) -> None:
        self._written[name] = (minute, value)

    async def total(self, backend: MetricsBackend, name: str, now: float) -> GaugeTotal:
        """`name` summed over the instances alive (module docstring); raises nothing."""
        minute = minute_of(now)
        values: dict[str, float] = {}
        complete = True
        try:
            previous, current = await backend.read([self.key(name, minute - MINUTE), self.key(name, minute)])
            values = {**previous, **current}  # the newer minute wins per instance
        except Exception as exc:
            _log.warning("live metrics: gauge %s could not be read back (%s)", name, type(exc).__name__)
            complete = False
        if name in self._sources:
            own = self._value(name)
            if own is not None:
                values[self.instance] = float(own)
        return GaugeTotal(total=round(sum(values.values())), instances=len(values), complete=complete)
