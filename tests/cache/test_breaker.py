"""CacheBreaker, pure unit tests on a fake clock: trip, open, one probe, growth, cap, lease, release."""

from __future__ import annotations

import logging

import pytest

from shared.cache.breaker import BreakerPolicy, CacheBreaker
from tests.cache import FakeClock, state_of

POLICY = BreakerPolicy(failure_threshold=3, open_seconds=1.0, max_open_seconds=5.0, growth=2.0, probe_timeout_seconds=2)


def tripped(clock: FakeClock) -> CacheBreaker:
    breaker = CacheBreaker(POLICY, clock=clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert state_of(breaker) == "open"
    return breaker


def test_stays_closed_below_the_threshold_and_success_resets_the_run() -> None:
    breaker = CacheBreaker(POLICY, clock=FakeClock())
    for _ in range(10):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert state_of(breaker) == "closed"
    assert breaker.consecutive_failures == 0
    assert breaker.allow()


def test_opens_after_consecutive_failures_and_refuses_calls() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    assert breaker.trips == 1
    assert breaker.open_remaining() == pytest.approx(1.0)
    clock.advance(0.999)
    assert not breaker.allow()
    assert not breaker.allow()


def test_after_the_interval_exactly_one_probe_goes_through() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(1.0)
    assert breaker.allow()  # the probe
    assert state_of(breaker) == "half_open"
    assert not breaker.allow()
    assert not breaker.allow()
    breaker.record_success()
    assert state_of(breaker) == "closed"
    assert breaker.trips == 0
    assert breaker.allow()


def test_failed_probe_reopens_for_longer_up_to_the_cap() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    intervals = []
    for _ in range(5):
        interval = breaker.open_remaining()
        intervals.append(interval)
        clock.advance(interval)
        assert breaker.allow()
        breaker.record_failure()
        assert state_of(breaker) == "open"
    assert intervals == pytest.approx([1.0, 2.0, 4.0, 5.0, 5.0])


def test_closing_resets_the_growth() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(1.0)
    assert breaker.allow()
    breaker.record_failure()  # trip 2: 2 s
    clock.advance(2.0)
    assert breaker.allow()
    breaker.record_success()
    for _ in range(3):
        breaker.record_failure()
    assert breaker.trips == 1
    assert breaker.open_remaining() == pytest.approx(1.0)


def test_a_probe_that_never_reports_lapses_and_another_is_let_through() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(1.0)
    assert breaker.allow()
    clock.advance(1.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_release_frees_the_probe_slot_at_once() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    clock.advance(1.0)
    assert breaker.allow()
    breaker.release()  # e.g. the request was cancelled mid-probe
    assert state_of(breaker) == "half_open"
    assert breaker.allow()


def test_late_results_while_open_change_nothing() -> None:
    clock = FakeClock()
    breaker = tripped(clock)
    breaker.record_success()
    breaker.record_failure()
    breaker.release()
    assert state_of(breaker) == "open"
    assert breaker.trips == 1
    assert breaker.open_remaining() == pytest.approx(1.0)


def test_transitions_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    with caplog.at_level(logging.INFO, logger="shared.cache.breaker"):
        breaker = tripped(clock)
        breaker.record_failure()
        assert not breaker.allow()
        clock.advance(1.0)
        assert breaker.allow()
        breaker.record_success()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "opened for 1.0 s (3 consecutive failures; trip 1)" in messages[0]
    assert "closed" in messages[1]


def test_default_policy() -> None:
    breaker = CacheBreaker()
    assert breaker.policy == BreakerPolicy(5, 1.0, 30.0, 2.0, 5.0)
    assert state_of(breaker) == "closed"
    assert breaker.open_remaining() == 0.0


@pytest.mark.parametrize(
    "fields",
    [
        {"failure_threshold": 0},
        {"open_seconds": 0},
        {"open_seconds": 10, "max_open_seconds": 5},
        {"growth": 0.5},
        {"probe_timeout_seconds": 0},
    ],
)
def test_policy_rejects_nonsense(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        BreakerPolicy(**fields)  # type: ignore[arg-type]
