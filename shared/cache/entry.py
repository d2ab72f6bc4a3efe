"""A cached reply: what is stored, its byte form, what may be stored, and how a hit is replayed as a stream.

Owns `CachedReply` (the final response with the facts a hit reports: provider, model, the cost it saves),
its versioned orjson form (`dumps`/`loads`: a blob that is malformed or of another version loads as None, so a
bad entry is a miss, never a failed request), the rule for what may be cached (`cacheable`: complete successful
answers only, issue 4), and `replay_chunks`, the unified chunk sequence a hit on a streaming request sends
through the route's stream renderer. Streams are stored in the same form, assembled
(`shared.providers.assembly`) once they have ended properly.

Bump `ENTRY_VERSION` whenever the stored shape changes: old entries then read as misses.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any, Final

import orjson

from shared.chat_types import ChatResult
from shared.unified import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FinishReason,
    ReasoningBlock,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["ENTRY_VERSION", "CachedReply", "cacheable", "dumps", "loads", "replay_chunks"]

ENTRY_VERSION: Final = 1

_FINISH: Final[dict[str, FinishReason]] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
}


@dataclass(frozen=True, slots=True)
class CachedReply:
    """A stored answer. `cost_micros` is what the original call cost (None: unpriced), i.e. what a hit saves;
    `created` is when it was stored (Unix seconds)."""

    response: ChatResponse
    provider: str
    model: str
    cost_micros: int | None
    created: float

    @classmethod
    def from_result(cls, result: ChatResult, *, created: float) -> CachedReply:
        return cls(result.response, result.provider, result.model, result.cost.micros, created)


# --- what may be stored ---------------------------------------------------------------------------


def cacheable(response: ChatResponse) -> bool:
    """Only complete, successful answers: at least one choice, every choice finished (a cut stream has no
    finish reason), none stopped by a content filter (a partial answer that a retry may get whole), every
    tool call named with arguments that are a JSON object, and usage reported (a hit reports the cost saved)."""
    if response.usage is None or not response.choices:
        return False
    for choice in response.choices:
        if choice.finish_reason is None or choice.finish_reason == "content_filter":
            return False
        for call in choice.message.tool_calls:
            if not call.id or not call.name or not _json_object(call.arguments):
                return False
    return True


def _json_object(arguments: str) -> bool:
    try:
        # An empty string means no arguments ({}), the unified form's convention.
        return isinstance(orjson.loads(arguments or "{}"), dict)
    except orjson.JSONDecodeError:
        return False


# --- bytes ----------------------------------------------------------------------------------------


def dumps(reply: CachedReply) -> bytes:
    # orjson writes the unified dataclasses natively, field by field; `loads` reads exactly those fields.
    return orjson.dumps(
        {
            "v": ENTRY_VERSION,
            "provider": reply.provider,
            "model": reply.model,
            "cost_micros": reply.cost_micros,
            "created": reply.created,
            "response": reply.response,
        }
    )


_TOP: Final = frozenset({"v", "provider", "model", "cost_micros", "created", "response"})


class _Malformed(Exception):
    """A stored blob is not an entry of this version (caught in `loads`)."""


def loads(blob: bytes) -> CachedReply | None:
    """The reply stored in `blob`, or None when it is not valid JSON, not this version, or not exactly the
    shape `dumps` writes (wrong types, missing or unknown fields). Never raises."""
    try:
        doc = _object(orjson.loads(blob), _TOP)
        if _int(doc["v"]) != ENTRY_VERSION:
            return None
        created = doc["created"]
        if isinstance(created, bool) or not isinstance(created, int | float):
            raise _Malformed("created")
        return CachedReply(
            response=_response(doc["response"]),
            provider=_str(doc["provider"]),
            model=_str(doc["model"]),
            cost_micros=None if doc["cost_micros"] is None else _count(doc["cost_micros"]),
            created=float(created),
        )
    except (orjson.JSONDecodeError, _Malformed):
        return None


@functools.cache
def _fields(kind: type) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(kind))


def _object(value: object, keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict) or value.keys() != keys:
        raise _Malformed("object")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise _Malformed("string")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed("integer")
    return value


def _count(value: object) -> int:
    number = _int(value)
    if number < 0:
        raise _Malformed("negative")
    return number


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise _Malformed("list")
    return value


def _usage(value: object) -> Usage:
    doc = _object(value, _fields(Usage))
    return Usage(**{name: _count(number) for name, number in doc.items()})


def _tool_call(value: object) -> ToolCall:
    doc = _object(value, _fields(ToolCall))
    return ToolCall(
        id=_str(doc["id"]),
        name=_str(doc["name"]),
        arguments=_str(doc["arguments"]),
        thought_signature=_opt_str(doc["thought_signature"]),
    )


def _reasoning(value: object) -> ReasoningBlock:
    doc = _object(value, _fields(ReasoningBlock))
    if not isinstance(doc["redacted"], bool):
        raise _Malformed("redacted")
    return ReasoningBlock(
        text=_str(doc["text"]),
        signature=_opt_str(doc["signature"]),
        redacted=doc["redacted"],
        data=_opt_str(doc["data"]),
    )


def _choice(value: object) -> Choice:
    doc = _object(value, _fields(Choice))
    message = _object(doc["message"], _fields(ResponseMessage))
    finish = doc["finish_reason"]
    if finish is not None and finish not in _FINISH:
        raise _Malformed("finish_reason")
    return Choice(
        index=_count(doc["index"]),
        message=ResponseMessage(
            content=_opt_str(message["content"]),
            tool_calls=tuple(_tool_call(c) for c in _list(message["tool_calls"])),
            refusal=_opt_str(message["refusal"]),
            reasoning=tuple(_reasoning(b) for b in _list(message["reasoning"])),
        ),
        finish_reason=None if finish is None else _FINISH[finish],
    )


def _response(value: object) -> ChatResponse:
    doc = _object(value, _fields(ChatResponse))
    return ChatResponse(
        id=_str(doc["id"]),
        model=_str(doc["model"]),
        created=_count(doc["created"]),
        choices=tuple(_choice(c) for c in _list(doc["choices"])),
        usage=None if doc["usage"] is None else _usage(doc["usage"]),
        provider_finish_reason=_opt_str(doc["provider_finish_reason"]),
    )


# --- replay ---------------------------------------------------------------------------------------


def replay_chunks(reply: CachedReply, *, response_id: str) -> list[ChatChunk]:
    """The stream of a hit, choice after choice: the role, reasoning blocks (the renderers drop them, but
    assembling the replay gives the stored message whole), the content and refusal in one delta each, one
    delta per tool call (id, name and arguments together), the finish reason; then a usage-only chunk.

    `shared.providers.assembly.assemble` of the result equals `reply.response` with `id=response_id`, except
    that an empty-string content comes back as None (the assembler keeps no empty pieces) and
    `provider_finish_reason` is not carried (no chunk field holds it; the stream renderers never show it).
    """
    r = reply.response
    model = r.model or reply.model

    def chunk(index: int, delta: Delta, finish: FinishReason | None = None) -> ChatChunk:
        choice = ChunkChoice(index=index, delta=delta, finish_reason=finish)
        return ChatChunk(id=response_id, model=model, created=r.created, choices=(choice,))

    chunks: list[ChatChunk] = []
    for choice in sorted(r.choices, key=lambda c: c.index):
        message, i = choice.message, choice.index
        chunks.append(chunk(i, Delta(role="assistant")))
        chunks.extend(chunk(i, _reasoning_delta(block)) for block in message.reasoning)
        if message.content:
            chunks.append(chunk(i, Delta(content=message.content)))
        if message.refusal:
            chunks.append(chunk(i, Delta(refusal=message.refusal)))
        for n, call in enumerate(message.tool_calls):
            piece = ToolCallDelta(
                index=n, id=call.id, name=call.name, arguments=call.arguments, thought_signature=call.thought_signature
            )
            chunks.append(chunk(i, Delta(tool_calls=(piece,))))
        chunks.append(chunk(i, Delta(), choice.finish_reason))
    if r.usage is not None:
        chunks.append(ChatChunk(id=response_id, model=model, created=r.created, usage=r.usage))
    return chunks


def _reasoning_delta(block: ReasoningBlock) -> Delta:
    if block.redacted:
        return Delta(reasoning_redacted=block.data)
    return Delta(reasoning=block.text or None, reasoning_signature=block.signature)
