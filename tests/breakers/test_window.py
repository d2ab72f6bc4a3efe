from __future__ import annotations

import pytest

from shared.breakers.window import OutcomeWindow


def test_counts_outcomes_and_failures() -> None:
    window = OutcomeWindow(60.0)
    for ok in (True, False, False, True, True):
        window.add(100.0, ok=ok)
    assert window.counts(100.0) == (5, 2)


def test_outcomes_older_than_the_span_are_forgotten() -> None:
    window = OutcomeWindow(60.0)  # ten 6-second buckets
    window.add(0.0, ok=False)
    window.add(30.0, ok=False)
    window.add(59.0, ok=True)
    assert window.counts(59.0) == (3, 2)
    assert window.counts(60.0) == (2, 1)  # the bucket [0, 6) has left the window
    assert window.counts(95.0) == (1, 0)
    assert window.counts(200.0) == (0, 0)


def test_a_reused_bucket_starts_from_zero() -> None:
    window = OutcomeWindow(10.0, buckets=2)
    window.add(1.0, ok=False)
    window.add(11.0, ok=True)  # same bucket index, one span later
    assert window.counts(11.0) == (1, 0)


def test_memory_is_fixed_however_many_outcomes() -> None:
    window = OutcomeWindow(10.0, buckets=5)
    for second in range(10_000):
        window.add(float(second), ok=second % 2 == 0)
    assert window.counts(9_999.0) == (10, 5)


def test_invalid_window() -> None:
    with pytest.raises(ValueError, match="positive span"):
        OutcomeWindow(0.0)
