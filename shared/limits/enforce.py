"""Usage limits on the request path: the records that bind a caller turned into ledger checks, the worst case
reserved before the call, the real amounts settled after it.

`Limiter.admit` runs once the routes are planned (a cache hit never gets here: it costs nothing and calls
no provider). With no limit set for the caller it returns at once, without touching the ledger. Otherwise:

1. Every planned route gets a worst case: its cost with the prompt at its upper bound (one token per
   character of text, `PROMPT_BOUND_FACTOR` times the router's estimate) and the output at `maxTokens`, else
   the model's maximum output; and its tokens (the prompt estimate plus that output).
2. Under a budget, routes without a price are dropped (their cost could not be bounded); none left is a
   400 naming the model.
3. The ledger reserves, atomically over every check, one request, the largest token worst case and the
   largest cost worst case of the routes kept. Refused on a budget (or the tokens per minute), the routes
   whose own worst case does not fit what is left are dropped and the reservation is tried again with the
   rest; refused on the request rate, or with nothing left to drop, the request gets a 429
   (`LimitExceeded`) naming the limit, the scope and when it resets.

After the call `settle` records the real tokens and cost (from the reply's usage; for a stream that ended
early, what it used so far) and gives the rest back; `release` gives everything back when no provider was
called. A request that failed at the providers is settled at zero cost: it still counts as a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.clock import Clock
from shared.cost import DEFAULT_OUTPUT_RESERVE, estimate_cost, format_usd
from shared.errors import LimitCode, LimitExceeded, RequestError
from shared.identity import Identity
from shared.limits.config import LIMIT_FIELDS, LimitRecord
from shared.limits.ledger import BUDGET_KINDS, Check, Denied, Ledger, LimitKind, Reservation
from shared.limits.store import LimitsCache
from shared.routing import RequestNeeds, Route
from shared.routing.tokens import CHARS_PER_TOKEN

__all__ = [
    "PROMPT_BOUND_FACTOR",
    "Admission",
    "LimitHeaders",
    "Limiter",
    "checks_of",
]

# The router's prompt estimate assumes 4 characters per token; no tokenizer makes a token of less than one
# character of text (images are priced at 4x their usual allowance too): the estimate times this bounds it.
PROMPT_BOUND_FACTOR = CHARS_PER_TOKEN
_ATTEMPTS = 3  # reservations tried, each after dropping the routes that did not fit

# The ledger's kind -> the configuration's field (shared.limits.config), and from it the API's name.
_FIELDS: dict[LimitKind, str] = {
    "requests_per_minute": "requests_per_minute",
    "tokens_per_minute": "tokens_per_minute",
    "daily_budget": "daily_budget_usd",
    "monthly_budget": "monthly_budget_usd",
}
_WIRE_NAMES = {kind: LIMIT_FIELDS[field] for kind, field in _FIELDS.items()}
_WORDS: dict[LimitKind, str] = {
    "requests_per_minute": "requests per minute",
    "tokens_per_minute": "tokens per minute",
    "daily_budget": "daily budget",
    "monthly_budget": "monthly budget",
}


@dataclass(frozen=True, slots=True)
class _Bound:
    """What a check belongs to: the scope in wire form (for the 429) beside the ledger's check."""

    check: Check
    scope: dict[str, str | None]


def checks_of(records: Sequence[LimitRecord]) -> tuple[_Bound, ...]:
    """One check per limit set in `records`; budgets in micro-USD. The ledger scope key is the record's
    document id (`tenant|t`, `user|t|u`, `key|t|k`): unique across tenants and kinds."""
    bounds: list[_Bound] = []
    for record in records:
        scope, limits, wire = record.scope.doc_id, record.limits, record.scope.wire()
        values: tuple[tuple[LimitKind, int | None], ...] = (
            ("requests_per_minute", limits.requests_per_minute),
            ("tokens_per_minute", limits.tokens_per_minute),
            ("daily_budget", limits.daily_budget_micros),
            ("monthly_budget", limits.monthly_budget_micros),
        )
        bounds.extend(_Bound(Check(scope, kind, value), wire) for kind, value in values if value is not None)
    return tuple(bounds)


