"""Gemini `thoughtSignature` keeping: the store port and the two steps around an adapter call.

Gemini 2.5+/3 attach an opaque `thoughtSignature` to each `functionCall` part and reject the next
turn if it is not echoed (providers.md 3.1). Clients speak OpenAI's format, which has no place for
it, so the gateway keeps it keyed by (tenant, tool-call id) for 24 h: `remember` after a response,
`attach` before the next request is built. The in-process store is the default; the cache issue
puts a Redis-backed one behind the same protocol so signatures survive across instances.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Protocol

from shared.clock import Clock, SystemClock
from shared.unified import ChatRequest, Message, ToolCall

__all__ = [
    "DEFAULT_TTL_SECONDS",
    "InMemorySignatureStore",
    "SignatureStore",
    "attach_signatures",
    "remember_signatures",
]

DEFAULT_TTL_SECONDS = 24 * 3600


class SignatureStore(Protocol):
    async def get_many(self, tenant: str, call_ids: Iterable[str]) -> dict[str, str]: ...

    async def put_many(self, tenant: str, signatures: Mapping[str, str]) -> None: ...


class InMemorySignatureStore:
    """Bounded LRU with TTL, for one process. Keys include the tenant: no cross-tenant reads."""

    def __init__(
        self, *, ttl_seconds: float = DEFAULT_TTL_SECONDS, max_entries: int = 100_000, clock: Clock | None = None
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock or SystemClock()
        self._items: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()

    async def get_many(self, tenant: str, call_ids: Iterable[str]) -> dict[str, str]:
        now = self._clock.monotonic()
        found: dict[str, str] = {}
        for call_id in call_ids:
            key = (tenant, call_id)
            item = self._items.get(key)
            if item is None:
                continue
            expires, signature = item
            if expires <= now:
                del self._items[key]
                continue
            self._items.move_to_end(key)
            found[call_id] = signature
        return found

    async def put_many(self, tenant: str, signatures: Mapping[str, str]) -> None:
        expires = self._clock.monotonic() + self._ttl
        for call_id, signature in signatures.items():
            key = (tenant, call_id)
            self._items[key] = (expires, signature)
            self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)


async def attach_signatures(request: ChatRequest, store: SignatureStore, tenant: str) -> ChatRequest:
    """Fill in the stored signature of every assistant tool call that lacks one."""
    wanted = [
        call.id
        for message in request.messages
        if message.role == "assistant"
        for call in message.tool_calls
        if call.thought_signature is None
    ]
    if not wanted:
        return request
    found = await store.get_many(tenant, wanted)
    if not found:
        return request

    def fill(call: ToolCall) -> ToolCall:
        signature = found.get(call.id)
        if signature is None or call.thought_signature is not None:
            return call
        return dataclasses.replace(call, thought_signature=signature)

    def fill_message(message: Message) -> Message:
        if message.role != "assistant" or not message.tool_calls:
            return message
        return dataclasses.replace(message, tool_calls=tuple(fill(c) for c in message.tool_calls))

    return dataclasses.replace(request, messages=tuple(fill_message(m) for m in request.messages))


async def remember_signatures(calls: Iterable[ToolCall], store: SignatureStore, tenant: str) -> None:
    """Keep the signatures a response carried, for the turn that answers these calls."""
    signatures = {call.id: call.thought_signature for call in calls if call.thought_signature}
    if signatures:
        await store.put_many(tenant, signatures)
