"""MemoryLedger beyond the contract (bounded memory), and the pure window arithmetic of shared.limits.ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.limits import Check, Denied, LimitKind, MemoryLedger, Reservation
from shared.limits.ledger import budget_period, normalize_checks, scale_check, to_ms

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC).timestamp()


async def test_records_are_dropped_once_past_their_time() -> None:
    ledger = MemoryLedger(hold_seconds=60, settle_grace_seconds=3600)
    checks = [Check("t:a", "requests_per_minute", 10**6), Check("t:a", "daily_budget", 10**9)]
    reservations = []
    for index in range(100):
        outcome = await ledger.reserve(f"r{index}", checks, T0 + index, cost_micros=5)
        assert isinstance(outcome, Reservation)
        reservations.append(outcome)
    for reservation in reservations[:50]:
        await ledger.settle(reservation, 1, 5, T0 + 200)
    assert ledger.records == 2 + 100  # one window, one budget period, a state per reservation

    day_after = datetime(2026, 11, 28, tzinfo=UTC).timestamp()
    assert await ledger.remaining(checks, day_after) == {checks[0]: 10**6, checks[1]: 10**9}
    assert ledger.records == 0


async def test_a_hold_longer_than_the_day_keeps_its_period_until_it_ends() -> None:
    ledger = MemoryLedger(settle_grace_seconds=60)
    late = datetime(2026, 11, 26, 23, 59, tzinfo=UTC).timestamp()
    daily = Check("t:a", "daily_budget", 1000)
    reservation = await ledger.reserve("r", [daily], late, cost_micros=700, hold_seconds=7200)
    assert isinstance(reservation, Reservation)
    # Settled the next day: the spend belongs to the day it was reserved in, not to the new one.
    assert await ledger.settle(reservation, 1, 600, late + 3600)
    assert await ledger.remaining([daily], late + 3600) == {daily: 1000}
    assert not await ledger.settle(reservation, 1, 600, late + 3601)


async def test_a_window_reset_is_when_enough_has_left_not_just_the_oldest() -> None:
    ledger = MemoryLedger()
    tpm = Check("t:a", "tokens_per_minute", 100)
    for offset, tokens in ((0, 10), (10, 20), (20, 60)):
        assert isinstance(await ledger.reserve(f"r{offset}", [tpm], T0 + offset, tokens=tokens), Reservation)
    refusal = await ledger.reserve("big", [tpm], T0 + 30, tokens=40)
    assert isinstance(refusal, Denied)
    assert refusal.reset_seconds == pytest.approx(40.0)  # the 10 and the 20 must both leave: T0 + 70


@pytest.mark.parametrize(
    ("moment", "kind", "period", "end"),
    [
        (
            datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC),
            "daily_budget",
            "d20261126",
            datetime(2026, 11, 27, tzinfo=UTC),
        ),
        (datetime(2026, 12, 31, tzinfo=UTC), "daily_budget", "d20261231", datetime(2027, 1, 1, tzinfo=UTC)),
        (datetime(2028, 2, 28, 12, tzinfo=UTC), "daily_budget", "d20280228", datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2028, 2, 29, 12, tzinfo=UTC), "monthly_budget", "m202802", datetime(2028, 3, 1, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), "monthly_budget", "m202612", datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_budget_periods_are_utc_calendar_days_and_months(
    moment: datetime, kind: LimitKind, period: str, end: datetime
) -> None:
    result = budget_period(kind, to_ms(moment.timestamp()))
    assert result.id == period
    assert result.end_ms == to_ms(end.timestamp())


def test_the_local_share_is_rounded_up() -> None:
    assert scale_check(Check("t:a", "daily_budget", 1000), 3).limit == 334
    assert scale_check(Check("t:a", "requests_per_minute", 1), 8).limit == 1
    assert scale_check(Check("t:a", "requests_per_minute", 0), 8).limit == 0


def test_normalize_keeps_the_tightest_limit_per_counter_in_order() -> None:
    checks = [
        Check("t:a", "daily_budget", 9),
        Check("u:a:b", "daily_budget", 5),
        Check("t:a", "daily_budget", 3),
        Check("t:a", "monthly_budget", 3),
    ]
    assert normalize_checks(checks) == (checks[2], checks[1], checks[3])


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    check = Check("t:a", "requests_per_minute", 1)
    assert Denied(check, 1, 1, 0.001).retry_after == 1
    assert Denied(check, 1, 1, 29.2).retry_after == 30
    assert Denied(check, 1, 1, 0.0).retry_after == 1
