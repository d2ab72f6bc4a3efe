"""The Gemini stream parsers: `:streamGenerateContent` chunks in, unified chunks out.

`GeminiStreamParser` reads the `alt=sse` stream (what the gateway requests); `JsonArrayStreamParser`
reads the JSON-array stream the endpoint returns without `alt=sse` (providers.md 3.3; fixture
`gemini/stream_json_array.json`). Both hand whole `GenerateContentResponse` objects to one
`GeminiChunker`, which reads them with `shared.providers.gemini_reply` and raises the in-stream
errors of `shared.providers.gemini_errors`.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from typing import Any

import orjson

from shared.errors import ProviderError
from shared.providers.gemini_errors import bad_stream_error, cut_stream_error, in_stream_error
from shared.providers.gemini_reply import (
    as_text,
    blocked_reason,
    candidate_index,
    map_finish_reason,
    parse_usage,
    read_candidate,
)
from shared.providers.sse import SSEEvent
from shared.providers.stream_base import SSEStreamParser
from shared.unified import ChatChunk, ChunkChoice, Delta, ToolCallDelta, Usage

__all__ = ["GeminiChunker", "GeminiStreamParser", "JsonArrayStreamParser"]


class GeminiChunker:
    """Whole `GenerateContentResponse` objects in, unified chunks out (providers.md 3.3, section 6).

    Text parts are deltas; a functionCall arrives whole in one part (one ToolCallDelta with id, name,
    full arguments and its thoughtSignature); `usageMetadata` is cumulative (the last one wins, sent
    once at the end); a candidate with `finishReason` is the completion marker (no sentinel: EOF).
    """

    def __init__(self, model: str) -> None:
        self._id: str | None = None
        self._model = model
        self._started: set[int] = set()
        self._signed: set[int] = set()
        self._calls: dict[int, int] = {}
        self._finished = False
        self._usage: Usage | None = None

    def on_response(self, response: Any) -> list[ChatChunk]:
        if not isinstance(response, Mapping):
            raise bad_stream_error(f"Gemini stream chunk is not a JSON object: {str(response)[:200]!r}")
        if response.get("error") is not None:
            # A mid-stream `{"error": {...}}` chunk (providers.md 3.3), classified like an HTTP error.
            raise in_stream_error(response["error"])
        if self._id is None:
            self._id = as_text(response.get("responseId")) or ""
            self._model = as_text(response.get("modelVersion")) or self._model
        meta = response.get("usageMetadata")
        if isinstance(meta, Mapping):
            self._usage = parse_usage(meta)
        deltas: list[ChunkChoice] = []
        finishes: list[ChunkChoice] = []
        candidates = response.get("candidates")
        if isinstance(candidates, list) and candidates:
            for position, candidate in enumerate(candidates):
                if isinstance(candidate, Mapping):
                    self._candidate(candidate_index(candidate, position), candidate, deltas, finishes)
        elif blocked_reason(response) is not None:
            # Prompt blocked: no candidate will come; the content is "" (never an empty delta).
            self._finished = True
            deltas.append(ChunkChoice(index=0, delta=self._role(0)))
            finishes.append(ChunkChoice(index=0, delta=Delta(), finish_reason="content_filter"))
        return [self._chunk(choices=tuple(c)) for c in (deltas, finishes) if c]

    def on_end(self) -> list[ChatChunk]:
        if not self._finished:
            raise cut_stream_error()
        return [self._chunk(usage=self._usage)] if self._usage is not None else []

    def _role(self, index: int) -> Delta:
        self._started.add(index)
        return Delta(role="assistant")

    def _candidate(
        self, index: int, candidate: Mapping[str, Any], deltas: list[ChunkChoice], finishes: list[ChunkChoice]
    ) -> None:
        read = read_candidate(candidate)
        first = self._calls.get(index, 0)
        self._calls[index] = first + len(read.calls)
        calls = tuple(
            ToolCallDelta(
                index=first + k,
                id=call.id,
                name=call.name,
                arguments=call.arguments,
                thought_signature=call.thought_signature,
            )
            for k, call in enumerate(read.calls)
        )
        # Like the JSON reply, the answer keeps its first non-call signature only.
        signature = read.signature if index not in self._signed else None
        if signature is not None:
            self._signed.add(index)
        # Empty text parts ({"text": ""}, often beside a lone thoughtSignature) make no content delta.
        delta = Delta(
            role="assistant" if index not in self._started else None,
            content="".join(read.text) or None,
            tool_calls=calls,
            reasoning="".join(read.thoughts) or None,
            reasoning_signature=signature,
        )
        if delta != Delta():
            self._started.add(index)
            deltas.append(ChunkChoice(index=index, delta=delta))
        finish = map_finish_reason(candidate.get("finishReason"), has_calls=self._calls[index] > 0)
        if finish is not None:
            self._finished = True
            finishes.append(ChunkChoice(index=index, delta=Delta(), finish_reason=finish))

    def _chunk(self, *, choices: tuple[ChunkChoice, ...] = (), usage: Usage | None = None) -> ChatChunk:
        return ChatChunk(id=self._id or "", model=self._model, created=0, choices=choices, usage=usage)


class GeminiStreamParser(SSEStreamParser):
    """`:streamGenerateContent?alt=sse`: `data: {GenerateContentResponse}` events, CRLF CRLF separated."""

    def __init__(self, model: str = "") -> None:
        super().__init__()
        self._chunker = GeminiChunker(model)
        self._closing = False

    def close(self) -> list[ChatChunk]:
        self._closing = True
        return super().close()

    def on_event(self, event: SSEEvent) -> list[ChatChunk]:
        try:
            response = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            if self._closing:
                # The last event had no closing blank line and is not whole JSON: the connection was cut.
                raise cut_stream_error() from None
            raise bad_stream_error(f"Gemini stream event is not JSON: {event.data[:200]!r}") from None
        return self._chunker.on_response(response)

    def on_end(self) -> list[ChatChunk]:
        return self._chunker.on_end()


# Inside an object: the characters that change the scanner's state, outside and inside strings.
_STRUCTURE = re.compile(r'["{}]')
_STRING_END = re.compile(r'["\\]')
_SEPARATORS = frozenset(" \t\r\n,")


class JsonArrayStreamParser:
    """`:streamGenerateContent` without `alt=sse`: one JSON array of responses, streamed as it grows.

    Each top-level object is cut out by brace balancing that skips braces inside strings (and escaped
    quotes inside strings), so input may be split anywhere, including inside a UTF-8 character. A
    bare error object (`{"error": ...}`, not wrapped in an array) is read the same way.
    """

    def __init__(self, model: str = "") -> None:
        self._chunker = GeminiChunker(model)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._opened = False
        self._error: ProviderError | None = None

    def feed(self, data: bytes) -> list[ChatChunk]:
        if self._error is not None:
            raise self._error
        return self._scan(self._utf8.decode(data))

    def close(self) -> list[ChatChunk]:
        if self._error is not None:
            raise self._error
        out = self._scan(self._utf8.decode(b"", final=True))
        # An object cut off mid-way is dropped; whether the answer is whole is on_end's question.
        out.extend(self._chunker.on_end())
        return out

    def _scan(self, text: str) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        start = 0 if self._depth else -1
        i, length = 0, len(text)
        while i < length:
            if self._depth == 0:
                char = text[i]
                if char == "{":
                    self._depth, start = 1, i
                elif char == "[" and not self._opened:
                    self._opened = True
                elif char not in _SEPARATORS and char != "]":
                    self._error = bad_stream_error(f"Gemini JSON stream has unexpected input: {text[i : i + 200]!r}")
                    if not out:
                        raise self._error
                    return out
                i += 1
                continue
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                    i += 1
                    continue
                found = _STRING_END.search(text, i)
                if found is None:
                    i = length
                    continue
                i = found.end()
                if found.group() == "\\":
                    self._escaped = True
                else:
                    self._in_string = False
                continue
            found = _STRUCTURE.search(text, i)
            if found is None:
                i = length
                continue
            i = found.end()
            char = found.group()
            if char == '"':
                self._in_string = True
            elif char == "{":
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    self._pending.append(text[start:i])
                    document, self._pending = "".join(self._pending), []
                    if not self._emit(document, out):
                        return out
        if self._depth:
            self._pending.append(text[max(start, 0) :])
        return out

    def _emit(self, document: str, out: list[ChatChunk]) -> bool:
        """Decode one object; an error after earlier chunks is kept for the next call (as SSE does)."""
        try:
            try:
                response = orjson.loads(document)
            except orjson.JSONDecodeError:
                raise bad_stream_error(f"Gemini JSON stream element is not JSON: {document[:200]!r}") from None
            out.extend(self._chunker.on_response(response))
        except ProviderError as error:
            # Nothing after an error is trusted: every later call raises it again.
            self._error = error
            if not out:
                raise
            return False
        return True
