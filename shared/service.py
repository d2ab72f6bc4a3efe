"""The service core (the seed's `AIService`): one code path for chat, JSON and streaming.

The HTTP apps parse and authenticate, then call `chat` / `chat_stream` with an explicit `Identity`;
the in-process facade calls the same methods. Per request: resolve the model (catalog, aliases,
provider prefixes), consult the response cache, plan the routes, then per attempt build the provider
request for the route's model and key and send it through the one pooled client; parse, price with
`Decimal`, and record exactly one usage event (`service_record.Recorder`), failures and streams included.

Routing: the router (`shared.routing`) orders the candidate models; `Failover` (service_failover.py) walks
them with retries, credential switches and breaker outcomes. Breaker state and latency estimates are
refreshed at request start, concurrently with the cache lookup and waiting at most a few milliseconds.
Streams fail over only before their first chunk: once a byte has reached the caller they are never
restarted, and a failure becomes a typed in-stream error (partial usage recorded).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import httpx2

from shared.attempt_log import AttemptLog
from shared.breakers import BreakerBoard, route_scope
from shared.cache.entry import CachedReply
from shared.cache.policy import CacheDecision, header_value
from shared.catalog import Catalog
from shared.chat_types import ChatOptions, ChatResult
from shared.clock import Clock, SystemClock
from shared.cost import UNPRICED, Cost, cost_of, estimate_cost
from shared.credentials import Credential, CredentialSource, KeysFor
from shared.errors import GatewayError, NoRouteError, ProviderError, RequestError, UpstreamFailure
from shared.events.port import EventSink
from shared.identity import Identity
from shared.limits.enforce import Admission, Limiter
from shared.metrics import LiveMetrics
from shared.model_names import ResolvedModel, resolve_model
from shared.providers import PROVIDERS
from shared.providers.signatures import SignatureStore, attach_signatures, remember_signatures
from shared.providers.spec import HttpRequest
from shared.response_cache import BYPASS, ResponseCache
from shared.retry import RetryPolicy
from shared.routing import CostAnalysis, Exclusion, LatencyView, RequestNeeds, RoutePlan, Router, analyze_costs
from shared.routing.tokens import CHARS_PER_TOKEN
from shared.service_events import FREE
from shared.service_failover import Attempt, Failover
from shared.service_record import Recorder
from shared.service_streams import LiveStream, Opened, ReplayStream
from shared.transport import Upstream, transport_error
from shared.unified import ChatChunk, ChatRequest, ChatResponse, ToolCall, Usage

__all__ = ["AIService", "LiveStream", "ReplayStream"]

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclasses.dataclass(slots=True)
class _Call:
    """One request on its way: everything decided before the first attempt, then the attempt that served."""

    identity: Identity
    route: str
    requested: str  # the model name as the caller gave it
    resolved: ResolvedModel
    request: ChatRequest
    plan: RoutePlan
    credentials: dict[str, tuple[Credential, ...]]
    request_id: str
    started_at: float  # wall clock, for the event timestamp
    t0: float  # monotonic, for latencies
    cache_key: str | None = None
    decision: CacheDecision = BYPASS
    last: Attempt | None = None  # the latest attempt made (the serving one once a reply came back)
    note: str = ""  # x-gateway-route
    admission: Admission | None = None  # the usage-limit reservation (None: no limit binds the caller)

    @property
    def provider(self) -> str | None:
        return self.last.route.provider if self.last is not None else None

    @property
    def model(self) -> str | None:
        return self.last.route.model if self.last is not None else None


@dataclasses.dataclass(frozen=True, slots=True)
class _Hit:
    """A request answered from the response cache (already recorded)."""

    reply: CachedReply
    request_id: str
    started_at: float


class AIService:
    def __init__(
        self,
        *,
        catalog: Catalog,
        upstream: Upstream,
        credentials: CredentialSource,
        base_urls: Mapping[str, str],
        events: EventSink,
        signatures: SignatureStore,
        router: Router,
        breakers: BreakerBoard,
        latency: LatencyView | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        request_timeout: float = 600.0,
        cache: ResponseCache | None = None,
        metrics: LiveMetrics | None = None,
        attempt_log: AttemptLog | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.catalog = catalog
        self._attempt_log = attempt_log
        self.limiter = limiter
        self._upstream = upstream
        self._credentials = credentials
        self._base_urls = dict(base_urls)
        self._events = events
        self._signatures = signatures
        self._retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._random = random
        self._request_timeout = request_timeout
        self._cache = cache
        self._metrics = metrics
        self.router = router
        self.recorder = Recorder(events, catalog, self._clock, metrics)
        self.breakers = breakers
        self._latency = latency
        self._failover = Failover(
            breakers=breakers,
            retry=self._retry,
            clock=self._clock,
            sleep=sleep,
            random=random,
            metrics=metrics,
        )

    def cache_decision(self, request: ChatRequest, headers: Mapping[str, str]) -> CacheDecision:
        """What the response cache may do for this request (raises `RequestError` for a bad header)."""
        return self._cache.decide(request, headers) if self._cache is not None else BYPASS

    async def reject(self, identity: Identity, route: str, error: GatewayError, *, model: str = "") -> None:
        """Record a request the HTTP layer refused before it reached the core (bad body, too large)."""
        await self.recorder.refused(
            error,
            identity=identity,
            route=route,
            model_requested=model,
            started_at=self._clock.time(),
            t0=self._clock.monotonic(),
            stream=False,
        )

    def analyze_costs(self, request: ChatRequest, options: ChatOptions | None = None) -> CostAnalysis:
        """The seed's `analyzeCosts`: the request's estimated cost on the named model and on every
        equivalent that could serve it, the cheapest, and recommendations. No provider is called; an
        unknown model raises `UnknownModelError` (400) as chat does."""
        return analyze_costs(request, self._resolve(request), self.router, options=options)

    # --- JSON -------------------------------------------------------------------------------------

    async def chat(
        self, request: ChatRequest, identity: Identity, options: ChatOptions | None = None, *, route: str = "seed"
    ) -> ChatResult:
        begun = await self._begin(request, identity, options, route, stream=False)
        if isinstance(begun, _Hit):
            return ChatResult(
                response=dataclasses.replace(begun.reply.response, created=int(begun.started_at)),
                provider=begun.reply.provider,
                model=begun.reply.model,
                cost=FREE,
                attempts=0,
                request_id=begun.request_id,
                cache_status="HIT",
                cost_saved_micros=begun.reply.cost_micros or 0,
                route="cache",
            )
        call = begun
        try:
            response, attempt, attempts = await self._attempt(call, self._send_json, stream=False)
        except BaseException as error:
            await self._unreserve(call, error)
            raise
        await self._failover.settle(attempt, None)
        if not response.created:
            response = dataclasses.replace(response, created=int(call.started_at))
        await remember_signatures(_tool_calls(response), self._signatures, identity.tenant)
        cost = self._cost(call, response.usage)
        limit_headers = await self.settle_limits(call, response.usage, cost)
        await self.recorder.served(call, stream=False, usage=response.usage, cost=cost, attempts=attempts)
        provider, model = attempt.route.provider, attempt.route.model
        if call.cache_key is not None and call.decision.store and self._cache is not None:
            await self._cache.store(call.cache_key, response, provider=provider, model=model, cost_micros=cost.micros)
        return ChatResult(
            response=response,
            provider=provider,
            model=model,
            cost=cost,
            attempts=attempts,
            request_id=call.request_id,
            cache_status=header_value(call.decision, hit=False),
            route=call.note,
            limit_headers=limit_headers,
        )

    async def _send_json(self, call: _Call, attempt: Attempt) -> ChatResponse:
        built = await self._build(call, attempt)
        spec = PROVIDERS[attempt.route.provider]
        try:
            status, headers, body = await self._upstream.request(built.method, built.url, built.headers, built.body)
        except httpx2.HTTPError as error:
            raise transport_error(error, spec.name) from error
        if status != 200:
            raise spec.classify_error(status, body, headers)
        return spec.parse_response(body)

    # --- streams ----------------------------------------------------------------------------------

    async def chat_stream(
        self, request: ChatRequest, identity: Identity, options: ChatOptions | None = None, *, route: str = "seed"
    ) -> LiveStream | ReplayStream:
        """Open the stream and wait for its first chunk, retrying and failing over until then; the returned
        stream yields that chunk and the rest. Errors before the first chunk raise here, as for `chat`."""
        if not request.stream:
            request = dataclasses.replace(request, stream=True)
        begun = await self._begin(request, identity, options, route, stream=True)
        if isinstance(begun, _Hit):
            return ReplayStream(begun.reply, begun.request_id, int(begun.started_at))
        call = begun
        try:
            opened, attempt, attempts = await self._attempt(call, self._open_stream, stream=True)
        except BaseException as error:
            await self._unreserve(call, error)
            raise
        store_key = call.cache_key if call.decision.store else None
        live = LiveStream(
            self, call, attempt, opened, attempts, ttft=self._clock.monotonic() - call.t0, store_key=store_key
        )
        live.cache_status = header_value(call.decision, hit=False)
        return live

    async def _open_stream(self, call: _Call, attempt: Attempt) -> Opened:
        built = await self._build(call, attempt)
        spec = PROVIDERS[attempt.route.provider]
        try:
            reply = await self._upstream.open(built.method, built.url, built.headers, built.body)
        except httpx2.HTTPError as error:
            raise transport_error(error, spec.name) from error
        # Decoded bytes: a provider may gzip its event stream (the upstream asks for it).
        pieces = reply.pieces()
        try:
            if reply.status != 200:
                body = await reply.read()
                raise spec.classify_error(reply.status, body, reply.headers)
            parser = spec.stream_parser(call.request)
            first: list[ChatChunk] = []
            ended = False
            while not first and not ended:
                try:
                    data = await anext(pieces)
                except StopAsyncIteration:
                    first, ended = parser.close(), True
                else:
                    first = parser.feed(data)
        except httpx2.HTTPError as error:
            await reply.aclose()
            raise transport_error(error, spec.name) from error
        except BaseException:
            await reply.aclose()
            raise
        return Opened(reply, pieces, parser, first, ended)

    # --- shared steps -----------------------------------------------------------------------------

    async def _begin(
        self, request: ChatRequest, identity: Identity, options: ChatOptions | None, route: str, *, stream: bool
    ) -> _Call | _Hit:
        """Everything before the first attempt: resolve, consult the cache (while the breaker mirror and
        the latency estimates refresh), plan the routes. A failure here is recorded (no provider reached)
        and raised; a cache hit is recorded and returned."""
        started_at, t0 = self._clock.time(), self._clock.monotonic()
        decision = self._decision(request, options)
        try:
            resolved = self._resolve(request)
            key = self._cache_key(request, resolved, identity, decision)
            needs = RequestNeeds.of(request)
            # Reloads of the breaker mirror and the latency view (when due) run while the cache is consulted;
            # then they get what is left of a few milliseconds. Usually nothing is due and nothing waits.
            pending: set[asyncio.Task[None]] = set()
            if (load := self.breakers.start_refresh()) is not None:
                pending.add(load)
            if self._latency is not None:
                pending |= self._latency.start_refresh(self.router.candidate_pairs(request, resolved, needs=needs))
            hit = await self._cache.lookup(key) if key is not None and decision.lookup and self._cache else None
            if pending:
                left = self.breakers.max_wait_seconds - (self._clock.monotonic() - t0)
                await asyncio.wait(pending, timeout=max(left, 0.0))
            if hit is not None:
                request_id = uuid.uuid4().hex
                await self.recorder.hit(
                    hit,
                    identity=identity,
                    route=route,
                    model_requested=request.model,
                    request_id=request_id,
                    started_at=started_at,
                    t0=t0,
                    stream=stream,
                )
                return _Hit(hit, request_id, started_at)
            keys_for = await self._credentials.keys_for(identity)
            call = self._plan(request, resolved, needs, identity, keys_for, options, route, started_at, t0)
            if self.limiter is not None:
                await self._admit(self.limiter, call)
        except GatewayError as error:
            await self.recorder.refused(
                error,
                identity=identity,
                route=route,
                model_requested=request.model,
                started_at=started_at,
                t0=t0,
                stream=stream,
            )
            raise
        call.cache_key, call.decision = key, decision
        return call

    async def _attempt(
        self, call: _Call, once: Callable[[_Call, Attempt], Awaitable[T]], *, stream: bool
    ) -> tuple[T, Attempt, int]:
        """`once` over the plan's routes under the whole-request timeout; a final failure is recorded and raised."""

        log = self._attempt_log
        made = 0

        async def tracked(attempt: Attempt) -> T:
            nonlocal made
            call.last = attempt
            if log is None:
                return await once(call, attempt)
            made += 1
            try:
                value = await once(call, attempt)
            except GatewayError as error:
                self._log_attempt(log, call, attempt, made, error)
                raise
            self._log_attempt(log, call, attempt, made, None)
            return value

        try:
            async with asyncio.timeout(self._request_timeout):
                served = await self._failover.run(call.plan, call.credentials, call.resolved.model, tracked)
        except (UpstreamFailure, NoRouteError) as failure:
            failure.request_id = call.request_id
            attempts = len(failure.attempts) if isinstance(failure, UpstreamFailure) else 0
            await self.recorder.served(call, stream=stream, error=failure, attempts=attempts)
            raise
        except TimeoutError:
            timed_out = UpstreamFailure((self._timeout_error(call),))
            timed_out.request_id = call.request_id
            if call.last is not None:
                await self._failover.settle(call.last, timed_out.last)
            await self.recorder.served(call, stream=stream, error=timed_out, attempts=1)
            raise timed_out from None
        call.last, call.note = served.attempt, served.note
        return served.value, served.attempt, served.attempts

    async def _admit(self, limiter: Limiter, call: _Call) -> None:
        """Reserve the worst case under the caller's limits; the routes that do not fit leave the plan."""
        admission = await limiter.admit(call.identity, call.request_id, call.plan.routes, call.plan.needs)
        if admission is None:
            return
        call.admission = admission
        if admission.dropped:
            dropped = tuple(Exclusion(r.provider, r.model, f"limit:{why}") for r, why in admission.dropped)
            call.plan = dataclasses.replace(call.plan, routes=admission.routes, excluded=call.plan.excluded + dropped)

    async def _unreserve(self, call: _Call, error: BaseException) -> None:
        """The call failed: give the reservation back when no provider was called; a failed call counts as a
        request at zero cost; a cancelled one (the caller left mid-call, usage unknown) keeps its worst case."""
        admission, limiter = call.admission, self.limiter
        if admission is None or limiter is None:
            return
        done: Coroutine[Any, Any, object]
        if isinstance(error, NoRouteError) or call.last is None:
            done = limiter.release(admission)
        elif isinstance(error, GatewayError):
            done = limiter.settle(admission, 0, 0)
        else:
            held = admission.reservation
            done = limiter.settle(admission, held.tokens, held.cost_micros)
        # Shielded: a caller cancelled again must not leave the reservation to its hold's expiry.
        await asyncio.shield(asyncio.ensure_future(done))

    async def settle_limits(
        self, call: _Call, usage: Usage | None, cost: Cost, *, streamed_chars: int | None = None
    ) -> dict[str, str]:
        """Settle the call's reservation to the real tokens and cost; the remaining-limit headers.

        Usage reported: its tokens and cost. A stream that ended early (`streamed_chars` given): the input
        the provider reported (else the prompt estimate) and the larger of the output it reported and the
        output streamed so far (4 characters per token). No usage otherwise (a provider that reported
        nothing): the reservation's worst case, never less than was used."""
        admission, limiter = call.admission, self.limiter
        if admission is None or limiter is None:
            return {}
        needs = call.plan.needs
        if streamed_chars is not None:
            # Ended early: the provider may have reported input (and some output) before it stopped.
            output = max(usage.output_tokens if usage is not None else 0, -(-streamed_chars // CHARS_PER_TOKEN))
            prompt = usage.input_tokens if usage is not None else needs.prompt_tokens
            tokens = prompt + output
            if usage is not None and output == usage.output_tokens:
                micros = cost.micros or 0
            else:
                entry = call.last.route.entry if call.last is not None else None
                micros = estimate_cost(prompt, output, entry).micros or 0
        elif usage is not None:
            tokens, micros = usage.input_tokens + usage.output_tokens, cost.micros or 0
        else:
            tokens, micros = admission.reservation.tokens, admission.reservation.cost_micros
        settled = await asyncio.shield(asyncio.ensure_future(limiter.settle(admission, tokens, micros)))
        return settled.headers()

    def _log_attempt(
        self, log: AttemptLog, call: _Call, attempt: Attempt, number: int, error: GatewayError | None
    ) -> None:
        log.attempt(
            identity=call.identity,
            request_id=call.request_id,
            request=call.request,
            number=number,
            provider=attempt.route.provider,
            model=attempt.route.model,
            credential=attempt.credential.id,
            reason=attempt.route.reason,
            latency_s=self._clock.monotonic() - attempt.started,
            error=error,
        )

    def _resolve(self, request: ChatRequest) -> ResolvedModel:
        resolved = resolve_model(request.model, self.catalog)
        if resolved.entry is not None and not resolved.entry.features.chat_completions:
            raise RequestError(
                f"{resolved.model} is served by OpenAI's Responses API only, not by chat completions",
                field="model",
            )
        return resolved

    def _decision(self, request: ChatRequest, options: ChatOptions | None) -> CacheDecision:
        if options is not None and options.cache is not None:
            return options.cache
        return self.cache_decision(request, {})

    def _cache_key(
        self, request: ChatRequest, resolved: ResolvedModel, identity: Identity, decision: CacheDecision
    ) -> str | None:
        if self._cache is None or not (decision.lookup or decision.store):
            return None
        return self._cache.key(request, resolved.model, identity)

    def _plan(
        self,
        request: ChatRequest,
        resolved: ResolvedModel,
        needs: RequestNeeds,
        identity: Identity,
        keys_for: KeysFor,
        options: ChatOptions | None,
        route: str,
        started_at: float,
        t0: float,
    ) -> _Call:
        credentials: dict[str, tuple[Credential, ...]] = {}

        def unavailable(provider: str, model: str) -> str | None:
            if provider not in credentials:
                credentials[provider] = keys_for(provider)
            if not credentials[provider]:
                return "no_credential"
            if self.breakers.is_open(route_scope(provider, model)):
                return "breaker_open"
            return None

        plan = self.router.plan(request, resolved, options, unavailable=unavailable, needs=needs)
        if not plan.routes:
            raise self._failover.no_route(plan)
        # Copies only when they differ (an alias or a prefix was resolved): a replace per request adds up.
        outgoing = request if request.model == resolved.model else dataclasses.replace(request, model=resolved.model)
        return _Call(
            identity, route, request.model, resolved, outgoing, plan, credentials, uuid.uuid4().hex, started_at, t0
        )

    async def _build(self, call: _Call, attempt: Attempt) -> HttpRequest:
        """The provider request for one attempt: the route's model, the attempt's key."""
        provider = attempt.route.provider
        outgoing = call.request
        if outgoing.model != attempt.route.model:
            outgoing = dataclasses.replace(outgoing, model=attempt.route.model)
        if provider == "gemini":
            outgoing = await attach_signatures(outgoing, self._signatures, call.identity.tenant)
        entry = attempt.route.entry
        return PROVIDERS[provider].build_request(
            outgoing,
            api_key=attempt.credential.key,
            base_url=self._base_urls[provider],
            max_output_tokens=entry.max_output if entry is not None else None,
        )

    def _timeout_error(self, call: _Call) -> ProviderError:
        provider = call.provider or call.resolved.provider
        return ProviderError(
            f"{provider} did not finish within {self._request_timeout:g} s",
            kind="timeout",
            provider=provider,
            retryable=True,
        )

    def _cost(self, call: _Call, usage: Usage | None) -> Cost:
        if usage is None or call.last is None:
            return UNPRICED
        return cost_of(usage, call.last.route.entry)


def _tool_calls(response: ChatResponse) -> list[ToolCall]:
    return [call for choice in response.choices for call in choice.message.tool_calls]
