"""The shared breaker record and its pure transitions: closed -> open -> half-open -> closed.

One record per scope lives in the document store (collection `breakers`, doc id = the scope string).
Every transition is a new record with `version + 1` of the one its writer last saw, written with
`put_if_newer`, so concurrent writers produce one transition and nothing moves backwards. Half-open is
not stored: it is an open record whose `open_until` (wall clock, shared by every instance) has passed.

Trip counting: a probe failure re-opens with `trips + 1` and a longer period. A probe success closes
but keeps `trips` in the record; the next trip continues the count only when it comes within
`open_max_seconds` of that close (a flapping route keeps backing off), else it starts again at 1 (a
route that stayed healthy for a while earns the short period back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeGuard

from shared.breakers.policy import BreakerPolicy
from shared.store.port import Document

__all__ = ["BreakerRecord", "Phase", "StoredState", "closed_after_probe", "opened", "phase", "reopened", "should_trip"]

StoredState = Literal["open", "closed"]
Phase = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerRecord:
    scope: str
    state: StoredState
    version: int
    open_until: float  # wall clock; meaningful while open
    trips: int
    reason: str  # the error kind that tripped it
    updated_at: float  # wall clock of the transition

    def to_doc(self) -> Document:
        return {
            "scope": self.scope,
            "state": self.state,
            "version": self.version,
            "open_until": self.open_until,
            "trips": self.trips,
            "reason": self.reason,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_doc(cls, doc: Document) -> BreakerRecord | None:
        """The record, or None when the document is not a valid breaker record (then it is ignored)."""
        state, version, trips = doc.get("state"), doc.get("version"), doc.get("trips")
        open_until, updated_at = doc.get("open_until"), doc.get("updated_at")
        scope, reason = doc.get("scope"), doc.get("reason", "")
        if (
            isinstance(scope, str)
            and state in ("open", "closed")
            and _is_int(version)
            and _is_int(trips)
            and _is_number(open_until)
            and _is_number(updated_at)
            and isinstance(reason, str)
        ):
            return cls(
                scope=scope,
                state="open" if state == "open" else "closed",
                version=version,
                open_until=float(open_until),
                trips=trips,
                reason=reason,
                updated_at=float(updated_at),
            )
        return None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def phase(record: BreakerRecord | None, now: float) -> Phase:
    """What a caller sees at wall-clock `now`."""
    if record is None or record.state == "closed":
        return "closed"
    return "open" if now < record.open_until else "half_open"


def should_trip(outcomes: int, failures: int, policy: BreakerPolicy) -> bool:
    """The window's verdict: enough volume, and a failure ratio at or above the threshold."""
    return failures > 0 and outcomes >= policy.min_requests and failures / outcomes >= policy.failure_ratio


def opened(record: BreakerRecord | None, scope: str, now: float, reason: str, policy: BreakerPolicy) -> BreakerRecord:
    """A closed (or never seen) breaker trips."""
    recent = record is not None and record.trips > 0 and now - record.updated_at < policy.open_max_seconds
    trips = record.trips + 1 if record is not None and recent else 1
    return BreakerRecord(
        scope=scope,
        state="open",
        version=(record.version if record is not None else 0) + 1,
        open_until=now + policy.open_period(trips),
        trips=trips,
        reason=reason,
        updated_at=now,
    )


def reopened(record: BreakerRecord, now: float, reason: str, policy: BreakerPolicy) -> BreakerRecord:
    """The half-open probe failed: open again, for longer."""
    trips = record.trips + 1
    return replace(
        record,
        state="open",
        version=record.version + 1,
        open_until=now + policy.open_period(trips),
        trips=trips,
        reason=reason or record.reason,
        updated_at=now,
    )


def closed_after_probe(record: BreakerRecord, now: float) -> BreakerRecord:
    """The half-open probe succeeded. `trips` and `reason` stay for the health view and for `opened`."""
    return replace(record, state="closed", version=record.version + 1, updated_at=now)
