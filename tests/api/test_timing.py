"""ServerTiming: each mark is the time since the previous one, the total runs from construction, and the
header is `name;dur=<ms with 2 decimals>` entries joined by ", " (RFC: Server-Timing metric syntax)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from shared.api import timing
from shared.api.timing import ServerTiming

# One Server-Timing entry as the gateway writes it: a token name and a duration in milliseconds.
ENTRY = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+;dur=\d+\.\d{2}")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Scripted `perf_counter` readings (seconds), consumed in order by the module under test."""
    readings: list[float] = []
    it: Iterator[float] = iter(readings)
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: next(it)))
    return readings


def test_steps_run_from_the_previous_mark_and_total_from_the_start(clock: list[float]) -> None:
    clock.extend([100.0, 100.001, 100.0035, 100.2035, 100.25])
    t = ServerTiming()
    t.mark("auth")
    t.mark("parse")
    t.mark("upstream")
    assert t.header() == {"server-timing": "auth;dur=1.00, parse;dur=2.50, upstream;dur=200.00, total;dur=250.00"}


def test_without_marks_only_the_total_is_shown(clock: list[float]) -> None:
    clock.extend([5.0, 5.0123456])
    assert ServerTiming().header() == {"server-timing": "total;dur=12.35"}


def test_a_step_name_may_repeat_and_keeps_its_order(clock: list[float]) -> None:
    clock.extend([0.0, 0.5, 1.0, 3.0])
    t = ServerTiming()
    t.mark("first-chunk")
    t.mark("first-chunk")
    assert t.header()["server-timing"] == "first-chunk;dur=500.00, first-chunk;dur=500.00, total;dur=3000.00"


def test_the_real_clock_gives_well_formed_non_negative_entries() -> None:
    t = ServerTiming()
    t.mark("auth")
    t.mark("parse")
    value = t.header()["server-timing"]
    entries = value.split(", ")
    assert [e.split(";")[0] for e in entries] == ["auth", "parse", "total"]
    assert all(ENTRY.fullmatch(e) for e in entries)
    durations = [float(e.split("=")[1]) for e in entries]
    assert durations[-1] >= max(durations[:-1])
