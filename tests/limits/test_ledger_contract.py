"""The ledger contract, run against both adapters: `MemoryLedger` in process and `RedisLedger` on a real
redis-server (REDIS_URL, or one started for the session). Time is passed in by hand, as a fake clock.

Sliding RPM/TPM windows exact to the millisecond at their edges; daily and monthly budgets reset at UTC
midnight and the first of the month; 50 concurrent reserves against a budget admitting 10; settle to a
smaller cost, idempotent settle, holds that expire, release, all-or-nothing over several checks, and
`Denied` naming the failing check with its reset time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from shared.cache.breaker import CacheBreaker
from shared.limits import Check, Denied, Ledger, MemoryLedger, Reservation
from shared.limits.redis_ledger import RedisLedger
from tests.cache import RELAXED_TIMEOUT, FakeClock, delete_prefix

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC).timestamp()
HOLD = 300.0


@pytest.fixture
def key_prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture(params=["memory", "redis"])
async def ledger(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[Ledger]:
    if request.param == "memory":
        yield MemoryLedger(hold_seconds=HOLD)
        return
    url: str = request.getfixturevalue("redis_url")
    clock = FakeClock(now=T0)
    shared = RedisLedger.from_url(
        url,
        timeout=RELAXED_TIMEOUT,
        connect_timeout=RELAXED_TIMEOUT,
        breaker=CacheBreaker(clock=clock),
        clock=clock,
        hold_seconds=HOLD,
        prefix=key_prefix,
    )
    yield shared
    assert not shared.degraded, "the contract must have run on Redis, not on the fallback"
    await shared.close()
    await delete_prefix(url, key_prefix)


def scope() -> str:
    return f"t:{uuid.uuid4().hex[:12]}"


def granted(outcome: Reservation | Denied) -> Reservation:
    assert isinstance(outcome, Reservation), outcome
    return outcome


def denied(outcome: Reservation | Denied) -> Denied:
    assert isinstance(outcome, Denied), outcome
    return outcome


def rid() -> str:
    return uuid.uuid4().hex


# --- sliding windows ---


async def test_requests_per_minute_window_is_exact_at_its_edges(ledger: Ledger) -> None:
    rpm = Check(scope(), "requests_per_minute", 3)
    for offset in (0, 10, 20):
        reservation = granted(await ledger.reserve(rid(), [rpm], T0 + offset))
    assert reservation.remaining == (0,)

    refusal = denied(await ledger.reserve(rid(), [rpm], T0 + 30))
    assert refusal.check == rpm
    assert (refusal.used, refusal.requested) == (3, 1)
    assert refusal.reset_seconds == pytest.approx(30.0)
    assert refusal.retry_after == 30

    last = denied(await ledger.reserve(rid(), [rpm], T0 + 59.999))
    assert last.reset_seconds == pytest.approx(0.001)
    assert last.retry_after == 1
    assert await ledger.remaining([rpm], T0 + 59.999) == {rpm: 0}
    assert await ledger.remaining([rpm], T0 + 60) == {rpm: 1}

    granted(await ledger.reserve(rid(), [rpm], T0 + 60))  # the first entry left at exactly t + 60 s
    again = denied(await ledger.reserve(rid(), [rpm], T0 + 60))
    assert again.reset_seconds == pytest.approx(10.0)  # now the entry made at T0 + 10 is the oldest


async def test_tokens_per_minute_window_counts_tokens_and_frees_the_oldest_first(ledger: Ledger) -> None:
    tpm = Check(scope(), "tokens_per_minute", 1000)
    granted(await ledger.reserve(rid(), [tpm], T0, tokens=600))
    granted(await ledger.reserve(rid(), [tpm], T0 + 30, tokens=300))

    refusal = denied(await ledger.reserve(rid(), [tpm], T0 + 40, tokens=200))
    assert (refusal.used, refusal.requested) == (900, 200)
    assert refusal.reset_seconds == pytest.approx(20.0)  # the 600 made at T0 must leave

    denied(await ledger.reserve(rid(), [tpm], T0 + 59.999, tokens=200))
    fits = granted(await ledger.reserve(rid(), [tpm], T0 + 60, tokens=700))
    assert fits.remaining == (0,)
    assert await ledger.remaining([tpm], T0 + 90) == {tpm: 300}  # the 300 from T0 + 30 has left too


async def test_a_request_larger_than_the_window_limit_waits_one_window(ledger: Ledger) -> None:
    tpm = Check(scope(), "tokens_per_minute", 100)
    refusal = denied(await ledger.reserve(rid(), [tpm], T0, tokens=101))
    assert (refusal.used, refusal.reset_seconds) == (0, 60.0)


async def test_settle_replaces_reserved_tokens_by_the_real_count(ledger: Ledger) -> None:
    tpm = Check(scope(), "tokens_per_minute", 1000)
    first = granted(await ledger.reserve(rid(), [tpm], T0, tokens=900))
    denied(await ledger.reserve(rid(), [tpm], T0 + 1, tokens=200))
    assert await ledger.settle(first, 150, 0, T0 + 2)
    assert await ledger.remaining([tpm], T0 + 2) == {tpm: 850}
    granted(await ledger.reserve(rid(), [tpm], T0 + 3, tokens=800))


# --- budgets ---


async def test_daily_budget_resets_at_utc_midnight(ledger: Ledger) -> None:
    late = datetime(2026, 11, 26, 23, 59, tzinfo=UTC).timestamp()
    daily = Check(scope(), "daily_budget", 1000)
    reservation = granted(await ledger.reserve(rid(), [daily], late, cost_micros=1000))
    assert await ledger.settle(reservation, 10, 1000, late + 1)

    refusal = denied(await ledger.reserve(rid(), [daily], late + 30, cost_micros=1))
    assert refusal.check == daily
    assert refusal.used == 1000
    assert refusal.reset_seconds == pytest.approx(30.0)
    assert denied(await ledger.reserve(rid(), [daily], late + 59.5, cost_micros=1)).reset_seconds == pytest.approx(0.5)

    assert await ledger.remaining([daily], late + 60) == {daily: 1000}
    granted(await ledger.reserve(rid(), [daily], late + 60, cost_micros=1000))


async def test_monthly_budget_resets_on_the_first_of_the_month_and_the_year(ledger: Ledger) -> None:
    for last_day, first_day in (((2026, 11, 30), (2026, 12, 1)), ((2026, 12, 31), (2027, 1, 1))):
        monthly = Check(scope(), "monthly_budget", 5000)
        evening = datetime(*last_day, 23, tzinfo=UTC).timestamp()
        early = granted(await ledger.reserve(rid(), [monthly], evening - 20 * 86400, cost_micros=4500))
        await ledger.settle(early, 100, 4000, evening - 20 * 86400 + 1)
        refusal = denied(await ledger.reserve(rid(), [monthly], evening, cost_micros=1001))
        assert refusal.used == 4000
        assert refusal.reset_seconds == pytest.approx(3600.0)
        midnight = datetime(*first_day, tzinfo=UTC).timestamp()
        granted(await ledger.reserve(rid(), [monthly], midnight, cost_micros=5000))


async def test_fifty_concurrent_reserves_against_a_budget_for_ten(ledger: Ledger) -> None:
    daily = Check(scope(), "daily_budget", 1_000_000)
    per_call = 100_000
    outcomes = await asyncio.gather(
        *(ledger.reserve(rid(), [daily], T0, tokens=500, cost_micros=per_call) for _ in range(50))
    )
    reservations = [outcome for outcome in outcomes if isinstance(outcome, Reservation)]
    refusals = [outcome for outcome in outcomes if isinstance(outcome, Denied)]
    assert len(reservations) == 10
    assert len(refusals) == 40
    assert all(refusal.check == daily and refusal.used == 1_000_000 for refusal in refusals)

    # The real costs vary up to the worst case; settled concurrently, the spend stays within the budget.
    costs = [per_call - 7_000 * index for index in range(10)]
    await asyncio.gather(
        *(ledger.settle(reservation, 400, cost, T0 + 5) for reservation, cost in zip(reservations, costs, strict=True))
    )
    left = (await ledger.remaining([daily], T0 + 5))[daily]
    assert left == 1_000_000 - sum(costs)
    assert left >= 0
    more = [await ledger.reserve(rid(), [daily], T0 + 6, cost_micros=per_call) for _ in range(5)]
    assert sum(isinstance(outcome, Reservation) for outcome in more) == left // per_call


async def test_settle_to_a_smaller_cost_frees_the_rest(ledger: Ledger) -> None:
    daily = Check(scope(), "daily_budget", 1000)
    worst = granted(await ledger.reserve(rid(), [daily], T0, cost_micros=800))
    assert worst.remaining == (200,)
    denied(await ledger.reserve(rid(), [daily], T0 + 1, cost_micros=300))
    await ledger.settle(worst, 10, 500, T0 + 2)
    after = granted(await ledger.reserve(rid(), [daily], T0 + 3, cost_micros=300))
    assert after.remaining == (200,)


async def test_settle_is_idempotent_and_final(ledger: Ledger) -> None:
    daily = Check(scope(), "daily_budget", 1000)
    tpm = Check(scope(), "tokens_per_minute", 1000)
    reservation = granted(await ledger.reserve(rid(), [daily, tpm], T0, tokens=500, cost_micros=600))
    assert await ledger.settle(reservation, 200, 400, T0 + 1) is True
    assert await ledger.settle(reservation, 200, 400, T0 + 2) is False
    assert await ledger.settle(reservation, 999, 999, T0 + 3) is False
    assert await ledger.release(reservation, T0 + 4) is False  # after settle, release changes nothing
    assert await ledger.remaining([daily, tpm], T0 + 5) == {daily: 600, tpm: 800}


async def test_an_unsettled_hold_expires_and_a_late_settle_still_counts_once(ledger: Ledger) -> None:
    daily = Check(scope(), "daily_budget", 1000)
    held = granted(await ledger.reserve(rid(), [daily], T0, cost_micros=800, hold_seconds=30))
    assert held.expires_at == pytest.approx(T0 + 30)
    denied(await ledger.reserve(rid(), [daily], T0 + 29.999, cost_micros=300))
    assert await ledger.remaining([daily], T0 + 30) == {daily: 1000}  # the hold is given back
    other = granted(await ledger.reserve(rid(), [daily], T0 + 30, cost_micros=300))

    assert await ledger.settle(held, 50, 600, T0 + 40)  # the call did finish, late: its spend is real
    assert await ledger.remaining([daily], T0 + 41) == {daily: 100}
    assert not await ledger.settle(held, 50, 600, T0 + 42)
    assert await ledger.remaining([daily], T0 + 42) == {daily: 100}
    await ledger.release(other, T0 + 43)
    assert await ledger.remaining([daily], T0 + 43) == {daily: 400}


async def test_release_gives_everything_back(ledger: Ledger) -> None:
    checks = [
        Check(scope(), "requests_per_minute", 5),
        Check(scope(), "tokens_per_minute", 1000),
        Check(scope(), "daily_budget", 10_000),
        Check(scope(), "monthly_budget", 100_000),
    ]
    reservation = granted(await ledger.reserve(rid(), checks, T0, tokens=700, cost_micros=9000))
    assert reservation.remaining == (4, 300, 1000, 91_000)
    assert await ledger.release(reservation, T0 + 1) is True
    assert await ledger.remaining(checks, T0 + 1) == {check: check.limit for check in checks}
    assert await ledger.release(reservation, T0 + 2) is False
    assert await ledger.settle(reservation, 700, 9000, T0 + 3) is False  # released is final
    assert await ledger.remaining(checks, T0 + 3) == {check: check.limit for check in checks}


async def test_settle_keeps_the_request_counted(ledger: Ledger) -> None:
    rpm = Check(scope(), "requests_per_minute", 2)
    reservation = granted(await ledger.reserve(rid(), [rpm], T0))
    await ledger.settle(reservation, 10, 10, T0 + 1)
    assert await ledger.remaining([rpm], T0 + 1) == {rpm: 1}


# --- several checks at once ---


async def test_one_failing_check_records_nothing_on_the_others(ledger: Ledger) -> None:
    tenant, user, key = scope(), scope(), scope()
    checks = [
        Check(tenant, "requests_per_minute", 10),
        Check(tenant, "tokens_per_minute", 10_000),
        Check(user, "daily_budget", 5000),
        Check(key, "monthly_budget", 1000),
    ]
    refusal = denied(await ledger.reserve(rid(), checks, T0, tokens=100, cost_micros=2000))
    assert refusal.check == checks[3]
    assert (refusal.used, refusal.requested) == (0, 2000)
    assert refusal.reset_seconds == pytest.approx(datetime(2026, 12, 1, tzinfo=UTC).timestamp() - T0)
    assert await ledger.remaining(checks, T0) == {check: check.limit for check in checks}

    user_first = [checks[2], checks[0]]
    granted(await ledger.reserve(rid(), [checks[2]], T0, cost_micros=4500))
    refusal = denied(await ledger.reserve(rid(), user_first, T0 + 1, cost_micros=600))
    assert refusal.check == checks[2]
    assert refusal.used == 4500
    assert await ledger.remaining([checks[0]], T0 + 1) == {checks[0]: 10}


async def test_the_same_counter_named_twice_is_recorded_once_under_the_tightest_limit(ledger: Ledger) -> None:
    where = scope()
    loose, tight = Check(where, "requests_per_minute", 10), Check(where, "requests_per_minute", 2)
    reservation = granted(await ledger.reserve(rid(), [loose, tight], T0))
    assert reservation.checks == (tight,)
    granted(await ledger.reserve(rid(), [loose, tight], T0))
    assert denied(await ledger.reserve(rid(), [loose, tight], T0 + 1)).check == tight
    assert (await ledger.remaining([loose], T0 + 1))[loose] == 8


async def test_no_checks_means_unlimited_and_records_nothing(ledger: Ledger) -> None:
    reservation = granted(await ledger.reserve("free", [], T0, tokens=10**9, cost_micros=10**12))
    assert reservation.remaining == ()
    assert await ledger.settle(reservation, 1, 1, T0) is False
    assert await ledger.remaining([], T0) == {}


async def test_a_request_id_reserves_once(ledger: Ledger) -> None:
    rpm = Check(scope(), "requests_per_minute", 10)
    granted(await ledger.reserve("same-id", [rpm], T0))
    with pytest.raises(ValueError, match="already has a reservation"):
        await ledger.reserve("same-id", [rpm], T0 + 1)


@pytest.mark.parametrize(
    ("tokens", "cost", "hold", "message"),
    [
        (-1, 0, None, "tokens is an integer"),
        (0, -5, None, "cost_micros is an integer"),
        (0, 0, 0.0, "hold_seconds must be positive"),
        (0, 0, float("nan"), "hold_seconds must be positive"),
        (10**16, 0, None, "tokens is an integer"),
    ],
)
async def test_bad_amounts_are_refused(
    ledger: Ledger, tokens: int, cost: int, hold: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await ledger.reserve(
            rid(), [Check(scope(), "daily_budget", 10)], T0, tokens=tokens, cost_micros=cost, hold_seconds=hold
        )


def test_checks_validate_their_fields() -> None:
    with pytest.raises(ValueError, match="needs a scope"):
        Check("", "daily_budget", 1)
    with pytest.raises(ValueError, match="unknown limit kind"):
        Check("t:a", "hourly", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a limit is an integer"):
        Check("t:a", "daily_budget", -1)
    with pytest.raises(ValueError, match="a limit is an integer"):
        Check("t:a", "daily_budget", True)


async def test_the_largest_amounts_stay_exact(ledger: Ledger) -> None:
    monthly = Check(scope(), "monthly_budget", 10**15)  # a billion USD in micro-USD
    reservation = granted(await ledger.reserve(rid(), [monthly], T0, cost_micros=10**15 - 1))
    assert reservation.remaining == (1,)
    await ledger.settle(reservation, 0, 10**15 - 3, T0 + 1)
    assert await ledger.remaining([monthly], T0 + 1) == {monthly: 3}
    refusal = denied(await ledger.reserve(rid(), [monthly], T0 + 2, cost_micros=4))
    assert refusal.used == 10**15 - 3
