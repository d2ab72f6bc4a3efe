"""The service core (the seed's `AIService`): one code path for chat, JSON and streaming.

The HTTP apps parse and authenticate, then call `chat` / `chat_stream` with an explicit `Identity`;
the in-process facade calls the same methods. Per request: resolve the model (catalog, aliases,
provider prefixes), pick the credential, build the provider request once, send it through the one
pooled client, retry what is retryable with the one backoff module, parse, price with `Decimal`, and
record exactly one usage event, failures and streams included.

Until routing lands (the routing issue), the model's own provider serves it with a platform key.
Streams are retried only before their first chunk: once a byte has reached the caller they are never
restarted, and a failure becomes a typed in-stream error (partial usage recorded).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import TypeVar

import httpx2

from shared.cache.entry import CachedReply
from shared.cache.policy import CacheDecision, header_value
from shared.catalog import Catalog
from shared.chat_types import ChatOptions, ChatResult
from shared.clock import Clock, SystemClock
from shared.cost import UNPRICED, Cost, cost_of
from shared.credentials import PlatformCredentials
from shared.errors import GatewayError, ProviderError, RequestError, UpstreamFailure
from shared.events.port import EventSink
from shared.identity import Identity
from shared.metrics import LiveMetrics
from shared.model_names import ResolvedModel, resolve_model
from shared.providers import PROVIDERS, ProviderSpec
from shared.providers.signatures import SignatureStore, attach_signatures, remember_signatures
from shared.providers.spec import HttpRequest
from shared.response_cache import BYPASS, ResponseCache
from shared.retry import RetryPolicy
from shared.service_events import FREE, EventFacts, build_event
from shared.service_streams import LiveStream, Opened, ReplayStream, close_stream
from shared.transport import transport_error
from shared.unified import ChatChunk, ChatRequest, ChatResponse, ToolCall, Usage

__all__ = ["AIService", "LiveStream", "ReplayStream"]

T = TypeVar("T")
MICROS = Decimal(1_000_000)
Sleep = Callable[[float], Awaitable[None]]


class NoCredentialError(GatewayError):
    """No key is configured for the provider that serves the model (503: the gateway's setup)."""

    def __init__(self, provider: str) -> None:
        super().__init__(f"no API key is configured for provider {provider!r}", status=503)
        self.provider = provider


@dataclasses.dataclass(slots=True)
class _Call:
    """One request on its way: everything decided before the first attempt."""

    identity: Identity
    route: str
    requested: str  # the model name as the caller gave it
    resolved: ResolvedModel
    spec: ProviderSpec
    request: ChatRequest
    built: HttpRequest
    request_id: str
    started_at: float  # wall clock, for the event timestamp
    t0: float  # monotonic, for latencies
    cache_key: str | None = None
    decision: CacheDecision = BYPASS


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
        client: httpx2.AsyncClient,
        credentials: PlatformCredentials,
        base_urls: Mapping[str, str],
        events: EventSink,
        signatures: SignatureStore,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        request_timeout: float = 600.0,
        cache: ResponseCache | None = None,
        metrics: LiveMetrics | None = None,
    ) -> None:
        self.catalog = catalog
        self._client = client
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

    def cache_decision(self, request: ChatRequest, headers: Mapping[str, str]) -> CacheDecision:
        """What the response cache may do for this request (raises `RequestError` for a bad header)."""
        return self._cache.decide(request, headers) if self._cache is not None else BYPASS

    async def reject(self, identity: Identity, route: str, error: GatewayError, *, model: str = "") -> None:
        """Record a request the HTTP layer refused before it reached the core (bad body, too large)."""
        now = self._clock.time()
        request = ChatRequest(model=model, messages=())
        await self._record_failure(request, identity, route, now, self._clock.monotonic(), error, stream=False)

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
            )
        call = begun
        response, attempts = await self._attempt(call, self._send_json, stream=False)
        if not response.created:
            response = dataclasses.replace(response, created=int(call.started_at))
        await remember_signatures(_tool_calls(response), self._signatures, identity.tenant)
        cost = self._cost(call, response.usage)
        await self._record(call, stream=False, usage=response.usage, cost=cost, attempts=attempts)
        if call.cache_key is not None and call.decision.store and self._cache is not None:
            await self._cache.store(
                call.cache_key, response, provider=call.spec.name, model=call.resolved.model, cost_micros=cost.micros
            )
        return ChatResult(
            response=response,
            provider=call.spec.name,
            model=call.resolved.model,
            cost=cost,
            attempts=attempts,
            request_id=call.request_id,
            cache_status=header_value(call.decision, hit=False),
        )

    async def _send_json(self, call: _Call) -> ChatResponse:
        built = call.built
        try:
            reply = await self._client.request(built.method, built.url, headers=built.headers, content=built.body)
        except httpx2.HTTPError as error:
            raise transport_error(error, call.spec.name) from error
        if reply.status_code != 200:
            raise call.spec.classify_error(reply.status_code, reply.content, reply.headers)
        return call.spec.parse_response(reply.content)

    # --- streams ----------------------------------------------------------------------------------

    async def chat_stream(
        self, request: ChatRequest, identity: Identity, options: ChatOptions | None = None, *, route: str = "seed"
    ) -> LiveStream | ReplayStream:
        """Open the stream and wait for its first chunk, retrying until then; the returned stream
        yields that chunk and the rest. Errors before the first chunk raise here, as for `chat`."""
        request = dataclasses.replace(request, stream=True)
        begun = await self._begin(request, identity, options, route, stream=True)
        if isinstance(begun, _Hit):
            return ReplayStream(begun.reply, begun.request_id, int(begun.started_at))
        call = begun
        opened, attempts = await self._attempt(call, self._open_stream, stream=True)
        store_key = call.cache_key if call.decision.store else None
        live = LiveStream(self, call, opened, attempts, ttft=self._clock.monotonic() - call.t0, store_key=store_key)
        live.cache_status = header_value(call.decision, hit=False)
        return live

    async def _open_stream(self, call: _Call) -> Opened:
        built = call.built
        outgoing = self._client.build_request(built.method, built.url, headers=built.headers, content=built.body)
        try:
            reply = await self._client.send(outgoing, stream=True)
        except httpx2.HTTPError as error:
            raise transport_error(error, call.spec.name) from error
        # Decoded bytes: a provider may gzip its event stream (httpx2 asks for it by default).
        pieces = reply.aiter_bytes()
        try:
            if reply.status_code != 200:
                body = await reply.aread()
                raise call.spec.classify_error(reply.status_code, body, reply.headers)
            parser = call.spec.stream_parser(call.request)
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
            await close_stream(pieces, reply)
            raise transport_error(error, call.spec.name) from error
        except BaseException:
            await close_stream(pieces, reply)
            raise
        return Opened(reply, pieces, parser, first, ended)

    # --- shared steps -----------------------------------------------------------------------------

    async def _begin(
        self, request: ChatRequest, identity: Identity, options: ChatOptions | None, route: str, *, stream: bool
    ) -> _Call | _Hit:
        """Everything before the first attempt: resolve, consult the cache, pick the credential, build.
        A failure here is recorded (no provider reached) and raised; a cache hit is recorded and returned."""
        started_at, t0 = self._clock.time(), self._clock.monotonic()
        decision = self._decision(request, options)
        try:
            resolved = self._resolve(request)
            key = self._cache_key(request, resolved, identity, decision)
            hit = await self._cache.lookup(key) if key is not None and decision.lookup and self._cache else None
            if hit is not None:
                request_id = uuid.uuid4().hex
                await self._record_hit(hit, request, identity, route, request_id, started_at, t0, stream=stream)
                return _Hit(hit, request_id, started_at)
            call = await self._prepare(request, resolved, identity, route, started_at, t0)
        except GatewayError as error:
            await self._record_failure(request, identity, route, started_at, t0, error, stream=stream)
            raise
        call.cache_key, call.decision = key, decision
        return call

    async def _attempt(self, call: _Call, once: Callable[[_Call], Awaitable[T]], *, stream: bool) -> tuple[T, int]:
        """`once` with retries under the whole-request timeout; a final failure is recorded and raised."""
        try:
            async with asyncio.timeout(self._request_timeout):
                return await self._with_retries(call, once)
        except UpstreamFailure as failure:
            failure.request_id = call.request_id
            await self._record(call, stream=stream, error=failure, attempts=len(failure.attempts))
            raise
        except TimeoutError:
            timed_out = UpstreamFailure((self._timeout_error(call),))
            timed_out.request_id = call.request_id
            await self._record(call, stream=stream, error=timed_out, attempts=1)
            raise timed_out from None

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

    async def _prepare(
        self,
        request: ChatRequest,
        resolved: ResolvedModel,
        identity: Identity,
        route: str,
        started_at: float,
        t0: float,
    ) -> _Call:
        spec = PROVIDERS[resolved.provider]
        key = self._credentials.key_for(resolved.provider)
        if key is None:
            raise NoCredentialError(resolved.provider)
        outgoing = dataclasses.replace(request, model=resolved.model)
        if resolved.provider == "gemini":
            outgoing = await attach_signatures(outgoing, self._signatures, identity.tenant)
        max_output = resolved.entry.max_output if resolved.entry is not None else None
        built = spec.build_request(
            outgoing, api_key=key, base_url=self._base_urls[resolved.provider], max_output_tokens=max_output
        )
        return _Call(identity, route, request.model, resolved, spec, outgoing, built, uuid.uuid4().hex, started_at, t0)

    async def _with_retries(self, call: _Call, once: Callable[[_Call], Awaitable[T]]) -> tuple[T, int]:
        errors: list[ProviderError] = []
        waited = 0.0
        while True:
            try:
                return await once(call), len(errors) + 1
            except ProviderError as error:
                errors.append(error)
                delay = self._retry.delay(len(errors), error.retry_after, self._random) if error.retryable else None
                # One budget for all the waiting of a request: past it, answer now (architecture, Routing).
                if delay is None or waited + delay > self._retry.max_total_wait_seconds:
                    raise UpstreamFailure(tuple(errors)) from error
            waited += delay
            await self._sleep(delay)

    def _timeout_error(self, call: _Call) -> ProviderError:
        return ProviderError(
            f"{call.spec.name} did not finish within {self._request_timeout:g} s",
            kind="timeout",
            provider=call.spec.name,
            retryable=True,
        )

    def _cost(self, call: _Call, usage: Usage | None) -> Cost:
        if usage is None:
            return UNPRICED
        return cost_of(usage, call.resolved.entry)

    async def _record(
        self,
        call: _Call,
        *,
        stream: bool,
        usage: Usage | None = None,
        cost: Cost | None = None,
        error: GatewayError | None = None,
        attempts: int,
        ttft: float | None = None,
    ) -> None:
        latency = self._clock.monotonic() - call.t0
        if self._metrics is not None:
            # Live metrics per (provider, model), shared by every instance: only calls that reached a provider.
            self._metrics.record(
                call.spec.name,
                call.resolved.model,
                error_kind=_metric_error_kind(error),
                latency_s=latency,
                ttft_s=ttft,
            )
        facts = EventFacts(
            identity=call.identity,
            route=call.route,
            request_id=call.request_id,
            model_requested=call.requested,
            provider=call.spec.name,
            model=call.resolved.model,
            price_verified=call.resolved.entry.price_verified if call.resolved.entry is not None else None,
            stream=stream,
            started_at=call.started_at,
            latency=latency,
            ttft=ttft,
            attempts=attempts,
            usage=usage,
            cost=cost,
            error=error,
        )
        await self._events.publish(build_event(facts))

    async def _record_hit(
        self,
        hit: CachedReply,
        request: ChatRequest,
        identity: Identity,
        route: str,
        request_id: str,
        started_at: float,
        t0: float,
        *,
        stream: bool,
    ) -> None:
        entry = self.catalog.get(hit.model)
        saved = (
            UNPRICED
            if hit.cost_micros is None
            else Cost(usd=Decimal(hit.cost_micros) / MICROS, micros=hit.cost_micros, unpriced=False)
        )
        facts = EventFacts(
            identity=identity,
            route=route,
            request_id=request_id,
            model_requested=request.model,
            provider=hit.provider,
            model=hit.model,
            price_verified=entry.price_verified if entry is not None else None,
            stream=stream,
            started_at=started_at,
            latency=self._clock.monotonic() - t0,
            ttft=0.0 if stream else None,
            attempts=0,
            usage=hit.response.usage,
            cost=saved,
            error=None,
            cache_hit=True,
        )
        await self._events.publish(build_event(facts))

    async def _record_failure(
        self,
        request: ChatRequest,
        identity: Identity,
        route: str,
        started_at: float,
        t0: float,
        error: GatewayError,
        *,
        stream: bool,
    ) -> None:
        error.request_id = error.request_id or uuid.uuid4().hex
        facts = EventFacts(
            identity=identity,
            route=route,
            request_id=error.request_id,
            model_requested=request.model,
            provider=None,
            model=None,
            price_verified=None,
            stream=stream,
            started_at=started_at,
            latency=self._clock.monotonic() - t0,
            ttft=None,
            attempts=0,
            usage=None,
            cost=None,
            error=error,
        )
        await self._events.publish(build_event(facts))


def _metric_error_kind(error: GatewayError | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, (ProviderError, UpstreamFailure)):
        return error.kind
    return "client_closed" if error.status == 499 else "gateway"


def _tool_calls(response: ChatResponse) -> list[ToolCall]:
    return [call for choice in response.choices for call in choice.message.tool_calls]
