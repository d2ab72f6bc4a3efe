"""RedisLedger beyond the contract, on real redis-servers: TTLs on every key, sweeps that keep keys small,
EVAL after NOSCRIPT, and Redis away (unreachable, killed mid-run, frozen, answering with errors): requests
are served within the local per-instance bound, `degraded` says so, and on recovery the queued settles
and the local spend reach Redis.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
import redis.asyncio as aioredis

from shared.cache.breaker import BreakerPolicy, CacheBreaker
from shared.limits import Check, Denied, Reservation
from shared.limits.ledger import DEFAULT_SETTLE_GRACE_SECONDS
from shared.limits.redis_ledger import RedisLedger
from tests.cache import RELAXED_TIMEOUT, FakeClock, delete_prefix
from tests.redis_server import RedisServer

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC).timestamp()
FAST_TRIP = BreakerPolicy(failure_threshold=1, open_seconds=1.0, max_open_seconds=1.0)
R = TypeVar("R")


@pytest.fixture
def key_prefix() -> str:
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=T0)


@pytest.fixture
async def ledger(redis_url: str, key_prefix: str, clock: FakeClock) -> AsyncIterator[RedisLedger]:
    shared = RedisLedger.from_url(
        redis_url,
        timeout=RELAXED_TIMEOUT,
        connect_timeout=RELAXED_TIMEOUT,
        breaker=CacheBreaker(clock=clock),
        clock=clock,
        hold_seconds=300,
        prefix=key_prefix,
    )
    yield shared
    await shared.close()
    await delete_prefix(redis_url, key_prefix)


def scope() -> str:
    return f"t:{uuid.uuid4().hex[:12]}"


def rid() -> str:
    return uuid.uuid4().hex


def granted(outcome: Reservation | Denied) -> Reservation:
    assert isinstance(outcome, Reservation), outcome
    return outcome


async def timed(call: Awaitable[R]) -> tuple[R, float]:
    start = time.monotonic()
    result = await call
    return result, time.monotonic() - start


def degraded(ledger: RedisLedger) -> bool:
    """Through a call, so mypy does not keep a narrowed `degraded` across state changes."""
    return ledger.degraded


def health(ledger: RedisLedger) -> tuple[bool, float | None]:
    return ledger.degraded, ledger.degraded_since


def all_checks() -> list[Check]:
    return [
        Check(scope(), "requests_per_minute", 100),
        Check(scope(), "tokens_per_minute", 10_000),
        Check(scope(), "daily_budget", 10**6),
        Check(scope(), "monthly_budget", 10**7),
    ]


async def test_every_key_carries_a_ttl(ledger: RedisLedger, raw_redis: aioredis.Redis, key_prefix: str) -> None:
    checks = all_checks()
    settled = granted(await ledger.reserve(rid(), checks, T0, tokens=100, cost_micros=1000))
    released = granted(await ledger.reserve(rid(), checks, T0 + 1, tokens=100, cost_micros=1000))
    granted(await ledger.reserve(rid(), checks, T0 + 2, tokens=100, cost_micros=1000))
    await ledger.settle(settled, 50, 500, T0 + 3)
    await ledger.release(released, T0 + 4)
    await ledger.remaining(checks, T0 + 5)

    keys = [key async for key in raw_redis.scan_iter(match=f"{key_prefix}*")]
    assert len(keys) == 2 * len(checks) + 3  # two per counter, one state per reservation
    for key in keys:
        ttl = await raw_redis.pttl(key)
        assert ttl > 0, key
    day_end = datetime(2026, 11, 27, tzinfo=UTC).timestamp()
    budget_ttl = await raw_redis.pttl(f"{key_prefix}d20261126:{checks[2].scope}:h")
    assert budget_ttl / 1000 == pytest.approx(day_end - (T0 + 3) + DEFAULT_SETTLE_GRACE_SECONDS, abs=5)
    assert 0 < await raw_redis.pttl(f"{key_prefix}res:{settled.request_id}") <= DEFAULT_SETTLE_GRACE_SECONDS * 1000
    assert await raw_redis.pttl(f"{key_prefix}rpm:{checks[0].scope}:z") <= 120_000


async def test_sweeps_remove_what_left_the_window_and_expired_holds(
    ledger: RedisLedger, raw_redis: aioredis.Redis, key_prefix: str
) -> None:
    tpm, daily = Check(scope(), "tokens_per_minute", 10**6), Check(scope(), "daily_budget", 10**6)
    for index in range(1200):  # more than one sweep chunk
        granted(await ledger.reserve(f"r{index}", [tpm, daily], T0, tokens=10, cost_micros=10, hold_seconds=30))
    assert await raw_redis.zcard(f"{key_prefix}tpm:{tpm.scope}:z") == 1200
    granted(await ledger.reserve("late", [tpm, daily], T0 + 60, tokens=7, cost_micros=3))
    assert await raw_redis.zcard(f"{key_prefix}tpm:{tpm.scope}:z") == 1
    assert await raw_redis.hgetall(f"{key_prefix}tpm:{tpm.scope}:h") == {b"sum": b"7", b"r:late": b"7"}
    budget = await raw_redis.hgetall(f"{key_prefix}d20261126:{daily.scope}:h")
    assert budget == {b"pending": b"3", b"h:late": b"3"}
    assert await raw_redis.zcard(f"{key_prefix}d20261126:{daily.scope}:z") == 1


async def test_scripts_are_sent_again_after_the_server_forgot_them(
    ledger: RedisLedger, raw_redis: aioredis.Redis
) -> None:
    rpm = Check(scope(), "requests_per_minute", 2)
    granted(await ledger.reserve(rid(), [rpm], T0))
    await raw_redis.script_flush()
    granted(await ledger.reserve(rid(), [rpm], T0 + 1))
    assert isinstance(await ledger.reserve(rid(), [rpm], T0 + 2), Denied)
    assert not degraded(ledger)


async def test_an_error_reply_falls_back_without_a_strike(
    ledger: RedisLedger, raw_redis: aioredis.Redis, key_prefix: str
) -> None:
    rpm = Check(scope(), "requests_per_minute", 4)
    await raw_redis.set(f"{key_prefix}rpm:{rpm.scope}:z", b"not a sorted set")  # WRONGTYPE inside the script
    reservation = granted(await ledger.reserve(rid(), [rpm], T0))
    assert reservation.origin == "local"
    assert degraded(ledger)
    assert ledger.breaker.consecutive_failures == 0
    await raw_redis.delete(f"{key_prefix}rpm:{rpm.scope}:z")
    assert granted(await ledger.reserve(rid(), [rpm], T0 + 1)).origin == "shared"
    assert not degraded(ledger)


async def test_unreachable_from_the_start_serves_a_local_share(clock: FakeClock) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    ledger = RedisLedger.from_url(url, breaker=CacheBreaker(FAST_TRIP, clock=clock), clock=clock, instances=4)
    rpm = Check(scope(), "requests_per_minute", 10)  # a share of ceil(10 / 4) = 3 on this instance
    outcomes = [await ledger.reserve(rid(), [rpm], T0) for _ in range(5)]
    assert [type(outcome) for outcome in outcomes] == [Reservation] * 3 + [Denied] * 2
    refusal = outcomes[3]
    assert isinstance(refusal, Denied)
    assert refusal.check == Check(rpm.scope, "requests_per_minute", 3)
    assert degraded(ledger)
    assert ledger.degraded_since == T0
    assert await ledger.remaining([rpm], T0) == {rpm: 0}
    assert not await ledger.probe()
    await ledger.close()


async def test_redis_killed_mid_run_then_back(own_redis: RedisServer, clock: FakeClock, key_prefix: str) -> None:
    ledger = RedisLedger.from_url(
        own_redis.url, breaker=CacheBreaker(FAST_TRIP, clock=clock), clock=clock, instances=2, prefix=key_prefix
    )  # production timeouts
    daily, rpm = Check(scope(), "daily_budget", 1000), Check(scope(), "requests_per_minute", 100)
    open_call = granted(await ledger.reserve(rid(), [daily, rpm], T0, cost_micros=100))
    assert open_call.origin == "shared"
    done = granted(await ledger.reserve(rid(), [daily, rpm], T0, cost_micros=100))
    await ledger.settle(done, 10, 100, T0)

    own_redis.kill()
    outcomes = []
    for _ in range(8):
        outcome, seconds = await timed(ledger.reserve(rid(), [daily, rpm], T0 + 1, cost_micros=100))
        assert seconds < 0.3
        outcomes.append(outcome)
    local = [outcome for outcome in outcomes if isinstance(outcome, Reservation)]
    assert len(local) == 5  # the local share of the budget: 1000 / 2 instances, 100 per call
    assert all(reservation.origin == "local" for reservation in local)
    refusal = outcomes[5]
    assert isinstance(refusal, Denied)
    assert refusal.check == Check(daily.scope, "daily_budget", 500)
    assert degraded(ledger)
    assert ledger.degraded_since == T0

    assert await ledger.settle(open_call, 10, 80, T0 + 2)  # queued for Redis
    for reservation in local:
        await ledger.settle(reservation, 10, 90, T0 + 2)
    assert ledger.backlog == 2  # one settle, one budget period of local spend
    assert await ledger.remaining([daily], T0 + 2) == {daily: 50}

    own_redis.start()  # same port, empty: no persistence, as on a Memorystore basic tier restart
    clock.advance(1.0)  # the breaker lets its probe through
    assert await ledger.probe()
    assert health(ledger) == (False, None)
    assert ledger.backlog == 0
    # The queued settle (80) and the outage's local spend (5 x 90) reached Redis; the spend settled
    # before the crash died with the server's memory.
    assert await ledger.remaining([daily], T0 + 3) == {daily: 1000 - 80 - 450}
    again = granted(await ledger.reserve(rid(), [daily], T0 + 3, cost_micros=100))
    assert again.origin == "shared"
    assert not await ledger.settle(open_call, 10, 80, T0 + 4)  # the replay was recorded once
    await ledger.close()


async def test_frozen_redis_costs_one_bounded_wait_then_recovers_with_nothing_lost(
    own_redis: RedisServer, clock: FakeClock, key_prefix: str
) -> None:
    ledger = RedisLedger.from_url(
        own_redis.url, breaker=CacheBreaker(FAST_TRIP, clock=clock), clock=clock, instances=4, prefix=key_prefix
    )
    daily = Check(scope(), "daily_budget", 1000)
    before = granted(await ledger.reserve(rid(), [daily], T0, cost_micros=200))
    await ledger.settle(before, 1, 200, T0)
    open_call = granted(await ledger.reserve(rid(), [daily], T0, cost_micros=100))

    own_redis.pause()
    try:
        answered, seconds = await timed(ledger.probe())
        assert not answered
        assert seconds < 1.0
        assert degraded(ledger)
        local = granted(await ledger.reserve(rid(), [daily], T0 + 1, cost_micros=250))  # the share is 250
        assert local.origin == "local"
        assert isinstance(await ledger.reserve(rid(), [daily], T0 + 1, cost_micros=1), Denied)
        _, seconds = await timed(ledger.settle(open_call, 1, 100, T0 + 2))
        assert seconds < 0.01  # the breaker is open: no network
        await ledger.settle(local, 1, 150, T0 + 2)
    finally:
        own_redis.resume()
    clock.advance(1.0)
    assert await ledger.probe()
    assert await ledger.remaining([daily], T0 + 3) == {daily: 1000 - 200 - 100 - 150}
    await ledger.close()
