"""`RedisLedger`: the shared ledger on Redis (Memorystore), one Lua script per operation.

Layout (`prefix` defaults to "gw:lim:"; every key of an operation is passed in KEYS):

    <p>rpm:<scope>:z / :h     sliding window: ZSET request id -> ms; HASH "r:<id>" -> amount, "sum" -> total
    <p>tpm:<scope>:z / :h     the same for tokens
    <p>d20261126:<scope>:h    budget of a UTC day (m202611: of a month): HASH "spent", "pending",
    <p>d20261126:<scope>:z        "h:<id>" -> held micro-USD; ZSET request id -> hold expiry (ms)
    <p>res:<request id>       the reservation's state: "held", "settled" or "released"

The scripts sweep what has aged out (window entries, expired holds) before they read, so nothing runs in
the background; every key carries a TTL (windows 2 minutes after the last write, budgets until the
period's end plus the longest hold and the settle grace, states until their hold plus the grace, or
the grace once settled or released).
Time is the caller's `now` in integer milliseconds, never Redis TIME, so a fake clock drives tests.
Scripts (`shared.limits.redis_scripts`) go by EVALSHA, and by EVAL when the server answers NOSCRIPT.
Memorystore compatibility: plain string, hash and sorted-set commands, PEXPIRE, EVAL/EVALSHA only.

Redis away (refused, timed out, breaker open, or an error reply): limits fail open within a local
bound. Reservations go to an in-process `MemoryLedger` whose limits are each configured limit divided
by `instances` (the expected instance count, rounded up), so the fleet together stays near one limit's
worth while Redis is gone, and one instance alone cannot run past its share. `degraded` says so for
health, `degraded_since` since when (wall seconds). Recovery, on the first call Redis answers again:
- settles and releases of shared reservations that could not reach Redis were queued (up to
  `backlog_limit`) and are replayed in order; they are idempotent, so a replay never double counts;
- the real spend settled on local reservations is added to the Redis budgets of the periods it was
  reserved in, so daily and monthly budgets stay exact across the outage;
- local request and token windows are not copied: they age out within a minute anyway.
A Redis that lost its data (restarted without persistence) starts empty apart from that replay.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
import redis.exceptions as redis_errors

from shared.cache.breaker import CacheBreaker
from shared.cache.redis_cache import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    redis_pool_options,
)
from shared.clock import Clock, SystemClock
from shared.limits.ledger import (
    BUDGET_KINDS,
    DEFAULT_HOLD_SECONDS,
    DEFAULT_SETTLE_GRACE_SECONDS,
    WINDOW_MS,
    Check,
    Denied,
    Reservation,
    budget_period,
    normalize_checks,
    scale_check,
    to_ms,
    validate_amount,
    validate_hold,
    validate_reserve,
)
from shared.limits.memory_ledger import MemoryLedger
from shared.limits.redis_scripts import SCRIPTS

__all__ = ["DEFAULT_BACKLOG_LIMIT", "DEFAULT_LEDGER_OP_TIMEOUT", "DEFAULT_PREFIX", "RedisLedger"]

DEFAULT_PREFIX = "gw:lim:"
DEFAULT_BACKLOG_LIMIT = 10_000
# Longer than the cache's 50 ms: a cache that times out only misses, a ledger that times out fails open to
# its local share, which cannot see what Redis already holds. A burst or a busy instance must not look like an
# outage (seen: one 50 ms timeout under a loaded test run let a concurrent burst pass a budget's local share).
DEFAULT_LEDGER_OP_TIMEOUT = 0.25

_log = logging.getLogger(__name__)
T = TypeVar("T")

_OUTAGE = (redis_errors.ConnectionError, redis_errors.TimeoutError, TimeoutError, OSError)


class _Away(Exception):
    """Redis could not serve this call: the caller falls back to the local ledger."""


_Finish = tuple[Reservation, tuple[int, int] | None, float]  # reservation, (tokens, cost) or release, now


class RedisLedger:
    """The `Ledger` on Redis, failing open to a local per-instance bound. Build it with `from_url`."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        breaker: CacheBreaker,
        deadline: float,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        clock: Clock | None = None,
        instances: int = 1,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
        settle_grace_seconds: float = DEFAULT_SETTLE_GRACE_SECONDS,
        prefix: str = DEFAULT_PREFIX,
        backlog_limit: int = DEFAULT_BACKLOG_LIMIT,
    ) -> None:
        if instances < 1:
            raise ValueError(f"instances must be at least 1, got {instances}")
        validate_hold(hold_seconds)
        validate_hold(settle_grace_seconds, "settle_grace_seconds")
        self._client = client
        self.breaker = breaker
        self._deadline = deadline
        self._slots = asyncio.Semaphore(max_connections)
        self._clock = clock or SystemClock()
        self.instances = instances
        self.hold_seconds = hold_seconds
        self._grace_ms = to_ms(settle_grace_seconds)
        self._prefix = prefix
        self.local = MemoryLedger(hold_seconds=hold_seconds, settle_grace_seconds=settle_grace_seconds)
        self._backlog: deque[_Finish] = deque(maxlen=backlog_limit)
        self._unsynced: dict[str, tuple[int, int]] = {}  # budget hash -> (local spend, drop time ms)
        self._draining = False
        self._degraded_since: float | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ca_cert: str | None = None,
        timeout: float = DEFAULT_LEDGER_OP_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        breaker: CacheBreaker | None = None,
        clock: Clock | None = None,
        instances: int = 1,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
        settle_grace_seconds: float = DEFAULT_SETTLE_GRACE_SECONDS,
        prefix: str = DEFAULT_PREFIX,
    ) -> RedisLedger:
        """A ledger on the Redis at `url`, with the cache's connection options. Connects lazily."""
        clock = clock or SystemClock()
        options = redis_pool_options(
            url, ca_cert=ca_cert, op_timeout=timeout, connect_timeout=connect_timeout, max_connections=max_connections
        )
        pool = aioredis.ConnectionPool.from_url(url, **options)
        return cls(
            aioredis.Redis.from_pool(pool),
            breaker=breaker or CacheBreaker(clock=clock, name="redis-limits"),
            # A new connection may need connect (with TLS), AUTH, SELECT, then EVALSHA and maybe EVAL.
            deadline=connect_timeout + 4 * timeout,
            max_connections=max_connections,
            clock=clock,
            instances=instances,
            hold_seconds=hold_seconds,
            settle_grace_seconds=settle_grace_seconds,
            prefix=prefix,
        )

    # --- health ---

    @property
    def degraded(self) -> bool:
        """True while limits are enforced by the local fallback (Redis away since `degraded_since`)."""
        return self._degraded_since is not None

    @property
    def degraded_since(self) -> float | None:
        return self._degraded_since

    @property
    def backlog(self) -> int:
        """Settles/releases and local budget spend waiting for Redis to come back."""
        return len(self._backlog) + len(self._unsynced)

    async def probe(self) -> bool:
        """Does Redis answer? Clears `degraded` (and replays the backlog) when it does."""
        try:
            await self._call(lambda: self._client.ping())
        except _Away:
            return False
        await self._drain()
        return True

    async def close(self) -> None:
        try:
            await self._client.aclose()
        except Exception as exc:  # closing a pool whose server is gone may complain; nothing to do
            _log.debug("limits: closing the redis client failed (%s)", type(exc).__name__)

    # --- the Ledger operations ---

    async def reserve(
        self,
        request_id: str,
        checks: Sequence[Check],
        now: float,
        *,
        tokens: int = 0,
        cost_micros: int = 0,
        hold_seconds: float | None = None,
    ) -> Reservation | Denied:
        hold = self.hold_seconds if hold_seconds is None else hold_seconds
        validate_reserve(request_id, tokens, cost_micros, hold)
        normal = normalize_checks(checks)
        now_ms, hold_ms = to_ms(now), to_ms(hold)
        expires_ms = now_ms + hold_ms
        if not normal:
            return Reservation(request_id, (), tokens, cost_micros, now_ms / 1000, expires_ms / 1000, ())
        keys = [self._state_key(request_id)]
        args: list[str | int] = [now_ms, WINDOW_MS, request_id, expires_ms, hold_ms + self._grace_ms]
        amounts = []
        for check in normal:
            amount = 1 if check.kind == "requests_per_minute" else tokens
            if check.kind in BUDGET_KINDS:
                amount = cost_micros
                period = budget_period(check.kind, now_ms)
                keys += self._budget_keys(check, period.id)
                ttl = max(period.end_ms, expires_ms) + self._grace_ms - now_ms
                args += ["b", check.limit, amount, ttl, period.end_ms - now_ms]
            else:
                keys += self._window_keys(check)
                args += ["w", check.limit, amount, 2 * WINDOW_MS, 0]
            amounts.append(amount)
        try:
            reply = cast("list[int]", await self._eval("reserve", keys, args))
        except _Away:
            return await self._reserve_locally(request_id, normal, now, tokens, cost_micros, hold)
        await self._drain()
        if reply[0] == -1:
            raise ValueError(f"request id {request_id!r} already has a reservation")
        if reply[0] == 0:
            index = int(reply[1]) - 1
            return Denied(normal[index], int(reply[2]), amounts[index], int(reply[3]) / 1000)
        remaining = tuple(check.limit - int(used) for check, used in zip(normal, reply[1:], strict=True))
        return Reservation(request_id, normal, tokens, cost_micros, now_ms / 1000, expires_ms / 1000, remaining)

    async def settle(self, reservation: Reservation, actual_tokens: int, actual_cost_micros: int, now: float) -> bool:
        validate_amount("actual_tokens", actual_tokens)
        validate_amount("actual_cost_micros", actual_cost_micros)
        return await self._finish((reservation, (actual_tokens, actual_cost_micros), now))

    async def release(self, reservation: Reservation, now: float) -> bool:
        return await self._finish((reservation, None, now))

    async def remaining(self, checks: Sequence[Check], now: float) -> dict[Check, int]:
        if not checks:
            return {}
        now_ms = to_ms(now)
        keys: list[str] = []
        args: list[str | int] = [now_ms, WINDOW_MS]
        for check in checks:
            if check.kind in BUDGET_KINDS:
                keys += self._budget_keys(check, budget_period(check.kind, now_ms).id)
                args.append("b")
            else:
                keys += self._window_keys(check)
                args.append("w")
        try:
            used = cast("list[int]", await self._eval("usage", keys, args))
        except _Away:
            scaled = [scale_check(check, self.instances) for check in checks]
            local = await self.local.remaining(scaled, now)
            return {check: local[share] for check, share in zip(checks, scaled, strict=True)}
        await self._drain()
        return {check: max(0, check.limit - int(value)) for check, value in zip(checks, used, strict=True)}

    # --- fallback and recovery ---

    async def _reserve_locally(
        self, request_id: str, checks: tuple[Check, ...], now: float, tokens: int, cost: int, hold: float
    ) -> Reservation | Denied:
        scaled = [scale_check(check, self.instances) for check in checks]
        return await self.local.reserve(request_id, scaled, now, tokens=tokens, cost_micros=cost, hold_seconds=hold)

    async def _finish(self, item: _Finish) -> bool:
        reservation, actual, now = item
        if not reservation.checks:
            return False
        if reservation.origin == "local":
            if actual is None:
                return await self.local.release(reservation, now)
            applied = await self.local.settle(reservation, actual[0], actual[1], now)
            if applied and actual[1]:
                self._remember_local_spend(reservation, actual[1])
            await self._drain_if_up()
            return applied
        try:
            applied = await self._finish_shared(item)
        except _Away:
            self._queue(item)
            return True
        await self._drain()
        return applied

    async def _finish_shared(self, item: _Finish) -> bool:
        reservation, actual, now = item
        now_ms, reserved_ms, expires_ms = to_ms(now), to_ms(reservation.reserved_at), to_ms(reservation.expires_at)
        tokens, cost = actual if actual is not None else (0, 0)
        keys = [self._state_key(reservation.request_id)]
        state_ttl = self._grace_ms  # settled or released: only repeats are left to catch
        outcome = "released" if actual is None else "settled"
        args: list[str | int] = [now_ms, WINDOW_MS, reservation.request_id, outcome, tokens, cost, state_ttl]
        for check in reservation.checks:
            if check.kind in BUDGET_KINDS:
                period = budget_period(check.kind, reserved_ms)
                keys += self._budget_keys(check, period.id)
                args += ["b", max(1000, max(period.end_ms, expires_ms) + self._grace_ms - now_ms)]
            else:
                keys += self._window_keys(check)
                args += ["t" if check.kind == "tokens_per_minute" else "q", 2 * WINDOW_MS]
        return bool(await self._eval("finish", keys, args))

    def _queue(self, item: _Finish) -> None:
        if len(self._backlog) == self._backlog.maxlen:
            _log.warning("limits: the backlog for Redis is full; the oldest settle is dropped (its hold expires)")
        self._backlog.append(item)

    def _remember_local_spend(self, reservation: Reservation, cost: int) -> None:
        reserved_ms = to_ms(reservation.reserved_at)
        for check in reservation.checks:
            if check.kind in BUDGET_KINDS:
                period = budget_period(check.kind, reserved_ms)
                key = self._budget_keys(check, period.id)[0]
                drop_at = period.end_ms + self._grace_ms
                spent, _ = self._unsynced.get(key, (0, 0))
                self._unsynced[key] = (spent + cost, drop_at)

    async def _drain_if_up(self) -> None:
        if self._backlog or self._unsynced:
            await self.probe()

    async def _drain(self) -> None:
        """Redis answered: replay what waited for it (once at a time, in order)."""
        if self._draining or not (self._backlog or self._unsynced):
            return
        self._draining = True
        try:
            while self._backlog:
                try:
                    await self._finish_shared(self._backlog[0])
                except _Away:
                    return
                self._backlog.popleft()
            if self._unsynced:
                credit, self._unsynced = self._unsynced, {}
                now_ms = to_ms(self._clock.time())
                args: list[str | int] = [now_ms, WINDOW_MS]
                for spent, drop_at in credit.values():
                    args += [spent, max(1000, drop_at - now_ms)]
                try:
                    await self._eval("credit", list(credit), args)
                except _Away:
                    for key, (spent, drop_at) in credit.items():
                        more, _ = self._unsynced.get(key, (0, 0))
                        self._unsynced[key] = (spent + more, drop_at)
                    return
                _log.warning("limits: added the spend of %d local budget period(s) to Redis", len(credit))
        finally:
            self._draining = False

    # --- Redis calls ---

    async def _eval(self, name: str, keys: list[str], args: list[str | int]) -> Any:
        script = SCRIPTS[name]

        async def command() -> Any:
            try:
                return await self._client.evalsha(script.sha, len(keys), *keys, *args)
            except redis_errors.NoScriptError:
                return await self._client.eval(script.source, len(keys), *keys, *args)

        return await self._call(command)

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        if not self.breaker.allow():
            self._enter_degraded("the breaker is open")
            raise _Away
        started = False
        try:
            async with asyncio.timeout(self._deadline):
                async with self._slots:
                    started = True
                    result = await command()
        except asyncio.CancelledError:
            self.breaker.release()
            raise
        except _OUTAGE as exc:
            if started and not isinstance(exc, redis_errors.MaxConnectionsError):
                self.breaker.record_failure()
            else:
                self.breaker.release()  # every connection busy with other calls: Redis itself is fine
            self._enter_degraded(type(exc).__name__)
            raise _Away from exc
        except redis_errors.RedisError as exc:
            # An error reply (OOM, READONLY, a script error): reachable, but this call was not served.
            self.breaker.record_success()
            self._enter_degraded(f"{type(exc).__name__}: {str(exc)[:200]}")
            raise _Away from exc
        self.breaker.record_success()
        if self._degraded_since is not None:
            _log.warning("limits: Redis answers again; enforcement is shared again")
            self._degraded_since = None
        return result

    def _enter_degraded(self, reason: str) -> None:
        if self._degraded_since is None:
            self._degraded_since = self._clock.time()
            _log.warning(
                "limits: Redis is away (%s); enforcing a local share of each limit (1/%d) until it answers",
                reason,
                self.instances,
            )

    # --- keys ---

    def _state_key(self, request_id: str) -> str:
        return f"{self._prefix}res:{request_id}"

    def _window_keys(self, check: Check) -> list[str]:
        code = "rpm" if check.kind == "requests_per_minute" else "tpm"
        return [f"{self._prefix}{code}:{check.scope}:z", f"{self._prefix}{code}:{check.scope}:h"]

    def _budget_keys(self, check: Check, period_id: str) -> list[str]:
        return [f"{self._prefix}{period_id}:{check.scope}:h", f"{self._prefix}{period_id}:{check.scope}:z"]
