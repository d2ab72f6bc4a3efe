"""Unit tests of `Failover`: the walk over a route plan (retries, credential switches, failover, breaker outcomes).

Pure logic on real parts: a `BreakerBoard` on an in-memory SQLite store, a fake clock that the fake sleep
advances, `random=lambda: 0.5` (so a backoff is half its step), and a scripted `once` that raises the
`ProviderError`s a test lists (or returns a value) and records which route and key each attempt used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pytest

from shared.breakers import BreakerBoard, BreakerPolicy, credential_scope, route_scope
from shared.catalog import default_catalog
from shared.credentials import Credential
from shared.errors import ErrorKind, GatewayError, NoRouteError, ProviderError, UpstreamFailure
from shared.metrics import LiveMetrics, MemoryMetricsBackend
from shared.retry import RetryPolicy
from shared.routing import Exclusion, RequestNeeds, Route, RoutePlan, RoutePolicy, RouteReason
from shared.service_failover import Attempt, Failover
from shared.store import SqliteStore
from tests.breakers import FakeClock

CATALOG = default_catalog()
NEEDS = RequestNeeds(
    tools=False,
    vision=False,
    json_mode=False,
    streaming=False,
    sampling=frozenset(),
    prompt_tokens=10,
    max_tokens=None,
)
KEY_A = Credential.platform("openai", "sk-test-openai-a")
KEY_B = Credential.platform("openai", "sk-test-openai-b")
KEY_C = Credential.platform("anthropic", "sk-test-anthropic")
KEY_G = Credential.platform("gemini", "sk-test-gemini")
CREDS: dict[str, tuple[Credential, ...]] = {"openai": (KEY_A,), "anthropic": (KEY_C,), "gemini": (KEY_G,)}
TWO_KEYS: dict[str, tuple[Credential, ...]] = {**CREDS, "openai": (KEY_A, KEY_B)}
# Large enough that nothing trips unless a test asks for a smaller volume.
QUIET = {"min_requests": 100}


def route(provider: str, model: str, reason: RouteReason = "requested") -> Route:
    return Route(provider, model, CATALOG.get(model), reason, None, 0.5, 1.0)


GPT4O = route("openai", "gpt-4o")
MINI = route("openai", "gpt-4o-mini", "fallback")
SONNET = route("anthropic", "claude-sonnet-4-5-20250929", "fallback")
GEMINI = route("gemini", "gemini-2.5-pro", "fallback")
REQUESTED = GPT4O.model


def plan(*routes: Route, excluded: tuple[Exclusion, ...] = ()) -> RoutePlan:
    return RoutePlan(
        routes, excluded, RoutePolicy(cost_optimization=False, fallback=True, preferred_provider=None), NEEDS
    )


def err(
    kind: ErrorKind,
    provider: str = "openai",
    *,
    retryable: bool = False,
    retry_after: float | None = None,
    in_stream: bool = False,
) -> ProviderError:
    return ProviderError(
        f"{kind} (test)",
        kind=kind,
        provider=provider,
        retryable=retryable,
        retry_after=retry_after,
        in_stream=in_stream,
    )


def overloaded(provider: str = "openai") -> ProviderError:
    return err("overloaded", provider, retryable=True)


@dataclass(frozen=True, slots=True)
class Call:
    """What one attempt used: the key by fingerprint only."""

    provider: str
    model: str
    key: str
    probe_route: bool


def call(r: Route, key: Credential, *, probe: bool = False) -> Call:
    return Call(r.provider, r.model, key.fingerprint, probe)


class Script:
    """`once`: each call takes the next outcome (raise a ProviderError, or return a value), after `took` seconds."""

    def __init__(self, clock: FakeClock, *outcomes: ProviderError | str, took: float = 0.0) -> None:
        self._clock = clock
        self._outcomes = list(outcomes)
        self._took = took
        self.calls: list[Call] = []

    async def __call__(self, attempt: Attempt) -> str:
        self.calls.append(
            Call(attempt.route.provider, attempt.route.model, attempt.credential.fingerprint, attempt.probe_route)
        )
        self._clock.advance(self._took)
        outcome = self._outcomes.pop(0)  # an attempt nobody scripted fails the test with IndexError
        if isinstance(outcome, ProviderError):
            raise outcome
        return outcome


class RecordingMetrics(LiveMetrics):
    """Only `record` is used by `Failover`: keep its calls instead of counting them."""

    def __init__(self) -> None:
        super().__init__(MemoryMetricsBackend())
        self.calls: list[tuple[str, str, str | None, float, float | None]] = []

    def record(
        self, provider: str, model: str, *, error_kind: str | None, latency_s: float, ttft_s: float | None
    ) -> None:
        self.calls.append((provider, model, error_kind, latency_s, ttft_s))


@dataclass
class Rig:
    clock: FakeClock
    store: SqliteStore
    board: BreakerBoard
    failover: Failover
    metrics: RecordingMetrics
    waits: list[float] = field(default_factory=list)

    def script(self, *outcomes: ProviderError | str, took: float = 0.0) -> Script:
        return Script(self.clock, *outcomes, took=took)

    async def trip(self, scope: str) -> None:
        """Open `scope`'s breaker now (a definitive failure trips it whatever the volume)."""
        await self.board.record(scope, ok=False, definitive=True, reason="overloaded")
        assert self.board.is_open(scope)


