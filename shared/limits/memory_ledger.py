"""`MemoryLedger`: the in-process ledger, for the embedded gateway and as `RedisLedger`'s fallback.

The same semantics as the Redis scripts (see `shared.limits.ledger`), on dicts and heaps. Every
operation is synchronous code under one lock: there is no `await` inside a critical section, so
concurrent coroutines see each reservation as one step, and the lock (a `threading.Lock`, held for
microseconds and never across an await) keeps it correct from threads too.

Memory stays bounded the way Redis keys do: every record carries a drop time (a window 2 minutes after
its last write, a budget period after its end plus the longest hold and the settle grace, a reservation's
state after its hold plus the grace, or the grace once settled or released), and records past it are
dropped lazily by the next operation.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from shared.limits.ledger import (
    BUDGET_KINDS,
    DEFAULT_HOLD_SECONDS,
    DEFAULT_SETTLE_GRACE_SECONDS,
    WINDOW_MS,
    Check,
    Denied,
    LimitKind,
    Reservation,
    budget_period,
    normalize_checks,
    to_ms,
    validate_amount,
    validate_hold,
    validate_reserve,
)

__all__ = ["MemoryLedger"]

_WindowKey = tuple[str, str]  # scope, kind
_BudgetKey = tuple[str, str, str]  # scope, kind, period id
_RecordKey = tuple[str, ...]  # ("w", *window key), ("b", *budget key) or ("r", request id)
_State = Literal["held", "settled", "released"]


@dataclass
class _Window:
    """Entries of one scope's sliding window: request id -> (timestamp ms, amount), oldest first in `heap`."""

    entries: dict[str, tuple[int, int]] = field(default_factory=dict)
    heap: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0

    def sweep(self, now_ms: int) -> int:
        cutoff = now_ms - WINDOW_MS
        heap, entries = self.heap, self.entries
        while heap and heap[0][0] <= cutoff:
            stamp, request_id = heapq.heappop(heap)
            entry = entries.get(request_id)
            if entry is not None and entry[0] == stamp:
                del entries[request_id]
                self.total -= entry[1]
        return self.total

    def add(self, request_id: str, now_ms: int, amount: int) -> None:
        self.entries[request_id] = (now_ms, amount)
        heapq.heappush(self.heap, (now_ms, request_id))
        self.total += amount

    def reset_ms(self, now_ms: int, need: int) -> int:
        """Until the oldest entries holding `need` units have left the window (the window if never)."""
        freed = 0
        for stamp, amount in sorted(self.entries.values()):
            freed += amount
            if freed >= need:
                return stamp + WINDOW_MS - now_ms
        return WINDOW_MS


@dataclass
class _Budget:
    """One scope's budget in one period: settled spend, pending holds and their expiry times."""

    spent: int = 0
    pending: int = 0
    holds: dict[str, tuple[int, int]] = field(default_factory=dict)  # request id -> (amount, expires ms)
    heap: list[tuple[int, str]] = field(default_factory=list)

    def sweep(self, now_ms: int) -> int:
        heap, holds = self.heap, self.holds
        while heap and heap[0][0] <= now_ms:
            expires, request_id = heapq.heappop(heap)
            hold = holds.get(request_id)
            if hold is not None and hold[1] == expires:
                del holds[request_id]
                self.pending -= hold[0]
        return self.spent + self.pending

    def hold(self, request_id: str, amount: int, expires_ms: int) -> None:
        self.holds[request_id] = (amount, expires_ms)
        heapq.heappush(self.heap, (expires_ms, request_id))
        self.pending += amount

    def drop_hold(self, request_id: str) -> None:
        hold = self.holds.pop(request_id, None)
        if hold is not None:
            self.pending -= hold[0]
        if len(self.heap) > 2 * len(self.holds) + 64:
            # Settled holds leave their heap entries behind until they would have expired: compact.
            self.heap = [(expires, held_id) for held_id, (_, expires) in self.holds.items()]
            heapq.heapify(self.heap)


def _amount(check: Check, tokens: int, cost_micros: int) -> int:
    if check.kind == "requests_per_minute":
        return 1
    if check.kind == "tokens_per_minute":
        return tokens
    return cost_micros