@dataclass(frozen=True, slots=True)
class LimitHeaders:
    """What is left of the tightest limit of each kind that applies (None: no such limit)."""

    budget_micros: int | None = None
    requests: int | None = None
    tokens: int | None = None

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.budget_micros is not None:
            out["x-gateway-budget-remaining"] = format_usd(self.budget_micros)
        if self.requests is not None:
            out["x-ratelimit-remaining-requests"] = str(self.requests)
        if self.tokens is not None:
            out["x-ratelimit-remaining-tokens"] = str(self.tokens)
        return out


@dataclass(frozen=True, slots=True)
class Admission:
    """A granted reservation and the routes it covers (the plan's, minus those that did not fit)."""

    reservation: Reservation
    routes: tuple[Route, ...]
    dropped: tuple[tuple[Route, str], ...]  # (route, "budget" | "tokens" | "unpriced")

    def remaining(self, tokens: int | None = None, cost_micros: int | None = None) -> LimitHeaders:
        """What is left: as when this request was admitted, or (given its real amounts) corrected by what it
        really used. Requests admitted after it are not subtracted: a snapshot, like a provider's own
        rate-limit headers, which costs no second round trip. Never below zero, never above the limit."""
        r = self.reservation
        budget = requests = token_room = None
        for check, left in zip(r.checks, r.remaining, strict=True):
            if check.kind in BUDGET_KINDS:
                if cost_micros is not None:
                    left = min(check.limit, max(0, left + r.cost_micros - cost_micros))
                budget = left if budget is None else min(budget, left)
            elif check.kind == "tokens_per_minute":
                if tokens is not None:
                    left = min(check.limit, max(0, left + r.tokens - tokens))
                token_room = left if token_room is None else min(token_room, left)
            else:
                requests = left if requests is None else min(requests, left)
        return LimitHeaders(budget, requests, token_room)


class Limiter:
    """The request path's side of the limits: `admit` before the call, `settle` / `release` after."""

    def __init__(self, limits: LimitsCache, ledger: Ledger, clock: Clock, *, hold_seconds: float) -> None:
        self.limits = limits
        self.ledger = ledger
        self._clock = clock
        self._hold = hold_seconds
        # The checks of a set of records, by (doc id, version): built once per change, not per request.
        self._memo: dict[tuple[tuple[str, int], ...], tuple[_Bound, ...]] = {}

    async def bounds(self, identity: Identity) -> tuple[_Bound, ...]:
        """The checks that bind `identity` (empty: unlimited). Raises a 503 when its limits cannot be read."""
        records = await self.limits.applicable(identity)
        if not records:
            return ()
        key = tuple((r.scope.doc_id, r.version) for r in records)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= 10_000:
                self._memo.clear()
            found = self._memo[key] = checks_of(records)
        return found

    async def admit(
        self, identity: Identity, request_id: str, routes: Sequence[Route], needs: RequestNeeds
    ) -> Admission | None:
        """Reserve the worst case of the routes that fit (see the module docstring); None when no limit binds
        the caller. Raises `LimitExceeded` (429) when nothing fits."""
        bounds = await self.bounds(identity)
        if not bounds:
            return None
        checks = tuple(b.check for b in bounds)
        budgeted = any(c.kind in BUDGET_KINDS for c in checks)
        dropped: list[tuple[Route, str]] = []
        kept: list[tuple[Route, int, int]] = []  # route, worst tokens, worst micros
        for route in routes:
            tokens, micros = _worst_case(route, needs)
            if budgeted and micros is None:
                dropped.append((route, "unpriced"))
            else:
                kept.append((route, tokens, micros or 0))
        if not kept:
            raise _unpriced(bounds, routes)
        for attempt in range(_ATTEMPTS):
            now = self._clock.time()
            got = await self.ledger.reserve(
                request_id,
                checks,
                now,
                tokens=max(t for _, t, _ in kept),
                cost_micros=max(m for _, _, m in kept),
                hold_seconds=self._hold,
            )
            if isinstance(got, Reservation):
                return Admission(got, tuple(r for r, _, _ in kept), tuple(dropped))
            room = got.check.limit - got.used
            kind = got.check.kind
            if kind == "requests_per_minute":
                raise _exceeded(got, bounds, now)
            fits = [k for k in kept if (k[1] if kind == "tokens_per_minute" else k[2]) <= room]
            if not fits or len(fits) == len(kept) or attempt == _ATTEMPTS - 1:
                raise _exceeded(got, bounds, now)
            dropped.extend((k[0], "tokens" if kind == "tokens_per_minute" else "budget") for k in kept if k not in fits)
            kept = fits
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def settle(self, admission: Admission, tokens: int, cost_micros: int) -> LimitHeaders:
        """Record the real amounts (the rest of the hold is given back); what is left afterwards."""
        await self.ledger.settle(admission.reservation, tokens, cost_micros, self._clock.time())
        return admission.remaining(tokens, cost_micros)

    async def release(self, admission: Admission) -> None:
        """Give everything back: no provider was called."""
        await self.ledger.release(admission.reservation, self._clock.time())

    async def aclose(self) -> None:
        """Close the ledger's connections (the Redis ledger's pool; the in-process one has none)."""
        await self.ledger.close()


