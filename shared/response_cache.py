"""The response cache: what the service core asks of the cache port for chat replies.

Decides (policy), keys (tenant-scoped hash of the canonical request), looks up and stores complete
successful replies on the cache port (in-process, or an L1 in front of Redis). A hit costs $0 and calls no
provider; it reports the cost it saved. The port never fails a request, so neither does this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from shared.cache.entry import CachedReply, cacheable, dumps, loads
from shared.cache.keys import CacheScope, response_cache_key
from shared.cache.policy import CacheDecision, cache_decision
from shared.cache.port import CachePort
from shared.clock import Clock, SystemClock
from shared.identity import Identity
from shared.unified import ChatRequest, ChatResponse

__all__ = ["BYPASS", "ResponseCache"]

BYPASS = CacheDecision(lookup=False, store=False, reason="disabled")


class ResponseCache:
    def __init__(
        self,
        port: CachePort,
        *,
        ttl_seconds: float = 300.0,
        enabled: bool = True,
        max_temperature: float = 0.5,
        clock: Clock | None = None,
    ) -> None:
        self.port = port
        self._ttl = ttl_seconds
        self._enabled = enabled
        self._max_temperature = max_temperature
        self._clock = clock or SystemClock()

    def decide(self, request: ChatRequest, headers: Mapping[str, str]) -> CacheDecision:
        """Raises `RequestError` for a bad `x-gateway-cache` header (the caller's 400)."""
        return cache_decision(request, headers, enabled=self._enabled, temperature_threshold=self._max_temperature)

    def key(self, request: ChatRequest, model: str, identity: Identity) -> str:
        """The key of `request` served by `model` (the resolved catalog id) for this tenant and user."""
        return response_cache_key(dataclasses.replace(request, model=model), CacheScope.of(identity))

    async def lookup(self, key: str) -> CachedReply | None:
        blob = await self.port.get(key)
        return loads(blob) if blob is not None else None

    async def store(
        self, key: str, response: ChatResponse, *, provider: str, model: str, cost_micros: int | None
    ) -> bool:
        """Keep `response` if it is a complete success; returns whether it was kept."""
        if not cacheable(response):
            return False
        reply = CachedReply(response, provider, model, cost_micros, self._clock.time())
        await self.port.set(key, dumps(reply), self._ttl)
        return True
