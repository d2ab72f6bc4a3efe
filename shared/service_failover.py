"""Trying a request's routes in order: retries, credential switches, failover and breaker outcomes.

The router decides the order (`RoutePlan`); this module walks it, the one place that decides what the
next attempt is (architecture, Routing and Circuit breakers):

- A route's breaker is asked once per route: open -> skipped; half-open -> this request may be the one
  probe, which is a single attempt (no retries on a probe).
- Each attempt takes the first credential of the provider whose credential breaker admits it, preferring
  one that has not failed in this request; a credential that failed definitively (401/403, exhausted
  quota) is not used again in this request, and switching to another key is not a retry.
- Retryable errors retry the same route with backoff (`RetryPolicy`), up to `max_retries` and within
  the request's waiting budget; a provider asking for a longer wait than the gateway holds a request,
  a non-retryable fault, exhausted retries or a breaker that trips mid-request fail over to the next
  route at once.
- A caller's own mistake (invalid request, context length, content filter, not found) on the model the
  caller named ends the request: no failover, no breaker count. The same error from a *substitute* is
  the gateway's choice gone wrong, so it fails over.
- Each failed attempt is counted in the breakers and the live metrics as it happens. A success is settled
  by the caller through `settle` (JSON at once; a stream when it ends, since a cut counts as a fault).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, TypeVar

from shared.breakers import BreakerBoard, classify, credential_scope, route_scope
from shared.clock import Clock
from shared.credentials import Credential
from shared.errors import GatewayError, NoRouteError, ProviderError, UpstreamFailure
from shared.metrics import LiveMetrics
from shared.retry import RetryPolicy
from shared.routing import Route, RoutePlan

__all__ = ["CALLER_KINDS", "Attempt", "Failover", "Served"]

T = TypeVar("T")

# Errors the caller caused: returned as they are when the named model produced them.
CALLER_KINDS = frozenset({"invalid_request", "context_length", "content_filter", "not_found"})


@dataclasses.dataclass(slots=True)
class Attempt:
    """One try of one route with one credential. `probe_*`: this attempt is its breaker's half-open probe."""

    route: Route
    credential: Credential
    started: float  # monotonic
    probe_route: bool = False
    probe_credential: bool = False

    @property
    def route_scope(self) -> str:
        return route_scope(self.route.provider, self.route.model)

    @property
    def credential_scope(self) -> str:
        return credential_scope(self.route.provider, self.credential.fingerprint)


@dataclasses.dataclass(frozen=True, slots=True)
class Served(Generic[T]):
    value: T
    attempt: Attempt
    attempts: int  # provider calls made, the successful one included
    note: str  # x-gateway-route: why this route served the request


@dataclasses.dataclass(slots=True)
class _Walk:
    """What one request has seen so far."""

    errors: list[ProviderError] = dataclasses.field(default_factory=list)
    dead: set[str] = dataclasses.field(default_factory=set)  # fingerprints that failed definitively
    failed: set[str] = dataclasses.field(default_factory=set)  # fingerprints that failed at all
    waited: float = 0.0
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # "provider/model" -> why
    left: str = ""  # the route given up last and why: "openai/gpt-4o (overloaded)"
    last_owner: str = "platform"  # whose key the last failed attempt used: a user's own key's 401 is theirs
    reopen: list[float] = dataclasses.field(default_factory=list)  # when skipped open breakers let a probe in