class MemoryLedger:
    """The `Ledger` in process. `hold_seconds` is the default hold of a reservation."""

    def __init__(
        self,
        *,
        hold_seconds: float = DEFAULT_HOLD_SECONDS,
        settle_grace_seconds: float = DEFAULT_SETTLE_GRACE_SECONDS,
    ) -> None:
        validate_hold(hold_seconds)
        validate_hold(settle_grace_seconds, "settle_grace_seconds")
        self.hold_seconds = hold_seconds
        self._grace_ms = to_ms(settle_grace_seconds)
        self._lock = threading.Lock()
        self._windows: dict[_WindowKey, _Window] = {}
        self._budgets: dict[_BudgetKey, _Budget] = {}
        self._states: dict[str, _State] = {}
        # Lazy expiry, like Redis TTLs: record key -> drop time, and a heap of (drop time, key).
        self._drop_at: dict[_RecordKey, int] = {}
        self._drops: list[tuple[int, _RecordKey]] = []

    @property
    def records(self) -> int:
        """Windows, budget periods and reservation states held (dropped lazily once past their time)."""
        return len(self._windows) + len(self._budgets) + len(self._states)

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
        with self._lock:
            return self._reserve(request_id, normalize_checks(checks), to_ms(now), tokens, cost_micros, to_ms(hold))

    async def settle(self, reservation: Reservation, actual_tokens: int, actual_cost_micros: int, now: float) -> bool:
        validate_amount("actual_tokens", actual_tokens)
        validate_amount("actual_cost_micros", actual_cost_micros)
        with self._lock:
            return self._finish(reservation, to_ms(now), (actual_tokens, actual_cost_micros))

    async def release(self, reservation: Reservation, now: float) -> bool:
        with self._lock:
            return self._finish(reservation, to_ms(now), None)

    async def remaining(self, checks: Sequence[Check], now: float) -> dict[Check, int]:
        now_ms = to_ms(now)
        with self._lock:
            self._expire(now_ms)
            return {check: max(0, check.limit - self._used(check, now_ms)) for check in checks}

    async def close(self) -> None:
        """Nothing to release: the counters live in this process."""

    # --- internals (called with the lock held) ---

    def _reserve(
        self, request_id: str, checks: tuple[Check, ...], now_ms: int, tokens: int, cost: int, hold_ms: int
    ) -> Reservation | Denied:
        expires_ms = now_ms + hold_ms
        if not checks:
            return Reservation(request_id, (), tokens, cost, now_ms / 1000, expires_ms / 1000, (), "local")
        self._expire(now_ms)
        if request_id in self._states:
            raise ValueError(f"request id {request_id!r} already has a reservation")
        used: list[int] = []
        for check in checks:
            amount = _amount(check, tokens, cost)
            current = self._used(check, now_ms)
            if current + amount > check.limit:
                return Denied(check, current, amount, self._reset_ms(check, now_ms, current + amount) / 1000)
            used.append(current + amount)
        for check in checks:
            amount = _amount(check, tokens, cost)
            if check.kind in BUDGET_KINDS:
                period = budget_period(check.kind, now_ms)
                budget = self._budget(check.scope, check.kind, period.id)
                budget.hold(request_id, amount, expires_ms)
                self._touch(("b", check.scope, check.kind, period.id), max(period.end_ms, expires_ms) + self._grace_ms)
            else:
                window = self._windows.setdefault((check.scope, check.kind), _Window())
                window.add(request_id, now_ms, amount)
                self._touch(("w", check.scope, check.kind), now_ms + 2 * WINDOW_MS)
        self._states[request_id] = "held"
        self._touch(("r", request_id), expires_ms + self._grace_ms)
        remaining = tuple(check.limit - value for check, value in zip(checks, used, strict=True))
        return Reservation(request_id, checks, tokens, cost, now_ms / 1000, expires_ms / 1000, remaining, "local")

    def _finish(self, reservation: Reservation, now_ms: int, actual: tuple[int, int] | None) -> bool:
        """Settle (`actual` = tokens, cost) or release (`None`), once per reservation state."""
        if not reservation.checks:
            return False
        self._expire(now_ms)
        request_id = reservation.request_id
        if self._states.get(request_id) in ("settled", "released"):
            return False
        reserved_ms = to_ms(reservation.reserved_at)
        expires_ms = to_ms(reservation.expires_at)
        for check in reservation.checks:
            if check.kind in BUDGET_KINDS:
                period = budget_period(check.kind, reserved_ms)
                budget = self._budget(check.scope, check.kind, period.id)
                budget.drop_hold(request_id)
                if actual is not None:
                    budget.spent += actual[1]
                self._touch(("b", check.scope, check.kind, period.id), max(period.end_ms, expires_ms) + self._grace_ms)
                continue
            window = self._windows.get((check.scope, check.kind))
            entry = None if window is None else window.entries.get(request_id)
            if window is None or entry is None:
                continue  # it has left the window already
            if actual is None:
                del window.entries[request_id]
                window.total -= entry[1]
            elif check.kind == "tokens_per_minute":
                window.entries[request_id] = (entry[0], actual[0])
                window.total += actual[0] - entry[1]
        self._states[request_id] = "released" if actual is None else "settled"
        self._touch(("r", request_id), now_ms + self._grace_ms, extend_only=False)
        return True

    def _used(self, check: Check, now_ms: int) -> int:
        if check.kind in BUDGET_KINDS:
            budget = self._budgets.get((check.scope, check.kind, budget_period(check.kind, now_ms).id))
            return 0 if budget is None else budget.sweep(now_ms)
        window = self._windows.get((check.scope, check.kind))
        return 0 if window is None else window.sweep(now_ms)

    def _reset_ms(self, check: Check, now_ms: int, wanted: int) -> int:
        if check.kind in BUDGET_KINDS:
            return budget_period(check.kind, now_ms).end_ms - now_ms
        window = self._windows.get((check.scope, check.kind))
        if window is None or wanted - check.limit > window.total:
            return WINDOW_MS  # larger than the limit itself: no amount of waiting makes it fit
        return window.reset_ms(now_ms, wanted - check.limit)

    def _budget(self, scope: str, kind: LimitKind, period_id: str) -> _Budget:
        return self._budgets.setdefault((scope, kind, period_id), _Budget())

    def _touch(self, key: _RecordKey, drop_at: int, *, extend_only: bool = True) -> None:
        """Like PEXPIRE; `extend_only` keeps a later drop time (a budget period outlives its longest hold)."""
        current = self._drop_at.get(key, -1)
        if current < drop_at or (not extend_only and current != drop_at):
            self._drop_at[key] = drop_at
            heapq.heappush(self._drops, (drop_at, key))

    def _expire(self, now_ms: int) -> None:
        drops = self._drops
        while drops and drops[0][0] <= now_ms:
            drop_at, key = heapq.heappop(drops)
            if self._drop_at.get(key) != drop_at:
                continue  # touched again since: a later entry in the heap drops it
            del self._drop_at[key]
            if key[0] == "w":
                self._windows.pop((key[1], key[2]), None)
            elif key[0] == "b":
                self._budgets.pop((key[1], key[2], key[3]), None)
            else:
                self._states.pop(key[1], None)
