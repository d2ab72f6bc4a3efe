"""What the service core takes besides the request, and what it gives back.

`ChatOptions` carries the per-request routing switches (seed body fields or `x-gateway-*` headers);
`ChatResult` is a finished JSON reply with its billing facts; `ChatStream` is a live stream whose
billing facts are known once it has been consumed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from shared.cache.policy import CacheDecision
from shared.cost import Cost
from shared.unified import ChatChunk, ChatResponse, Usage

__all__ = ["ChatOptions", "ChatResult", "ChatStream"]


@dataclass(frozen=True, slots=True)
class ChatOptions:
    preferred_provider: str | None = None  # internal name: openai | anthropic | gemini
    cost_optimization: bool | None = None
    fallback: bool | None = None
    cache: CacheDecision | None = None  # from the request's headers; None: the service decides without them


@dataclass(frozen=True, slots=True)
class ChatResult:
    response: ChatResponse
    provider: str  # internal name of the provider that served it
    model: str  # the model id that served it
    cost: Cost
    attempts: int
    request_id: str
    cache_status: str = "BYPASS"  # the x-gateway-cache header: HIT | MISS | BYPASS
    cost_saved_micros: int = 0  # a cache hit: what the stored reply cost
    route: str = ""  # x-gateway-route: why this model served it (requested, cheapest, preferred, fallback after ...)
    # What is left of the caller's usage limits once this request settled (x-gateway-budget-remaining,
    # x-ratelimit-remaining-requests / -tokens); empty when no limit applies.
    limit_headers: dict[str, str] = field(default_factory=dict)


class ChatStream(Protocol):
    """An async iterator of unified chunks. `provider`/`model` are known before the first chunk;
    `usage` and `cost` once the stream has ended (None when the provider reported no usage)."""

    provider: str
    model: str
    request_id: str
    attempts: int
    route: str

    def __aiter__(self) -> AsyncIterator[ChatChunk]: ...

    @property
    def usage(self) -> Usage | None: ...

    @property
    def cost(self) -> Cost: ...
