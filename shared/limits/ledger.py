"""The enforcement port of usage limits: the `Ledger` protocol, its value types and the window arithmetic.

A caller turns the limits that apply to a request into `Check`s (scope key, kind, limit) and asks the
ledger to `reserve` the worst case before the provider call, then `settle`s to the real amounts (or
`release`s everything when the call was never made). Adapters: `MemoryLedger` (in process, embedded and
the fallback) and `RedisLedger` (one Lua script per operation). Both implement the same semantics:

- `requests_per_minute`: a sliding 60 s window; each reservation records one request.
- `tokens_per_minute`: a sliding 60 s window of the reserved tokens; settle replaces them by the real
  count while the entry is still in the window (after that it has left the window anyway).
- `daily_budget` / `monthly_budget`: integer micro-USD per UTC calendar day / month. Usage is the
  settled spend plus the pending holds; a hold expires `hold_seconds` after the reservation (a crash or
  timeout gives it back), and settle records the real spend in the period the reservation was made in,
  even after its hold expired, exactly once.

Time is the caller's `now` (wall seconds), quantized to integer milliseconds so both adapters agree to
the millisecond: an entry made at `t` counts while `now < t + 60 s`. A request passes a check when
`used + amount <= limit`; a reservation is all or nothing over its checks.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

__all__ = [
    "BUDGET_KINDS",
    "DEFAULT_HOLD_SECONDS",
    "DEFAULT_SETTLE_GRACE_SECONDS",
    "MAX_AMOUNT",
    "WINDOW_KINDS",
    "WINDOW_MS",
    "Check",
    "Denied",
    "Ledger",
    "LimitKind",
    "Period",
    "Reservation",
    "budget_period",
    "normalize_checks",
    "scale_check",
    "to_ms",
    "validate_amount",
    "validate_hold",
    "validate_reserve",
]

LimitKind = Literal["requests_per_minute", "tokens_per_minute", "daily_budget", "monthly_budget"]
WINDOW_KINDS: frozenset[LimitKind] = frozenset({"requests_per_minute", "tokens_per_minute"})
BUDGET_KINDS: frozenset[LimitKind] = frozenset({"daily_budget", "monthly_budget"})

WINDOW_MS = 60_000
# Holds cover the slowest call (a long stream) plus the settle; past it a crashed call's hold frees itself.
DEFAULT_HOLD_SECONDS = 600.0
# How long a reservation's state outlives its settle or release (or its hold, unsettled): a repeat within
# it is a no-op. It is one small key per request (about 120 bytes in Redis; at 1000 requests/s and a
# 15-minute grace, some 110 MB), so minutes, not days. A first settle after it is still recorded.
DEFAULT_SETTLE_GRACE_SECONDS = 900.0
# Amounts travel through Lua numbers (doubles): integers stay exact far below 2**53.
MAX_AMOUNT = 10**15
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Check:
    """One limit to enforce: `scope` is an opaque key ("t:<tenant>", "u:<tenant>:<user>", "k:<key id>"),
    `limit` is in requests, tokens or micro-USD according to `kind`."""

    scope: str
    kind: LimitKind
    limit: int

    def __post_init__(self) -> None:
        if not self.scope:
            raise ValueError("a check needs a scope")
        if self.kind not in WINDOW_KINDS and self.kind not in BUDGET_KINDS:
            raise ValueError(f"unknown limit kind {self.kind!r}")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 0 <= self.limit <= MAX_AMOUNT:
            raise ValueError(f"a limit is an integer from 0 to {MAX_AMOUNT}, got {self.limit!r}")


@dataclass(frozen=True, slots=True)
class Reservation:
    """A granted reservation: hand it back to `settle` or `release`.

    `remaining` is aligned with `checks`: what is left of each limit once this reservation is counted
    (for the response headers, without another round trip). `origin` is "local" when the reservation was
    made by an in-process ledger (embedded, or the fallback while Redis is away)."""

    request_id: str
    checks: tuple[Check, ...]
    tokens: int
    cost_micros: int
    reserved_at: float
    expires_at: float
    remaining: tuple[int, ...]
    origin: Literal["shared", "local"] = "shared"


@dataclass(frozen=True, slots=True)
class Denied:
    """The check that failed, its usage (settled plus pending) and what was asked, and when enough frees
    up: for a window, when the oldest entries that must leave have left; for a budget, the period's end."""

    check: Check
    used: int
    requested: int
    reset_seconds: float

    @property
    def retry_after(self) -> int:
        """Whole seconds for `Retry-After` (at least 1)."""
        return max(1, math.ceil(self.reset_seconds))


