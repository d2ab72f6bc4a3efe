"""Anthropic Messages, the stream parser: `event:`/`data:` SSE (providers.md 2.3) -> unified chunks.

Owns `AnthropicStreamParser` and the table of string-carrying blocks and deltas. Finish reasons and
usage come from `anthropic_reply` (the same tables as the JSON reply), `event: error` frames are
classified by `anthropic_errors`; `shared.providers.anthropic` re-exports the parser.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from shared.errors import ErrorKind, ProviderError
from shared.providers.anthropic_errors import PROVIDER, stream_error
from shared.providers.anthropic_reply import finish_reason, usage_from_wire
from shared.providers.sse import SSEEvent
from shared.providers.stream_base import SSEStreamParser
from shared.unified import ChatChunk, ChunkChoice, Delta, FinishReason, ToolCallDelta

__all__ = ["STRING_PAYLOADS", "AnthropicStreamParser"]

# content_block_start blocks and content_block_delta deltas that carry one string (their `type`
# values never overlap): type -> (the key holding the string, the unified Delta it becomes).
STRING_PAYLOADS: dict[str, tuple[str, Callable[[str], Delta]]] = {
    "text": ("text", lambda text: Delta(content=text)),
    "thinking": ("thinking", lambda text: Delta(reasoning=text)),
    # Encrypted thinking (providers.md 2.1): opaque, replayed as-is on the next turn.
    "redacted_thinking": ("data", lambda data: Delta(reasoning_redacted=data)),
    "text_delta": ("text", lambda text: Delta(content=text)),
    "thinking_delta": ("thinking", lambda text: Delta(reasoning=text)),
    "signature_delta": ("signature", lambda signature: Delta(reasoning_signature=signature)),
}


class AnthropicStreamParser(SSEStreamParser):
    """`message_start` .. `message_stop` -> unified chunks (providers.md 2.3 and section 6).

    Tool calls are numbered by their ordinal among `tool_use` blocks, not by Anthropic's block
    index (a text or thinking block usually comes first). Usage is cumulative: `message_delta`
    replaces what `message_start` said, field by field.
    """

    def __init__(self) -> None:
        super().__init__()
        self._id = ""
        self._model = ""
        self._role_sent = False
        self._usage: dict[str, Any] | None = None
        self._tool_index: dict[int, int] = {}  # Anthropic block index -> tool-call ordinal
        self._tool_args: set[int] = set()  # ordinals that received a non-empty fragment
        self._done = False
        self._closing = False

    def close(self) -> list[ChatChunk]:
        self._closing = True
        return super().close()

    def on_event(self, event: SSEEvent) -> list[ChatChunk]:
        if self._done:
            return []
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            # At close the decoder hands over the last, unterminated event: broken JSON there is
            # a cut connection; inside the stream it is the provider's fault.
            failure: ErrorKind = "network_error" if self._closing else "api_error"
            raise _broken(f"invalid JSON in stream event {event.event!r}: {exc}", failure) from exc
        if not isinstance(payload, dict):
            return []
        kind = payload.get("type") or event.event
        if kind == "error":
            raise stream_error(payload)
        if kind == "message_start":
            return self._start(payload)
        if kind == "content_block_start":
            return self._block_start(payload)
        if kind == "content_block_delta":
            return self._block_delta(payload)
        if kind == "content_block_stop":
            return self._block_stop(payload)
        if kind == "message_delta":
            return self._message_delta(payload)
        if kind == "message_stop":
            self._done = True
            if self._usage is None:
                return []
            return [ChatChunk(id=self._id, model=self._model, created=0, usage=usage_from_wire(self._usage))]
        # ping, and event types added after this was written.
        return []

    def on_end(self) -> list[ChatChunk]:
        if not self._done:
            raise _broken("Anthropic stream ended before message_stop", "network_error")
        return []

    def _chunk(self, delta: Delta, finish: FinishReason | None = None) -> ChatChunk:
        if not self._role_sent:
            self._role_sent = True
            delta = dataclasses.replace(delta, role="assistant")
        choice = ChunkChoice(index=0, delta=delta, finish_reason=finish)
        return ChatChunk(id=self._id, model=self._model, created=0, choices=(choice,))

    def _merge_usage(self, usage: object) -> None:
        if isinstance(usage, Mapping):
            merged = dict(self._usage or {})
            merged.update({k: v for k, v in usage.items() if v is not None})
            self._usage = merged

    def _start(self, payload: Mapping[str, Any]) -> list[ChatChunk]:
        message = payload.get("message")
        if isinstance(message, Mapping):
            self._id = str(message.get("id") or "")
            self._model = str(message.get("model") or "")
            self._merge_usage(message.get("usage"))
        return [self._chunk(Delta(role="assistant"))]

    def _block_start(self, payload: Mapping[str, Any]) -> list[ChatChunk]:
        block = payload.get("content_block")
        if not isinstance(block, Mapping):
            return []
        if block.get("type") == "tool_use":
            ordinal = len(self._tool_index)
            self._tool_index[_int(payload.get("index"))] = ordinal
            call = ToolCallDelta(index=ordinal, id=str(block.get("id", "")), name=str(block.get("name", "")))
            return [self._chunk(Delta(tool_calls=(call,)))]
        # text/thinking starts normally carry "" (the deltas follow); redacted_thinking carries its
        # whole `data` here and gets no deltas. Emit only what is really there.
        return self._payload_chunk(block)

    def _block_delta(self, payload: Mapping[str, Any]) -> list[ChatChunk]:
        delta = payload.get("delta")
        if not isinstance(delta, Mapping):
            return []
        if delta.get("type") == "input_json_delta":
            fragment = delta.get("partial_json")
            ordinal = self._tool_index.get(_int(payload.get("index")))
            # The first fragment is often "" (README: even a no-argument call sends one): skip it.
            if ordinal is None or not isinstance(fragment, str) or not fragment:
                return []
            self._tool_args.add(ordinal)
            return [self._chunk(Delta(tool_calls=(ToolCallDelta(index=ordinal, arguments=fragment),)))]
        # citations_delta and future delta types are not in the table: nothing the unified form holds.
        return self._payload_chunk(delta)

    def _payload_chunk(self, item: Mapping[str, Any]) -> list[ChatChunk]:
        kind = item.get("type")
        if not isinstance(kind, str) or kind not in STRING_PAYLOADS:
            return []
        key, make = STRING_PAYLOADS[kind]
        value = item.get(key)
        return [self._chunk(make(value))] if isinstance(value, str) and value else []

    def _block_stop(self, payload: Mapping[str, Any]) -> list[ChatChunk]:
        # A call without arguments streams only "" (stream_tool_call_2.sse); "{}" is what the JSON
        # reply gives (parse_response) and what OpenAI clients can parse.
        ordinal = self._tool_index.get(_int(payload.get("index")))
        if ordinal is None or ordinal in self._tool_args:
            return []
        self._tool_args.add(ordinal)
        return [self._chunk(Delta(tool_calls=(ToolCallDelta(index=ordinal, arguments="{}"),)))]

    def _message_delta(self, payload: Mapping[str, Any]) -> list[ChatChunk]:
        self._merge_usage(payload.get("usage"))
        delta = payload.get("delta")
        reason = finish_reason(delta.get("stop_reason")) if isinstance(delta, Mapping) else None
        return [self._chunk(Delta(), reason)] if reason is not None else []


def _broken(message: str, kind: ErrorKind) -> ProviderError:
    """A stream that cannot be trusted past this point; retrying the request may well succeed."""
    return ProviderError(message, kind=kind, provider=PROVIDER, retryable=True, in_stream=True)


def _int(value: object) -> int:
    return value if isinstance(value, int) else -1