class Failover:
    def __init__(
        self,
        *,
        breakers: BreakerBoard,
        retry: RetryPolicy,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]],
        random: Callable[[], float],
        metrics: LiveMetrics | None = None,
    ) -> None:
        self._breakers = breakers
        self._retry = retry
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._metrics = metrics

    async def run(
        self,
        plan: RoutePlan,
        credentials: Mapping[str, tuple[Credential, ...]],
        requested_model: str,
        once: Callable[[Attempt], Awaitable[T]],
    ) -> Served[T]:
        """Call `once` for attempt after attempt until one succeeds; raise `UpstreamFailure` (every
        attempt listed) or `NoRouteError` (nothing could be tried) when the plan is exhausted."""
        walk = _Walk()
        # The named model left out of the plan (its breaker open, say) is what the first route stands in for.
        for excluded in plan.excluded:
            if excluded.model == requested_model:
                walk.left = f"{excluded.provider}/{excluded.model} ({excluded.reason})"
        for route in plan.routes:
            outcome = await self._route(route, credentials.get(route.provider, ()), requested_model, once, walk)
            if isinstance(outcome, str):
                walk.left = f"{route.provider}/{route.model} ({outcome})"
                continue
            value, attempt = outcome
            note = f"fallback after {walk.left}" if walk.left else route.reason
            return Served(value, attempt, len(walk.errors) + 1, note)
        if walk.errors:
            raise UpstreamFailure(tuple(walk.errors), caller_credential=walk.last_owner == "user")
        reasons = {f"{e.provider}/{e.model}": e.reason for e in plan.excluded} | walk.skipped
        raise _no_route(reasons, self._retry_after(reasons, walk.reopen))

    async def _route(
        self,
        route: Route,
        creds: tuple[Credential, ...],
        requested_model: str,
        once: Callable[[Attempt], Awaitable[T]],
        walk: _Walk,
    ) -> tuple[T, Attempt] | str:
        """Serve the request on `route`, or say why the route was given up."""
        name = f"{route.provider}/{route.model}"
        scope = route_scope(route.provider, route.model)
        admission = await self._breakers.admit(scope)
        if admission == "open":
            walk.skipped[name] = "breaker_open"
            walk.reopen.extend(t for t in (self._breakers.open_until(scope),) if t is not None)
            return "breaker_open"
        retries = 0
        why = ""
        while True:
            picked = await self._credential(route, creds, walk)
            if picked is None:
                if admission == "probe" and not why:
                    await self._breakers.forgo(scope)  # nothing was sent: let another request probe
                # Before any attempt: every key is missing, dead or cooling down behind its own breaker.
                if not why:
                    why = "key_breaker_open" if any(c.fingerprint not in walk.dead for c in creds) else "no_credential"
                    walk.skipped[name] = why
                return why
            credential, probe_credential = picked
            attempt = Attempt(route, credential, self._clock.monotonic(), admission == "probe", probe_credential)
            try:
                return await once(attempt), attempt
            except ProviderError as error:
                error.model = route.model
                if credential.owner == "user" and credential.key_id and error.kind in ("authentication", "permission"):
                    # The caller's own stored key: say which one, and how to fix it (never the key itself).
                    error.message = (
                        f"{route.provider} rejected your stored key {credential.key_id} ({error.kind}): store a "
                        f"working one with POST /api/ai/keys/{credential.key_id}/rotate. {error.message}"
                    )
                walk.errors.append(error)
                walk.last_owner = credential.owner
                walk.failed.add(credential.fingerprint)
                why = error.kind
                await self.settle(attempt, error)
                if error.kind in CALLER_KINDS:
                    if route.model == requested_model:
                        raise UpstreamFailure(
                            tuple(walk.errors), caller_credential=walk.last_owner == "user"
                        ) from error
                    return why  # a substitute's 4xx: the gateway's choice, so try the next route
                fault = classify(error)
                if fault is not None and fault.scope == "credential" and fault.definitive:
                    walk.dead.add(credential.fingerprint)
                    continue  # another key of the same provider, if any: not a retry
                if attempt.probe_route or self._breakers.is_open(attempt.route_scope):
                    return why
                retries += 1
                delay = self._retry.delay(retries, error.retry_after, self._random) if error.retryable else None
                # One waiting budget for the whole request: past it, fail over instead of holding on.
                if delay is None or walk.waited + delay > self._retry.max_total_wait_seconds:
                    return why
                walk.waited += delay
                await self._sleep(delay)

    async def _credential(
        self, route: Route, creds: tuple[Credential, ...], walk: _Walk
    ) -> tuple[Credential, bool] | None:
        usable = [c for c in creds if c.fingerprint not in walk.dead]
        # Keys that have not failed in this request first; a retry may still reuse a key (429 after waiting).
        usable.sort(key=lambda c: c.fingerprint in walk.failed)
        for credential in usable:
            scope = credential_scope(route.provider, credential.fingerprint)
            admission = await self._breakers.admit(scope)
            if admission != "open":
                return credential, admission == "probe"
            walk.reopen.extend(t for t in (self._breakers.open_until(scope),) if t is not None)
        return None

    async def settle(self, attempt: Attempt, error: GatewayError | None) -> None:
        """Count one attempt's outcome in its route and credential breakers (and the live metrics for a
        failed attempt). A fault counts only in its own scope; the other scope saw a working party. A
        caller's mistake counts in neither: it says nothing about the provider or the key, except that a
        probe must still settle (the provider did answer, so the probe succeeded)."""
        if isinstance(error, ProviderError) and not error.in_stream and self._metrics is not None:
            self._metrics.record(
                attempt.route.provider,
                attempt.route.model,
                error_kind=error.kind,
                latency_s=self._clock.monotonic() - attempt.started,
                ttft_s=None,
            )
        caller = isinstance(error, ProviderError) and error.kind in CALLER_KINDS
        fault = classify(error) if isinstance(error, ProviderError) else None
        reason = error.kind if isinstance(error, ProviderError) else ""
        for scope, probe, kind in (
            (attempt.route_scope, attempt.probe_route, "route"),
            (attempt.credential_scope, attempt.probe_credential, "credential"),
        ):
            if caller and not probe:
                continue
            ok = fault is None or fault.scope != kind
            definitive = not ok and fault is not None and fault.definitive
            await self._breakers.record(scope, ok=ok, definitive=definitive, probe=probe, reason="" if ok else reason)

    def no_route(self, plan: RoutePlan) -> NoRouteError:
        """The error for a plan that has no route at all (every candidate excluded before any attempt)."""
        reasons = {f"{e.provider}/{e.model}": e.reason for e in plan.excluded}
        return _no_route(reasons, self._retry_after(reasons, []))

    def _retry_after(self, reasons: Mapping[str, str], reopen: list[float]) -> float | None:
        """Seconds until the first open breaker (a route's among `reasons`, or any in `reopen`) lets a
        probe through, at least 1; None when no breaker is why nothing could be tried."""
        times = list(reopen)
        for name, why in reasons.items():
            until = self._breakers.open_until(route_scope(*name.split("/", 1))) if why == "breaker_open" else None
            if until is not None:
                times.append(until)
        # Rounded to the millisecond: float noise must not turn 30 s into a Retry-After of 31.
        return round(max(1.0, min(times) - self._clock.time()), 3) if times else None


def _no_route(reasons: dict[str, str], retry_after: float | None) -> NoRouteError:
    if reasons and all(why == "key_breaker_open" for why in reasons.values()):
        message = (
            "every provider key usable for " + ", ".join(sorted(reasons)) + " failed recently and is resting"
            " (its circuit breaker is open): if it is your own key, check it or rotate it with"
            " POST /api/ai/keys/{id}/rotate"
        )
    elif reasons and all(why in ("breaker_open", "key_breaker_open") for why in reasons.values()):
        message = "every candidate model's circuit breaker is open: " + ", ".join(sorted(reasons))
    elif reasons and all(why == "no_credential" for why in reasons.values()):
        message = "no usable API key for " + ", ".join(sorted(reasons))
    else:
        message = "no candidate model could be tried: " + ", ".join(f"{k} ({v})" for k, v in sorted(reasons.items()))
    return NoRouteError(message, reasons=reasons, retry_after=retry_after)