class Ledger(Protocol):
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
        """Atomically over all checks: record one request, `tokens` and a hold of `cost_micros`, or nothing."""
        ...

    async def settle(self, reservation: Reservation, actual_tokens: int, actual_cost_micros: int, now: float) -> bool:
        """Replace the reservation by the real amounts; idempotent, and exact after the hold expired.
        `True` when this call recorded it (or queued it for a Redis that is away), `False` when it was
        settled or released already."""
        ...

    async def release(self, reservation: Reservation, now: float) -> bool:
        """Give everything back (the call was never made); a no-op (`False`) after settle or release."""
        ...

    async def remaining(self, checks: Sequence[Check], now: float) -> dict[Check, int]:
        """What is left of each limit (requests, tokens, micro-USD), never below zero."""
        ...

    async def close(self) -> None:
        """Release connections (the Redis pool); the ledger is not used after."""
        ...


@dataclass(frozen=True, slots=True)
class Period:
    """A UTC calendar day ("d20261126") or month ("m202611") and its end in epoch milliseconds."""

    id: str
    end_ms: int


def to_ms(now: float) -> int:
    if not math.isfinite(now):
        raise ValueError(f"now must be a finite number of seconds, got {now}")
    return round(now * 1000)


def budget_period(kind: LimitKind, now_ms: int) -> Period:
    # POSIX time has no leap seconds: whole multiples of a day since the epoch are UTC midnights.
    return _period_of_day(kind, now_ms // _DAY_MS)


@functools.lru_cache(maxsize=64)
def _period_of_day(kind: LimitKind, day: int) -> Period:
    start = datetime.fromtimestamp(day * _DAY_MS / 1000, UTC)
    if kind == "daily_budget":
        return Period(f"d{start:%Y%m%d}", (day + 1) * _DAY_MS)
    if kind == "monthly_budget":
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        end = datetime(year, month, 1, tzinfo=UTC)
        return Period(f"m{start:%Y%m}", round(end.timestamp() * 1000))
    raise ValueError(f"{kind} is not a budget")


def normalize_checks(checks: Sequence[Check]) -> tuple[Check, ...]:
    """One check per (scope, kind), the tightest limit kept, first-seen order: a scope's counter is
    recorded once per reservation however many limits name it."""
    tightest: dict[tuple[str, LimitKind], Check] = {}
    for check in checks:
        key = (check.scope, check.kind)
        current = tightest.get(key)
        if current is None or check.limit < current.limit:
            tightest[key] = check
    return tuple(tightest.values())


def scale_check(check: Check, instances: int) -> Check:
    """The per-instance share of a limit while the shared ledger is away: rounded up, so a small limit
    is never turned into a zero that would block everything."""
    return Check(check.scope, check.kind, -(-check.limit // instances))


def validate_amount(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        raise ValueError(f"{name} is an integer from 0 to {MAX_AMOUNT}, got {value!r}")


def validate_reserve(request_id: str, tokens: int, cost_micros: int, hold_seconds: float) -> None:
    """The arguments of `Ledger.reserve` every adapter checks the same way (ValueError naming the bad one)."""
    validate_hold(hold_seconds)
    validate_amount("tokens", tokens)
    validate_amount("cost_micros", cost_micros)
    if not request_id:
        raise ValueError("a reservation needs a request id")


def validate_hold(hold_seconds: float, name: str = "hold_seconds") -> None:
    if not (hold_seconds > 0 and math.isfinite(hold_seconds)):
        raise ValueError(f"{name} must be positive (seconds), got {hold_seconds}")
