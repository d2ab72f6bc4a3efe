"""The two kinds of stream the service core hands out.

`LiveStream` is a provider stream that has produced its first chunk: it forwards the rest chunk by chunk,
never restarts (a failure becomes `ProviderError(in_stream=True)`), keeps usage and cost, remembers Gemini
signatures, stores a complete answer in the response cache, and records the request's one usage event
when it ends, however it ends. `ReplayStream` is a cache hit served as a stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx2

from shared.cache.entry import CachedReply, replay_chunks
from shared.cost import UNPRICED, Cost
from shared.errors import GatewayError, ProviderError
from shared.providers.assembly import StreamAssembler
from shared.providers.signatures import remember_signatures
from shared.providers.spec import StreamParser
from shared.service_events import FREE
from shared.transport import UpstreamReply, transport_error
from shared.unified import ChatChunk, ToolCall, Usage

if TYPE_CHECKING:
    from shared.service import AIService, _Call
    from shared.service_failover import Attempt

__all__ = ["LiveStream", "Opened", "ReplayStream"]


@dataclasses.dataclass(slots=True)
class Opened:
    reply: UpstreamReply
    pieces: AsyncIterator[bytes]
    parser: StreamParser
    first: list[ChatChunk]
    ended: bool


class LiveStream:
    """A stream that has produced its first chunk. Iterate it once; `usage` and `cost` are known at
    the end. A failure after the first chunk raises `ProviderError(in_stream=True)` from the iteration."""

    cache_status = "BYPASS"

    def __init__(
        self,
        service: AIService,
        call: _Call,
        attempt: Attempt,
        opened: Opened,
        attempts: int,
        *,
        ttft: float,
        store_key: str | None = None,
    ) -> None:
        self._service = service
        self._store_key = store_key
        # Only a stream that may be cached is folded back into one response as it goes.
        self._assembler = StreamAssembler() if store_key is not None else None
        self._call = call
        self._attempt = attempt
        self._opened = opened
        self.attempts = attempts
        self.ttft = ttft
        self.provider = attempt.route.provider
        self.model = attempt.route.model
        self.route = call.note
        self.request_id = call.request_id
        self.created = int(call.started_at)
        self.usage: Usage | None = None
        self.cost: Cost = UNPRICED
        self._calls: list[ToolCall] = []
        # Under a usage limit: the remaining-limit headers as reserved, and the output characters streamed
        # (what an early end is settled to when the provider reported no usage).
        admission = call.admission
        self.limit_headers: dict[str, str] = admission.remaining().headers() if admission is not None else {}
        self._chars: int | None = 0 if admission is not None else None

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ChatChunk]:
        opened, call = self._opened, self._call
        error: GatewayError | None = None
        try:
            for chunk in opened.first:
                self._observe(chunk)
                yield chunk
            if not opened.ended:
                async for chunk in self._rest():
                    self._observe(chunk)
                    yield chunk
        except ProviderError as failure:
            error = failure
            raise
        except (GeneratorExit, asyncio.CancelledError):
            # The caller went away: Starlette cancels the task iterating the stream (CancelledError);
            # closing the generator throws GeneratorExit. Stop reading, record what was used.
            error = GatewayError("the client closed the stream", status=499)
            raise
        finally:
            # Close the byte iterator here, not in the garbage collector (which may run it on another
            # thread mid-iteration), then the response.
            await opened.reply.aclose()  # closes its pieces too
            service = self._service
            # The breakers learn how the stream ended: a cut or an error event after the first chunk is a
            # fault of the route like any other; the caller going away is nobody's fault.
            await service._failover.settle(self._attempt, error)
            self.cost = service._cost(call, self.usage)
            await service.settle_limits(
                call, self.usage, self.cost, streamed_chars=self._chars if error is not None else None
            )
            if error is None:
                await remember_signatures(self._calls, service._signatures, call.identity.tenant)
                if self._assembler is not None and self._store_key is not None and service._cache is not None:
                    await service._cache.store(
                        self._store_key,
                        self._assembler.result(),
                        provider=self.provider,
                        model=self.model,
                        cost_micros=self.cost.micros,
                    )
            await service.recorder.served(
                call,
                stream=True,
                usage=self.usage,
                cost=self.cost,
                error=error,
                attempts=self.attempts,
                ttft=self.ttft,
            )

    async def _rest(self) -> AsyncIterator[ChatChunk]:
        opened, provider = self._opened, self.provider
        try:
            async for data in opened.pieces:
                for chunk in opened.parser.feed(data):
                    yield chunk
        except httpx2.HTTPError as error:
            cut = transport_error(error, provider)
            cut.in_stream = True
            raise cut from error
        for chunk in opened.parser.close():
            yield chunk

    def _observe(self, chunk: ChatChunk) -> None:
        if self._assembler is not None:
            self._assembler.add(chunk)
        if chunk.usage is not None:
            self.usage = chunk.usage
        if self._chars is not None:
            for choice in chunk.choices:
                delta = choice.delta
                self._chars += len(delta.content or "") + len(delta.reasoning or "") + len(delta.refusal or "")
                self._chars += sum(len(piece.arguments) + len(piece.name or "") for piece in delta.tool_calls)
        for choice in chunk.choices:
            for piece in choice.delta.tool_calls:
                if piece.thought_signature and piece.id:
                    self._calls.append(ToolCall(piece.id, piece.name or "", "", piece.thought_signature))


class ReplayStream:
    """A cache hit served as a stream: the stored reply replayed as unified chunks. Costs $0, calls nothing."""

    cache_status = "HIT"
    attempts = 0
    ttft = 0.0
    route = "cache"

    def __init__(self, hit: CachedReply, request_id: str, created: int) -> None:
        self._chunks = replay_chunks(hit, response_id=f"chatcmpl-{request_id}")
        self.provider = hit.provider
        self.model = hit.model
        self.request_id = request_id
        self.created = created
        self.usage: Usage | None = hit.response.usage
        self.cost: Cost = FREE
        self.cost_saved_micros = hit.cost_micros or 0
        self.limit_headers: dict[str, str] = {}  # a cache hit is not counted against usage limits

    async def __aiter__(self) -> AsyncIterator[ChatChunk]:
        for chunk in self._chunks:
            yield chunk
