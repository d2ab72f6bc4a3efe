"""The seed's service in-process: `GatewayService`, what `create_ai_service` and `get_ai_service` return.

    service = create_ai_service({"tenant": "shop", "router": {"maxRetries": 2}})
    reply = await service.chat({"model": "gpt-4o-mini", "messages": [...]}, user_id)
    async for chunk in service.chat_stream({...}, user_id): ...
    await service.analyze_costs({...}); await service.get_analytics(user_id, 30); await service.get_health()
    await service.api_keys.store_api_key(user_id=..., name=..., provider="OPENAI", api_key="sk-...")

Every method calls the same core as the HTTP functions (`shared.service.AIService`, the analytics service,
the health collector, the vault) with an `Identity` of the configured tenant and the given user, and speaks
the seed's JSON shapes: a request is the body of `POST /api/ai/chat` (camelCase, validated by the same
parser, so the same 400s), a reply and each stream chunk are what that route answers (USD amounts as
numbers with 6 decimals), analytics and health are what their routes answer (analytics money as exact
`Decimal`). Failures raise `AIError` with the seed envelope's fields and the route's HTTP status.

Every call is recorded as a `seed` route call of the tenant (one usage event per request, as over HTTP),
under the gateway key id `in-process`, and bills like one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from shared.analytics.port import AnalyticsUnavailable
from shared.analytics.service import AnalyticsService
from shared.api.analytics_deps import build_analytics_deps
from shared.api.deps import ChatDeps
from shared.api.keys import render_key
from shared.api.seed_wire import SeedStreamRenderer, parse_seed_request, render_seed_response
from shared.chat_types import ChatOptions
from shared.clock import Clock
from shared.errors import GatewayError, RequestError
from shared.facade.config import ServiceConfig
from shared.facade.errors import AIError
from shared.health import HealthCollector, assess
from shared.health.render import full_body
from shared.identity import Identity
from shared.routing.analysis import to_seed
from shared.settings import Settings
from shared.unified import ChatRequest
from shared.vault.service import Vault

__all__ = ["FACADE_KEY_ID", "ApiKeyManager", "GatewayService"]

FACADE_KEY_ID = "in-process"  # the gateway key id events and audit records name for in-process calls
_SCOPES = frozenset({"chat", "analytics", "keys"})
_ROUTE = "seed"
_NO_HEADERS: Mapping[str, str] = {}


def _json_ready(event: dict[str, Any]) -> dict[str, Any]:
    # Seed objects carry USD as orjson fragments (exact 6 decimals): one round trip gives plain numbers.
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(event))
    return loaded


class ApiKeyManager:
    """The seed's `apiKeyManager`: a user's own provider keys (BYOK) in the vault, for in-process use.

    `retrieve_api_key` returns the plaintext key: for internal use only (the gateway uses stored keys
    itself; nothing else needs them), and every call is audited as the key's use by `in-process`.
    """

    def __init__(self, vault: Vault, tenant: str) -> None:
        self._vault = vault
        self._tenant = tenant

    def _identity(self, user_id: str | None) -> Identity:
        return Identity(tenant=self._tenant, key_id=FACADE_KEY_ID, user=user_id, scopes=_SCOPES)

    async def store_api_key(self, *, user_id: str | None, name: str, provider: str, api_key: str) -> dict[str, Any]:
        """Encrypt and store `api_key`; returns its metadata (never the key)."""
        try:
            meta = await self._vault.store_key(self._identity(user_id), name, provider, api_key)
        except GatewayError as error:
            raise AIError.from_gateway(error) from None
        return render_key(meta)

    async def retrieve_api_key(self, *, user_id: str | None, api_key_id: str) -> str:
        """The decrypted key `api_key_id` of `user_id` (internal use only; audited)."""
        try:
            return await self._vault.secret_for(self._tenant, user_id, api_key_id, actor=FACADE_KEY_ID)
        except GatewayError as error:
            raise AIError.from_gateway(error) from None

    async def list_api_keys(self, *, user_id: str | None) -> list[dict[str, Any]]:
        return [render_key(meta) for meta in await self._vault.list_keys(self._identity(user_id))]

    async def delete_api_key(self, *, user_id: str | None, api_key_id: str) -> None:
        try:
            await self._vault.delete_key(self._identity(user_id), api_key_id)
        except GatewayError as error:
            raise AIError.from_gateway(error) from None


class GatewayService:
    """The seed's `aiService` over one instance's dependencies (build it with `create_ai_service`)."""

    def __init__(self, config: ServiceConfig, deps: ChatDeps, *, clock: Clock) -> None:
        self.config = config
        self._deps = deps
        self._clock = clock
        self._service = deps.service
        analytics = build_analytics_deps(deps.settings, clock=clock, store=deps.store)
        self._analytics: AnalyticsService = analytics.analytics
        self._health = HealthCollector(
            store=deps.store,
            cache=deps.cache,
            metrics=deps.metrics,
            breakers=deps.service.breakers,
            catalog=deps.catalog,
            clock=clock,
        )
        self.api_keys = ApiKeyManager(deps.vault, config.tenant)

    @property
    def settings(self) -> Settings:
        """The settings in force: the environment's, with the configuration object applied."""
        return self._deps.settings

    def _identity(self, user_id: str | None, *, admin: bool = False) -> Identity:
        if user_id is not None and (not isinstance(user_id, str) or not user_id.strip()):
            raise AIError.from_gateway(RequestError("user_id must be a non-empty string or None", field="user_id"))
        scopes = _SCOPES | {"admin"} if admin else _SCOPES
        return Identity(tenant=self.config.tenant, key_id=FACADE_KEY_ID, user=user_id, scopes=scopes)

    async def _parse(
        self, request: Mapping[str, Any], identity: Identity, *, stream: bool
    ) -> tuple[ChatRequest, ChatOptions]:
        try:
            if not isinstance(request, Mapping):
                raise RequestError("the request must be a mapping (the seed's chat body)", field="body")
            body = {**request, "stream": stream}
            parsed, options = parse_seed_request(orjson.dumps(body), _NO_HEADERS)
        except (GatewayError, TypeError) as error:
            failure = error if isinstance(error, GatewayError) else RequestError(str(error), field="body")
            model = request.get("model", "") if isinstance(request, Mapping) else ""
            await self._service.reject(identity, _ROUTE, failure, model=str(model)[:200])
            raise AIError.from_gateway(failure) from None
        return parsed, dataclasses.replace(options, cache=self._service.cache_decision(parsed, _NO_HEADERS))

    async def chat(self, request: Mapping[str, Any], user_id: str | None = None) -> dict[str, Any]:
        """One chat completion for `user_id`: the reply `POST /api/ai/chat` gives, as a dict."""
        identity = self._identity(user_id)
        parsed, options = await self._parse(request, identity, stream=False)
        try:
            result = await self._service.chat(parsed, identity, options, route=_ROUTE)
        except GatewayError as error:
            raise AIError.from_gateway(error) from None
        reply: dict[str, Any] = orjson.loads(render_seed_response(result, int(self._clock.time())))
        return reply

    async def chat_stream(
        self, request: Mapping[str, Any], user_id: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The stream's chunks as `POST /api/ai/chat` with `stream: true` sends them, the usage chunk last.

        A failure before the first chunk raises `AIError` on the first iteration; one after it raises
        `AIError` where the stream stopped (the chunks already yielded stand).
        """
        identity = self._identity(user_id)
        parsed, options = await self._parse(request, identity, stream=True)
        try:
            stream = await self._service.chat_stream(parsed, identity, options, route=_ROUTE)
        except GatewayError as error:
            raise AIError.from_gateway(error) from None
        renderer = SeedStreamRenderer(stream.model, int(time.time()), stream.provider, attempts=stream.attempts)
        try:
            async for chunk in stream:
                event = renderer.chunk_event(chunk) if chunk.choices else None
                if event is not None:
                    yield _json_ready(event)
        except GatewayError as error:
            raise AIError.from_gateway(error) from None
        yield _json_ready(renderer.usage_event(stream.usage, stream.cost))

    async def analyze_costs(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """The seed's `analyzeCosts`: estimated cost, cheapest provider, recommendations (no provider called)."""
        try:
            parsed, options = parse_seed_request(orjson.dumps({**request, "stream": False}), _NO_HEADERS)
            return _json_ready(to_seed(self._service.analyze_costs(parsed, options)))
        except GatewayError as error:
            raise AIError.from_gateway(error) from None

    async def get_analytics(
        self, user_id: str | None = None, days: int = 30, *, detailed: bool = False
    ) -> dict[str, Any]:
        """Usage, costs, performance and predictions of `user_id` (None: the whole tenant) over `days` days."""
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            raise AIError.from_gateway(
                RequestError(f"days must be an integer from 1 to 365, not {days!r}", field="days")
            )
        # This instance's own events are in the report (if writing fails, it is as fresh as those written).
        with contextlib.suppress(GatewayError):
            await self._deps.events.flush()
        identity = self._identity(user_id, admin=user_id is None)
        try:
            return await self._analytics.report(identity, days, detailed)
        except AnalyticsUnavailable as error:
            raise AIError.from_gateway(GatewayError(f"analytics are unavailable: {error}", status=503)) from None

    async def get_health(self) -> dict[str, Any]:
        """The full health report of `GET /api/ai/health`: status, providers, dependencies, metrics."""
        facts = await self._health.collect()
        return full_body(facts, assess(facts))

    async def aclose(self) -> None:
        """Flush the usage events and release connections (the process's end, or a test's)."""
        await self._deps.aclose()
