from __future__ import annotations

import pytest

from shared.breakers.policy import BreakerPolicy
from shared.breakers.state import BreakerRecord, closed_after_probe, opened, phase, reopened, should_trip

POLICY = BreakerPolicy()
SCOPE = "route:openai:gpt-4o"
T0 = 1_800_000_000.0


@pytest.mark.parametrize(
    ("outcomes", "failures", "trips"),
    [
        (10, 4, False),  # below the ratio
        (10, 5, True),  # at the ratio
        (4, 4, False),  # all failed, but below the minimum volume
        (5, 3, True),
        (5, 2, False),
        (0, 0, False),
    ],
)
def test_should_trip(outcomes: int, failures: int, trips: bool) -> None:
    assert should_trip(outcomes, failures, POLICY) is trips


def test_a_zero_ratio_still_needs_a_failure() -> None:
    assert not should_trip(10, 0, BreakerPolicy(failure_ratio=0.0))
    assert should_trip(10, 1, BreakerPolicy(failure_ratio=0.0))


def test_exact_ratios_are_not_lost_to_float_rounding() -> None:
    assert should_trip(30, 3, BreakerPolicy(failure_ratio=0.1))


def test_phases() -> None:
    record = opened(None, SCOPE, T0, "overloaded", POLICY)
    assert phase(None, T0) == "closed"
    assert phase(record, T0) == "open"
    assert phase(record, T0 + 29.9) == "open"
    assert phase(record, T0 + 30.0) == "half_open"
    assert phase(closed_after_probe(record, T0 + 31.0), T0 + 31.0) == "closed"


def test_first_trip() -> None:
    record = opened(None, SCOPE, T0, "timeout", POLICY)
    assert record == BreakerRecord(SCOPE, "open", 1, T0 + 30.0, 1, "timeout", T0)


def test_probe_failure_reopens_for_longer_and_success_closes() -> None:
    first = opened(None, SCOPE, T0, "timeout", POLICY)
    again = reopened(first, T0 + 30.0, "api_error", POLICY)
    assert (again.state, again.version, again.trips, again.reason) == ("open", 2, 2, "api_error")
    assert again.open_until == T0 + 30.0 + 60.0
    closed = closed_after_probe(again, T0 + 100.0)
    assert (closed.state, closed.version, closed.trips, closed.updated_at) == ("closed", 3, 2, T0 + 100.0)


def test_a_quick_retrip_keeps_growing_and_a_late_one_starts_over() -> None:
    closed = closed_after_probe(reopened(opened(None, SCOPE, T0, "timeout", POLICY), T0 + 30, "", POLICY), T0 + 90)
    quick = opened(closed, SCOPE, T0 + 90 + 599, "timeout", POLICY)
    assert (quick.trips, quick.version, quick.open_until) == (3, 4, T0 + 90 + 599 + 120.0)
    late = opened(closed, SCOPE, T0 + 90 + 600, "timeout", POLICY)
    assert (late.trips, late.version, late.open_until) == (1, 4, T0 + 90 + 600 + 30.0)


def test_documents_round_trip_and_bad_ones_are_ignored() -> None:
    record = opened(None, SCOPE, T0, "timeout", POLICY)
    assert BreakerRecord.from_doc(record.to_doc()) == record
    assert BreakerRecord.from_doc({**record.to_doc(), "open_until": int(T0) + 30}) == record
    for broken in ({"state": "ajar"}, {"version": "1"}, {"version": True}, {"open_until": None}, {"scope": 3}):
        assert BreakerRecord.from_doc({**record.to_doc(), **broken}) is None
    assert BreakerRecord.from_doc({}) is None