class MakeRig(Protocol):
    def __call__(self, *, retry: RetryPolicy | None = None, **policy: Any) -> Rig: ...


@pytest.fixture
async def make_rig() -> AsyncIterator[MakeRig]:
    stores: list[SqliteStore] = []

    def make(*, retry: RetryPolicy | None = None, **policy: Any) -> Rig:
        clock = FakeClock(now=1_800_000_000.0, mono=500.0)
        store = SqliteStore(":memory:")
        stores.append(store)
        board = BreakerBoard(store, BreakerPolicy(**(QUIET | policy)), clock, instance_id="test")
        metrics = RecordingMetrics()
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            clock.advance(seconds)

        failover = Failover(
            breakers=board,
            retry=retry or RetryPolicy(),
            clock=clock,
            sleep=sleep,
            random=lambda: 0.5,
            metrics=metrics,
        )
        return Rig(clock, store, board, failover, metrics, waits)

    yield make
    for store in stores:
        await store.close()


# --- success and retries ---


async def test_success_first_try_is_served_with_the_route_reason(make_rig: MakeRig) -> None:
    rig = make_rig()
    once = rig.script("ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert (served.value, served.attempts, served.note) == ("ok", 1, "requested")
    assert served.attempt.route == GPT4O
    assert served.attempt.credential == KEY_A
    assert not served.attempt.probe_route
    assert once.calls == [call(GPT4O, KEY_A)]
    assert rig.waits == []
    assert rig.metrics.calls == []


async def test_a_success_is_not_counted_by_run(make_rig: MakeRig) -> None:
    # Two outcomes are needed to trip; one failure alone is not enough - unless run counted its success.
    rig = make_rig(min_requests=2, failure_ratio=0.5)
    await rig.failover.run(plan(GPT4O), CREDS, REQUESTED, rig.script("ok"))
    await rig.board.record(route_scope("openai", "gpt-4o"), ok=False)
    await rig.board.record(credential_scope("openai", KEY_A.fingerprint), ok=False)
    assert not rig.board.is_open(route_scope("openai", "gpt-4o"))
    assert not rig.board.is_open(credential_scope("openai", KEY_A.fingerprint))


async def test_settling_a_success_counts_it_in_both_scopes(make_rig: MakeRig) -> None:
    rig = make_rig(min_requests=2, failure_ratio=0.5)
    served = await rig.failover.run(plan(GPT4O), CREDS, REQUESTED, rig.script("ok"))
    await rig.failover.settle(served.attempt, None)
    await rig.board.record(route_scope("openai", "gpt-4o"), ok=False)
    await rig.board.record(credential_scope("openai", KEY_A.fingerprint), ok=False)
    # One success and one failure: the volume is reached at a ratio of 0.5.
    assert rig.board.is_open(route_scope("openai", "gpt-4o"))
    assert rig.board.is_open(credential_scope("openai", KEY_A.fingerprint))
    assert rig.metrics.calls == []  # successes reach the live metrics from the caller, not from settle


async def test_retryable_error_retries_the_same_route_after_a_jittered_delay(make_rig: MakeRig) -> None:
    rig = make_rig()
    once = rig.script(overloaded(), "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert rig.waits == [0.5 * 0.25]
    assert (served.attempts, served.note) == (2, "requested")
    assert once.calls == [call(GPT4O, KEY_A), call(GPT4O, KEY_A)]


async def test_exhausted_retries_fail_over_with_a_fallback_note(make_rig: MakeRig) -> None:
    rig = make_rig(retry=RetryPolicy(max_retries=2))
    once = rig.script(overloaded(), overloaded(), overloaded(), "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert once.calls == [call(GPT4O, KEY_A)] * 3 + [call(SONNET, KEY_C)]
    assert rig.waits == [0.125, 0.25]  # full jitter at 0.5: half of 0.25, then of 0.5
    assert served.attempts == 4
    assert served.note == "fallback after openai/gpt-4o (overloaded)"


async def test_every_route_failing_raises_an_upstream_failure_listing_every_attempt(make_rig: MakeRig) -> None:
    rig = make_rig(retry=RetryPolicy(max_retries=1))
    errors = [overloaded(), err("api_error"), err("timeout", "anthropic"), overloaded("gemini"), overloaded("gemini")]
    once = rig.script(*errors)
    with pytest.raises(UpstreamFailure) as caught:
        await rig.failover.run(plan(GPT4O, SONNET, GEMINI), CREDS, REQUESTED, once)
    assert list(caught.value.attempts) == errors
    assert caught.value.status == 502
    assert caught.value.retried
    assert [c.model for c in once.calls] == ["gpt-4o", "gpt-4o", SONNET.model, GEMINI.model, GEMINI.model]


async def test_all_attempts_rate_limited_give_429(make_rig: MakeRig) -> None:
    rig = make_rig()
    once = rig.script(err("rate_limit", retryable=True, retry_after=60), err("rate_limit", "anthropic"))
    with pytest.raises(UpstreamFailure) as caught:
        await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert caught.value.status == 429
    assert len(caught.value.attempts) == 2


@pytest.mark.parametrize("retry_after", [2.0, 10.0])
async def test_a_short_enough_retry_after_is_waited_for_exactly(make_rig: MakeRig, retry_after: float) -> None:
    rig = make_rig()
    once = rig.script(err("overloaded", retryable=True, retry_after=retry_after), "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert rig.waits == [retry_after]
    assert once.calls == [call(GPT4O, KEY_A)] * 2
    assert served.note == "requested"


async def test_a_retry_after_longer_than_the_gateway_holds_fails_over_at_once(make_rig: MakeRig) -> None:
    rig = make_rig(retry=RetryPolicy(max_retry_after_seconds=10.0))
    once = rig.script(err("overloaded", retryable=True, retry_after=10.5), "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert rig.waits == []
    assert once.calls == [call(GPT4O, KEY_A), call(SONNET, KEY_C)]
    assert served.note == "fallback after openai/gpt-4o (overloaded)"


async def test_a_non_retryable_fault_fails_over_at_once(make_rig: MakeRig) -> None:
    rig = make_rig()
    once = rig.script(err("api_error", retryable=False), "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert rig.waits == []
    assert once.calls == [call(GPT4O, KEY_A), call(SONNET, KEY_C)]
    assert served.note == "fallback after openai/gpt-4o (api_error)"


async def test_the_waiting_budget_is_shared_by_the_whole_request(make_rig: MakeRig) -> None:
    rig = make_rig(retry=RetryPolicy(max_total_wait_seconds=3.0))
    once = rig.script(
        err("overloaded", retryable=True, retry_after=2.0),
        err("overloaded", retryable=True, retry_after=2.0),  # 2 + 2 > 3: fail over instead of waiting
        err("overloaded", "anthropic", retryable=True, retry_after=1.0),  # 2 + 1 <= 3: waited for
        err("overloaded", "anthropic", retryable=True, retry_after=0.5),  # 3 + 0.5 > 3
        "ok",
    )
    served = await rig.failover.run(plan(GPT4O, SONNET, GEMINI), CREDS, REQUESTED, once)
    assert rig.waits == [2.0, 1.0]
    assert once.calls == [call(GPT4O, KEY_A)] * 2 + [call(SONNET, KEY_C)] * 2 + [call(GEMINI, KEY_G)]
    assert served.note == f"fallback after anthropic/{SONNET.model} (overloaded)"


# --- the caller's own mistakes ---


@pytest.mark.parametrize("kind", ["invalid_request", "context_length", "content_filter", "not_found"])
async def test_a_caller_error_on_the_requested_model_ends_the_request(make_rig: MakeRig, kind: ErrorKind) -> None:
    rig = make_rig(min_requests=1)
    error = err(kind)
    once = rig.script(error)
    with pytest.raises(UpstreamFailure) as caught:
        await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert caught.value.attempts == (error,)
    assert caught.value.status == (404 if kind == "not_found" else 400)
    assert once.calls == [call(GPT4O, KEY_A)]
    assert rig.waits == []
    # min_requests=1: a single counted failure would have tripped either breaker.
    assert not rig.board.is_open(route_scope("openai", "gpt-4o"))
    assert not rig.board.is_open(credential_scope("openai", KEY_A.fingerprint))


async def test_a_caller_error_leaves_the_breaker_windows_untouched(make_rig: MakeRig) -> None:
    # Volume 2: a lone failure recorded afterwards must not reach it unless the 400 was counted too.
    rig = make_rig(min_requests=2, failure_ratio=0.5)
    with pytest.raises(UpstreamFailure):
        await rig.failover.run(plan(GPT4O), CREDS, REQUESTED, rig.script(err("invalid_request")))
    await rig.board.record(route_scope("openai", "gpt-4o"), ok=False)
    assert not rig.board.is_open(route_scope("openai", "gpt-4o"))


@pytest.mark.parametrize("kind", ["invalid_request", "context_length", "content_filter", "not_found"])
async def test_a_caller_error_from_a_substitute_fails_over(make_rig: MakeRig, kind: ErrorKind) -> None:
    rig = make_rig()
    substitute = route("anthropic", SONNET.model, "cheapest")
    once = rig.script(err(kind, "anthropic"), "ok")
    served = await rig.failover.run(plan(substitute, GPT4O), CREDS, REQUESTED, once)
    assert once.calls == [call(substitute, KEY_C), call(GPT4O, KEY_A)]
    assert served.note == f"fallback after anthropic/{SONNET.model} ({kind})"
    assert served.attempts == 2


async def test_a_caller_error_on_the_requested_model_after_a_substitute_lists_both(make_rig: MakeRig) -> None:
    rig = make_rig()
    first, second = err("invalid_request", "anthropic"), err("invalid_request")
    once = rig.script(first, second)
    with pytest.raises(UpstreamFailure) as caught:
        await rig.failover.run(
            plan(route("anthropic", SONNET.model, "cheapest"), GPT4O, GEMINI), CREDS, REQUESTED, once
        )
    assert caught.value.attempts == (first, second)
    assert caught.value.status == 400
    assert len(once.calls) == 2  # gemini never tried


# --- credentials ---


@pytest.mark.parametrize(
    "error",
    [err("authentication"), err("permission"), err("rate_limit", retryable=False)],
    ids=["authentication", "permission", "quota"],
)
async def test_a_definitive_credential_fault_switches_key_at_once(make_rig: MakeRig, error: ProviderError) -> None:
    # No retries allowed at all: the switch to the other key is not a retry.
    rig = make_rig(min_requests=1, retry=RetryPolicy(max_retries=0))
    once = rig.script(error, "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), TWO_KEYS, REQUESTED, once)
    assert once.calls == [call(GPT4O, KEY_A), call(GPT4O, KEY_B)]
    assert rig.waits == []
    assert (served.attempts, served.note, served.attempt.credential) == (2, "requested", KEY_B)
    assert rig.board.is_open(credential_scope("openai", KEY_A.fingerprint))
    assert not rig.board.is_open(credential_scope("openai", KEY_B.fingerprint))
    # min_requests=1: the route breaker would be open had the key's fault counted against it.
    assert not rig.board.is_open(route_scope("openai", "gpt-4o"))


async def test_a_dead_key_is_not_used_again_in_the_request(make_rig: MakeRig) -> None:
    rig = make_rig()
    once = rig.script(err("authentication"), err("api_error"), err("api_error"), "ok")
    served = await rig.failover.run(plan(GPT4O, MINI, SONNET), TWO_KEYS, REQUESTED, once)
    assert once.calls == [call(GPT4O, KEY_A), call(GPT4O, KEY_B), call(MINI, KEY_B), call(SONNET, KEY_C)]
    assert served.attempts == 4


async def test_a_dead_key_stays_dead_when_another_instance_closed_its_breaker(make_rig: MakeRig) -> None:
    # Another instance tripped key A and closed it again after a good probe; this instance has not seen
    # either, so its own trip loses to the newer record and the breaker reads closed: only the request's
    # own memory keeps the key it saw fail out.
    rig = make_rig(open_seconds=30.0)
    other = BreakerBoard(rig.store, BreakerPolicy(open_seconds=30.0), rig.clock, instance_id="other")
    scope = credential_scope("openai", KEY_A.fingerprint)
    await other.record(scope, ok=False, definitive=True, reason="authentication")
    rig.clock.advance(30.0)
    assert await other.admit(scope) == "probe"
    await other.record(scope, ok=True, probe=True)
    once = rig.script(err("authentication"), err("api_error"), "ok")
    await rig.failover.run(plan(GPT4O, MINI), TWO_KEYS, REQUESTED, once)
    assert not rig.board.is_open(scope)
    assert once.calls == [call(GPT4O, KEY_A), call(GPT4O, KEY_B), call(MINI, KEY_B)]


async def test_a_key_switch_leaves_the_retries_to_the_next_key(make_rig: MakeRig) -> None:
    rig = make_rig(retry=RetryPolicy(max_retries=1))
    once = rig.script(err("authentication"), overloaded(), "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), TWO_KEYS, REQUESTED, once)
    assert once.calls == [call(GPT4O, KEY_A), call(GPT4O, KEY_B), call(GPT4O, KEY_B)]
    assert rig.waits == [0.125]
    assert served.note == "requested"


async def test_every_key_dead_gives_up_the_route_and_the_provider(make_rig: MakeRig) -> None:
    rig = make_rig()
    errors = [err("authentication"), err("permission")]
    once = rig.script(*errors)
    with pytest.raises(UpstreamFailure) as caught:
        await rig.failover.run(plan(GPT4O, MINI), TWO_KEYS, REQUESTED, once)
    assert list(caught.value.attempts) == errors
    assert once.calls == [call(GPT4O, KEY_A), call(GPT4O, KEY_B)]  # gpt-4o-mini has no live key left


async def test_a_retry_prefers_a_key_that_has_not_failed(make_rig: MakeRig) -> None:
    rig = make_rig()
    once = rig.script(err("rate_limit", retryable=True, retry_after=1.0), "ok")
    served = await rig.failover.run(plan(GPT4O), TWO_KEYS, REQUESTED, once)
    assert once.calls == [call(GPT4O, KEY_A), call(GPT4O, KEY_B)]
    assert rig.waits == [1.0]
    assert served.attempts == 2


async def test_a_retry_reuses_the_only_key_after_a_per_key_429(make_rig: MakeRig) -> None:
    rig = make_rig()
    once = rig.script(err("rate_limit", retryable=True, retry_after=1.0), "ok")
    await rig.failover.run(plan(GPT4O), CREDS, REQUESTED, once)
    assert once.calls == [call(GPT4O, KEY_A)] * 2


# --- open breakers and nothing to try ---


async def test_a_route_with_an_open_breaker_is_skipped_without_a_call(make_rig: MakeRig) -> None:
    rig = make_rig()
    await rig.trip(route_scope("openai", "gpt-4o"))
    once = rig.script("ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert once.calls == [call(SONNET, KEY_C)]
    assert (served.attempts, served.note) == (1, "fallback after openai/gpt-4o (breaker_open)")


async def test_every_route_open_is_a_503_with_the_time_to_the_first_probe(make_rig: MakeRig) -> None:
    rig = make_rig(open_seconds=30.0)
    await rig.trip(route_scope("openai", "gpt-4o"))
    rig.clock.advance(10.0)
    await rig.trip(route_scope("anthropic", SONNET.model))
    once = rig.script()
    with pytest.raises(NoRouteError) as caught:
        await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert once.calls == []
    assert caught.value.status == 503
    assert caught.value.retry_after == pytest.approx(20.0)  # gpt-4o's breaker lets a probe in first
    assert caught.value.reasons == {"openai/gpt-4o": "breaker_open", f"anthropic/{SONNET.model}": "breaker_open"}
    assert "circuit breaker is open" in caught.value.message


async def test_the_retry_after_of_a_503_is_at_least_one_second(make_rig: MakeRig) -> None:
    rig = make_rig(open_seconds=30.0)
    await rig.trip(route_scope("openai", "gpt-4o"))
    rig.clock.advance(29.5)
    with pytest.raises(NoRouteError) as caught:
        await rig.failover.run(plan(GPT4O), CREDS, REQUESTED, rig.script())
    assert caught.value.retry_after == 1.0


async def test_every_key_breaker_open_is_a_503_with_retry_after(make_rig: MakeRig) -> None:
    rig = make_rig(open_seconds=30.0)
    await rig.trip(credential_scope("openai", KEY_A.fingerprint))
    await rig.trip(credential_scope("openai", KEY_B.fingerprint))
    rig.clock.advance(5.0)
    once = rig.script()
    with pytest.raises(NoRouteError) as caught:
        await rig.failover.run(plan(GPT4O), TWO_KEYS, REQUESTED, once)
    assert once.calls == []
    assert caught.value.status == 503
    assert caught.value.reasons == {"openai/gpt-4o": "key_breaker_open"}
    assert caught.value.retry_after == pytest.approx(25.0)
    assert "circuit breaker is open" in caught.value.message


async def test_a_key_with_an_open_breaker_is_passed_over(make_rig: MakeRig) -> None:
    rig = make_rig()
    await rig.trip(credential_scope("openai", KEY_A.fingerprint))
    once = rig.script("ok")
    served = await rig.failover.run(plan(GPT4O), TWO_KEYS, REQUESTED, once)
    assert once.calls == [call(GPT4O, KEY_B)]
    assert served.note == "requested"


async def test_no_key_at_all_is_a_503_without_retry_after(make_rig: MakeRig) -> None:
    rig = make_rig()
    once = rig.script()
    with pytest.raises(NoRouteError) as caught:
        await rig.failover.run(plan(GPT4O, SONNET), {}, REQUESTED, once)
    assert once.calls == []
    assert caught.value.status == 503
    assert caught.value.retry_after is None
    assert caught.value.reasons == {"openai/gpt-4o": "no_credential", f"anthropic/{SONNET.model}": "no_credential"}
    assert "no usable API key" in caught.value.message


async def test_an_excluded_requested_model_is_named_in_the_fallback_note(make_rig: MakeRig) -> None:
    rig = make_rig()
    excluded = (Exclusion("openai", "gpt-4o", "breaker_open"),)
    served = await rig.failover.run(plan(SONNET, excluded=excluded), CREDS, REQUESTED, rig.script("ok"))
    assert served.note == "fallback after openai/gpt-4o (breaker_open)"


async def test_an_excluded_substitute_does_not_change_the_note(make_rig: MakeRig) -> None:
    rig = make_rig()
    excluded = (Exclusion("anthropic", SONNET.model, "breaker_open"),)
    served = await rig.failover.run(plan(GPT4O, excluded=excluded), CREDS, REQUESTED, rig.script("ok"))
    assert served.note == "requested"


async def test_no_route_for_an_empty_plan_of_open_breakers(make_rig: MakeRig) -> None:
    rig = make_rig(open_seconds=30.0)
    await rig.trip(route_scope("openai", "gpt-4o"))
    rig.clock.advance(12.0)
    error = rig.failover.no_route(plan(excluded=(Exclusion("openai", "gpt-4o", "breaker_open"),)))
    assert error.status == 503
    assert error.retry_after == pytest.approx(18.0)
    assert error.reasons == {"openai/gpt-4o": "breaker_open"}
    assert "circuit breaker is open" in error.message


async def test_no_route_for_an_empty_plan_of_unmet_needs(make_rig: MakeRig) -> None:
    rig = make_rig()
    error = rig.failover.no_route(plan(excluded=(Exclusion("openai", "gpt-4o", "tools"),)))
    assert error.status == 503
    assert error.retry_after is None
    assert error.message == "no candidate model could be tried: openai/gpt-4o (tools)"


async def test_run_on_an_empty_plan_raises_no_route(make_rig: MakeRig) -> None:
    rig = make_rig()
    with pytest.raises(NoRouteError) as caught:
        await rig.failover.run(plan(), CREDS, REQUESTED, rig.script())
    assert caught.value.reasons == {}
    assert caught.value.retry_after is None


# --- half-open probes and breakers tripping mid-request ---


async def test_a_half_open_route_gets_one_probe_and_a_failed_probe_reopens_longer(make_rig: MakeRig) -> None:
    rig = make_rig(open_seconds=30.0, growth=2.0)
    scope = route_scope("openai", "gpt-4o")
    await rig.trip(scope)
    rig.clock.advance(30.0)
    assert not rig.board.is_open(scope)  # half-open
    once = rig.script(overloaded(), "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    # The probe is a single attempt even though the error was retryable.
    assert once.calls == [call(GPT4O, KEY_A, probe=True), call(SONNET, KEY_C)]
    assert rig.waits == []
    assert served.note == "fallback after openai/gpt-4o (overloaded)"
    assert rig.board.is_open(scope)
    assert rig.board.open_until(scope) == pytest.approx(rig.clock.time() + 60.0)  # trip 2: twice as long


async def test_a_probe_is_one_attempt_even_when_the_route_itself_was_fine(make_rig: MakeRig) -> None:
    # A per-key 429 says nothing against the route: the probe closes it, yet the request does not retry there.
    rig = make_rig(open_seconds=30.0)
    scope = route_scope("openai", "gpt-4o")
    await rig.trip(scope)
    rig.clock.advance(30.0)
    once = rig.script(err("rate_limit", retryable=True, retry_after=1.0), "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert once.calls == [call(GPT4O, KEY_A, probe=True), call(SONNET, KEY_C)]
    assert rig.waits == []
    assert served.note == "fallback after openai/gpt-4o (rate_limit)"
    assert [v.state for v in rig.board.views() if v.scope == scope] == ["closed"]


async def test_a_successful_probe_settled_closes_the_breaker(make_rig: MakeRig) -> None:
    rig = make_rig(open_seconds=30.0)
    scope = route_scope("openai", "gpt-4o")
    await rig.trip(scope)
    rig.clock.advance(30.0)
    once = rig.script("ok")
    served = await rig.failover.run(plan(GPT4O), CREDS, REQUESTED, once)
    assert served.attempt.probe_route
    assert once.calls == [call(GPT4O, KEY_A, probe=True)]
    assert [v.state for v in rig.board.views() if v.scope == scope] == ["half_open"]  # not settled by run
    await rig.failover.settle(served.attempt, None)
    assert [v.state for v in rig.board.views() if v.scope == scope] == ["closed"]
    assert await rig.board.admit(scope) == "closed"


async def test_a_caller_error_on_a_probe_settles_it_as_a_success(make_rig: MakeRig) -> None:
    # The provider answered (the caller's request was at fault): the probe closes the breaker.
    rig = make_rig(open_seconds=30.0)
    scope = route_scope("openai", "gpt-4o")
    await rig.trip(scope)
    rig.clock.advance(30.0)
    once = rig.script(err("invalid_request"))
    with pytest.raises(UpstreamFailure):
        await rig.failover.run(plan(GPT4O), CREDS, "gpt-4o", once)
    assert once.calls == [call(GPT4O, KEY_A, probe=True)]
    assert [v.state for v in rig.board.views() if v.scope == scope] == ["closed"]


async def test_only_one_request_gets_the_probe(make_rig: MakeRig) -> None:
    rig = make_rig(open_seconds=30.0)
    await rig.trip(route_scope("openai", "gpt-4o"))
    rig.clock.advance(30.0)
    first = await rig.failover.run(plan(GPT4O), CREDS, REQUESTED, rig.script("probe"))
    assert first.attempt.probe_route
    once = rig.script("ok")
    second = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)  # the probe is still in flight
    assert once.calls == [call(SONNET, KEY_C)]
    assert second.note == "fallback after openai/gpt-4o (breaker_open)"


async def test_a_breaker_tripping_mid_request_stops_the_retries(make_rig: MakeRig) -> None:
    rig = make_rig(min_requests=2, failure_ratio=0.5, retry=RetryPolicy(max_retries=3))
    once = rig.script(overloaded(), overloaded(), "ok")
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert once.calls == [call(GPT4O, KEY_A), call(GPT4O, KEY_A), call(SONNET, KEY_C)]
    assert rig.waits == [0.125]  # no wait after the failure that tripped the breaker
    assert rig.board.is_open(route_scope("openai", "gpt-4o"))
    assert served.note == "fallback after openai/gpt-4o (overloaded)"


# --- settle ---


def attempt_on(rig: Rig, r: Route = GPT4O, key: Credential = KEY_A) -> Attempt:
    return Attempt(r, key, rig.clock.monotonic())


async def test_a_route_fault_counts_only_in_the_route_scope(make_rig: MakeRig) -> None:
    rig = make_rig(min_requests=1)
    for _ in range(5):
        await rig.failover.settle(attempt_on(rig), err("timeout"))
    assert rig.board.is_open(route_scope("openai", "gpt-4o"))
    assert not rig.board.is_open(credential_scope("openai", KEY_A.fingerprint))


async def test_a_credential_fault_counts_only_in_the_credential_scope(make_rig: MakeRig) -> None:
    rig = make_rig(min_requests=1)
    await rig.failover.settle(attempt_on(rig), err("rate_limit", retryable=True))
    assert rig.board.is_open(credential_scope("openai", KEY_A.fingerprint))
    assert not rig.board.is_open(route_scope("openai", "gpt-4o"))


async def test_a_gateway_error_is_not_a_failure(make_rig: MakeRig) -> None:
    rig = make_rig(min_requests=1)
    await rig.failover.settle(attempt_on(rig), GatewayError("client closed the request", status=499))
    assert not rig.board.is_open(route_scope("openai", "gpt-4o"))
    assert not rig.board.is_open(credential_scope("openai", KEY_A.fingerprint))
    assert rig.metrics.calls == []


async def test_a_gateway_error_counts_as_a_success(make_rig: MakeRig) -> None:
    # Volume 2 at ratio 0.5: a failure recorded next trips only if the 499 went into the window.
    rig = make_rig(min_requests=2, failure_ratio=0.5)
    await rig.failover.settle(attempt_on(rig), GatewayError("client closed the request", status=499))
    await rig.board.record(route_scope("openai", "gpt-4o"), ok=False)
    assert rig.board.is_open(route_scope("openai", "gpt-4o"))


async def test_metrics_count_each_failed_attempt_once(make_rig: MakeRig) -> None:
    rig = make_rig()
    once = rig.script(overloaded(), err("api_error"), "ok", took=0.2)
    served = await rig.failover.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert [c[:3] for c in rig.metrics.calls] == [("openai", "gpt-4o", "overloaded"), ("openai", "gpt-4o", "api_error")]
    assert [c[3] for c in rig.metrics.calls] == [pytest.approx(0.2)] * 2  # the attempt's own time, not the wait
    assert all(c[4] is None for c in rig.metrics.calls)
    await rig.failover.settle(served.attempt, None)
    assert len(rig.metrics.calls) == 2


async def test_an_in_stream_error_counts_in_the_breakers_but_not_the_metrics(make_rig: MakeRig) -> None:
    rig = make_rig(min_requests=1)
    await rig.failover.settle(attempt_on(rig), err("network_error", in_stream=True))
    assert rig.metrics.calls == []
    assert rig.board.is_open(route_scope("openai", "gpt-4o"))


async def test_failover_works_without_metrics(make_rig: MakeRig) -> None:
    rig = make_rig()
    bare = Failover(breakers=rig.board, retry=RetryPolicy(), clock=rig.clock, sleep=_no_sleep, random=lambda: 0.5)
    once = rig.script(err("api_error"), "ok")
    served = await bare.run(plan(GPT4O, SONNET), CREDS, REQUESTED, once)
    assert served.attempts == 2


async def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"nothing here should wait ({seconds} s)")


async def test_a_probe_granted_to_a_route_without_a_usable_key_is_given_back(make_rig: MakeRig) -> None:
    rig = make_rig(open_seconds=30.0)
    scope = route_scope("openai", "gpt-4o")
    await rig.trip(scope)
    rig.clock.advance(30.0)
    once = rig.script("ok")
    no_openai_key = {**CREDS, "openai": ()}
    served = await rig.failover.run(plan(GPT4O, SONNET), no_openai_key, REQUESTED, once)
    assert once.calls == [call(SONNET, KEY_C)]
    assert served.note == "fallback after openai/gpt-4o (no_credential)"
    # Nothing reached OpenAI, so the route's probe was given back: the next request may take it at once.
    assert await rig.board.admit(scope) == "probe"


@pytest.mark.parametrize(("owner", "status"), [("user", 401), ("platform", 502)])
async def test_a_rejected_key_is_the_callers_401_only_when_it_is_their_own(
    make_rig: MakeRig, owner: Literal["user", "platform"], status: int
) -> None:
    rig = make_rig()
    key = Credential("openai", "sk-own", "f" * 16, owner)
    once = rig.script(err("authentication"))
    with pytest.raises(UpstreamFailure) as caught:
        await rig.failover.run(plan(GPT4O), {"openai": (key,)}, REQUESTED, once)
    assert caught.value.status == status