def _worst_case(route: Route, needs: RequestNeeds) -> tuple[int, int | None]:
    """(tokens, micro-USD or None when unpriced) of serving the request on `route` at most."""
    entry = route.entry
    output = needs.max_tokens
    if output is None:
        output = entry.max_output if entry is not None and entry.max_output is not None else DEFAULT_OUTPUT_RESERVE
    elif entry is not None and entry.max_output is not None:
        output = min(output, entry.max_output)
    cost = estimate_cost(needs.prompt_tokens * PROMPT_BOUND_FACTOR, output, entry)
    return needs.prompt_tokens + output, cost.micros


def _find(bounds: Sequence[_Bound], check: Check) -> _Bound:
    return next(b for b in bounds if b.check.scope == check.scope and b.check.kind == check.kind)


def _value(check: Check) -> str | int:
    return format_usd(check.limit) if check.kind in BUDGET_KINDS else check.limit


def _who(scope: dict[str, str | None]) -> str:
    if scope["userId"] is not None:
        return f"user {scope['userId']!r} of tenant {scope['tenantId']!r}"
    if scope["keyId"] is not None:
        return f"key {scope['keyId']!r} of tenant {scope['tenantId']!r}"
    return f"tenant {scope['tenantId']!r}"


def _exceeded(denied: Denied, bounds: Sequence[_Bound], now: float) -> LimitExceeded:
    check = denied.check
    bound = _find(bounds, check)
    resets_at = datetime.fromtimestamp(now + denied.reset_seconds, UTC).isoformat(timespec="seconds")
    code: LimitCode
    if check.kind in BUDGET_KINDS:
        code = "budget_exceeded"
        detail = (
            f"{format_usd(denied.used)} of {format_usd(check.limit)} USD used or held, "
            f"this request may cost up to {format_usd(denied.requested)} USD"
        )
    else:
        code = "rate_limited"
        detail = f"{denied.used} of {check.limit} used in the last minute, this request needs {denied.requested}"
    return LimitExceeded(
        f"{_WORDS[check.kind]} of {_who(bound.scope)} reached: {detail}; resets at {resets_at} "
        f"(retry after {denied.retry_after} s)",
        code=code,
        limit=_WIRE_NAMES[check.kind],
        value=_value(check),
        scope=bound.scope,
        retry_after=denied.retry_after,
        resets_at=resets_at,
    )


def _unpriced(bounds: Sequence[_Bound], routes: Sequence[Route]) -> RequestError:
    """A budget applies and no route has a price: the request's cost cannot be bounded. Waiting would not
    help, so it is the caller's request that is refused (400), not a limit reached (429)."""
    bound = next(b for b in bounds if b.check.kind in BUDGET_KINDS)
    models = ", ".join(sorted({r.model for r in routes})) or "the requested model"
    return RequestError(
        f"the {_WORDS[bound.check.kind]} of {_who(bound.scope)} applies and {models} has no price in the "
        "catalog: its cost cannot be bounded, so it cannot be served under a budget; name a catalog model",
        field="model",
    )
