"""The reply side of the OpenAI Chat Completions wire: streams, JSON replies and errors.

Owns: reading a ``data:``-only SSE stream into unified chunks (providers.md section 1.3), reading a
JSON reply (section 1.2) with its ``usage`` and finish reasons (section 6), and classifying an error
status and body, or an ``{"error": {...}}`` object inside a 200 stream, into a typed `ProviderError`
(sections 1.4 and 4). `shared.providers.openai` (the request side and the `SPEC`) re-exports the
public functions; this module imports nothing from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import orjson

from shared.errors import ErrorKind, ProviderError
from shared.providers.headers import retry_after_seconds, should_retry_header
from shared.providers.sse import SSEEvent
from shared.providers.stream_base import SSEStreamParser
from shared.unified import (
    ChatChunk,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    FinishReason,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = [
    "DONE",
    "ERROR_CODE_KINDS",
    "ERROR_TYPE_KINDS",
    "FINISH_REASONS",
    "NOT_RETRYABLE_CODES",
    "PROVIDER",
    "RETRYABLE_KINDS",
    "STATUS_KINDS",
    "OpenAIStreamParser",
    "classify_error",
    "error_from_object",
    "error_kind",
    "map_finish_reason",
    "parse_response",
    "parse_usage",
]

PROVIDER = "openai"
# The completion marker: a stream that ends without it was cut (section 1.3).
DONE = "[DONE]"

FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    # Deprecated `functions` API; it is a tool call in all but name.
    "function_call": "tool_calls",
}
# Any value OpenAI may add later: the answer still ended normally as far as we can tell.
UNKNOWN_FINISH_REASON: FinishReason = "stop"

RETRYABLE_KINDS: dict[ErrorKind, bool] = {
    "authentication": False,
    "permission": False,
    "rate_limit": True,
    "invalid_request": False,
    "not_found": False,
    "context_length": False,
    "content_filter": False,
    "overloaded": True,
    "timeout": True,
    "api_error": True,
    "network_error": True,
}

# `error.code` (or a `type` spelled the same) decides first: it is finer than the status.
ERROR_CODE_KINDS: dict[str, ErrorKind] = {
    "context_length_exceeded": "context_length",
    "content_policy_violation": "content_filter",  # ⚠ providers.md section 4
    "invalid_prompt": "content_filter",  # ⚠ providers.md section 4
    "insufficient_quota": "rate_limit",
    "rate_limit_exceeded": "rate_limit",
    "invalid_api_key": "authentication",
    "model_not_found": "not_found",
    "unsupported_country_region_territory": "permission",
}
# `error.type` for an error that has no status of its own (inside a 200 stream or body).
ERROR_TYPE_KINDS: dict[str, ErrorKind] = {
    "server_error": "api_error",
    "invalid_request_error": "invalid_request",
    # 429 rate limits name the exhausted resource as the type (section 1.4, ⚠).
    "tokens": "rate_limit",
    "requests": "rate_limit",
    "insufficient_quota": "rate_limit",
}
# Status -> kind (section 4). Other 4xx: invalid_request; other 5xx: api_error.
STATUS_KINDS: dict[int, ErrorKind] = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    # By status, not code: a real 404 for a completions-only model has `code: null` (section 1.4).
    404: "not_found",
    408: "timeout",
    409: "api_error",  # lock timeout: retryable
    413: "invalid_request",
    422: "invalid_request",
    429: "rate_limit",
    500: "api_error",
    502: "api_error",
    503: "overloaded",
}
# Request-error statuses whose code can name a finer kind (checked before invalid_request).
REFINED_STATUSES = frozenset({400, 413, 422})
REFINED_KINDS = frozenset({"context_length", "content_filter"})
# Quota exhaustion is a 429 that waiting does not fix (section 1.4): fail over, do not retry.
NOT_RETRYABLE_CODES = frozenset({"insufficient_quota"})


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_usage(usage: Mapping[str, Any]) -> Usage:
    """OpenAI usage already has the unified meaning: prompt_tokens includes cache reads (and
    writes), completion_tokens includes reasoning; the details are breakdowns inside them."""
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    prompt = prompt if isinstance(prompt, Mapping) else {}
    completion = completion if isinstance(completion, Mapping) else {}
    return Usage(
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
        cached_input_tokens=_count(prompt.get("cached_tokens")),
        # Newer SDKs list `prompt_tokens_details.cache_write_tokens`; OpenAI has no cache TTL choice.
        cache_write_tokens=_count(prompt.get("cache_write_tokens")),
        reasoning_tokens=_count(completion.get("reasoning_tokens")),
    )


def map_finish_reason(value: Any) -> FinishReason | None:
    if value is None:
        return None
    return FINISH_REASONS.get(str(value), UNKNOWN_FINISH_REASON)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def error_kind(code: str | None, type_: str | None) -> ErrorKind | None:
    """The kind an error's code or type names, or None when neither is one we know."""
    for key in (code, type_):
        if key is not None and key in ERROR_CODE_KINDS:
            return ERROR_CODE_KINDS[key]
    if type_ is not None and type_ in ERROR_TYPE_KINDS:
        return ERROR_TYPE_KINDS[type_]
    return None


def error_from_object(error: Any, *, in_stream: bool) -> ProviderError:
    """An ``{"error": {...}}`` object that came without an error status (a 200 stream or body)."""
    fields = error if isinstance(error, Mapping) else {}
    message = _text(fields.get("message")) or (error if isinstance(error, str) else None)
    code = _text(fields.get("code"))
    type_ = _text(fields.get("type"))
    kind = error_kind(code, type_) or "api_error"
    retryable = RETRYABLE_KINDS[kind] and code not in NOT_RETRYABLE_CODES and type_ not in NOT_RETRYABLE_CODES
    return ProviderError(
        message or "OpenAI reported an error",
        kind=kind,
        provider=PROVIDER,
        retryable=retryable,
        code=code or (type_ if type_ in NOT_RETRYABLE_CODES else None),
        param=_text(fields.get("param")),
        in_stream=in_stream,
    )


def _error_fields(body: bytes) -> tuple[Mapping[str, Any], str | None]:
    """The error object of an error body (may be empty, not JSON, or not OpenAI's envelope), and
    the body text for a message when there is no object."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}, body.decode("utf-8", errors="replace").strip()[:500] or None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, Mapping):
        return error, None
    return {}, error if isinstance(error, str) else None


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> ProviderError:
    """An error status from OpenAI as a typed error: kind by status, refined by code (section 4)."""
    fields, text = _error_fields(body)
    code = _text(fields.get("code"))
    type_ = _text(fields.get("type"))
    kind = STATUS_KINDS.get(status) or ("api_error" if status >= 500 else "invalid_request")
    if status in REFINED_STATUSES:
        refined = error_kind(code, type_)
        if refined in REFINED_KINDS:
            kind = refined
    quota = code in NOT_RETRYABLE_CODES or type_ in NOT_RETRYABLE_CODES
    retryable = RETRYABLE_KINDS[kind] and not quota
    verdict = should_retry_header(headers)
    return ProviderError(
        _text(fields.get("message")) or text or f"OpenAI returned HTTP {status}",
        kind=kind,
        provider=PROVIDER,
        status=status,
        retryable=retryable if verdict is None else verdict,
        retry_after=retry_after_seconds(headers),
        code=code or (type_ if quota else None),
        param=_text(fields.get("param")),
    )


def parse_response(body: bytes) -> ChatResponse:
    """A 200 JSON reply in the unified form."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError("OpenAI reply is not a JSON object", kind="api_error", provider=PROVIDER, retryable=True)
    if data.get("error") is not None:
        raise error_from_object(data["error"], in_stream=False)
    choices: list[Choice] = []
    provider_finish: str | None = None
    for raw in data.get("choices") or ():
        if not isinstance(raw, Mapping):
            continue
        finish = map_finish_reason(raw.get("finish_reason"))
        if finish is not None and raw.get("finish_reason") != finish and provider_finish is None:
            provider_finish = str(raw.get("finish_reason"))
        message = raw.get("message")
        message = message if isinstance(message, Mapping) else {}
        calls = message.get("tool_calls")
        choices.append(
            Choice(
                index=_count(raw.get("index")),
                message=ResponseMessage(
                    content=_text(message.get("content")),
                    tool_calls=tuple(_tool_call(c) for c in calls if isinstance(c, Mapping))
                    if isinstance(calls, list)
                    else (),
                    refusal=_text(message.get("refusal")),
                ),
                finish_reason=finish,
            )
        )
    usage = data.get("usage")
    return ChatResponse(
        id=_text(data.get("id")) or "",
        model=_text(data.get("model")) or "",
        created=_count(data.get("created")),
        choices=tuple(choices),
        usage=parse_usage(usage) if isinstance(usage, Mapping) else None,
        provider_finish_reason=provider_finish,
    )


def _tool_call(raw: Mapping[str, Any]) -> ToolCall:
    function = raw.get("function")
    function = function if isinstance(function, Mapping) else {}
    return ToolCall(
        id=_text(raw.get("id")) or "",
        name=_text(function.get("name")) or "",
        arguments=_text(function.get("arguments")) or "",
    )


def _bad_event(reason: str) -> ProviderError:
    return ProviderError(reason, kind="api_error", provider=PROVIDER, retryable=True, in_stream=True)


def _cut_stream(reason: str) -> ProviderError:
    return ProviderError(reason, kind="network_error", provider=PROVIDER, retryable=True, in_stream=True)


class OpenAIStreamParser(SSEStreamParser):
    """``data: {chunk}`` events until ``data: [DONE]``; the usage chunk has ``choices: []``."""

    def __init__(self) -> None:
        super().__init__()
        self._id: str | None = None
        self._model = ""
        self._created = 0
        self._done = False
        self._closing = False
        self._role_sent: set[int] = set()
        # Per choice: tool-call indexes seen, for deltas that lack `index` (compatible servers).
        self._calls: dict[int, list[int]] = {}

    def on_event(self, event: SSEEvent) -> list[ChatChunk]:
        if self._done:
            return []
        data = event.data.strip()
        if data == DONE:
            self._done = True
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            if self._closing:
                # The last event was never terminated: the connection was cut inside it.
                raise _cut_stream("OpenAI stream ended inside an event") from None
            raise _bad_event(f"OpenAI stream event is not JSON: {data[:200]!r}") from None
        if not isinstance(obj, dict):
            raise _bad_event(f"OpenAI stream event is not a JSON object: {data[:200]!r}")
        if obj.get("error") is not None:
            # A bare error object, then EOF without [DONE] (section 1.3; coder/aibridge error.txtar).
            raise error_from_object(obj["error"], in_stream=True)
        if self._id is None:
            # Every chunk repeats these; the first one's values are the stream's.
            self._id = _text(obj.get("id")) or ""
            self._model = _text(obj.get("model")) or ""
            self._created = _count(obj.get("created"))
        out: list[ChatChunk] = []
        raw_choices = obj.get("choices")
        choices = [self._choice(c) for c in raw_choices if isinstance(c, dict)] if isinstance(raw_choices, list) else []
        kept = tuple(c for c in choices if c is not None)
        if kept:
            out.append(self._chunk(choices=kept))
        usage = obj.get("usage")
        if isinstance(usage, dict):
            out.append(self._chunk(usage=parse_usage(usage)))
        return out

    def close(self) -> list[ChatChunk]:
        self._closing = True
        return super().close()

    def on_end(self) -> list[ChatChunk]:
        if not self._done:
            raise _cut_stream("OpenAI stream ended before [DONE]")
        return []

    def _chunk(self, *, choices: tuple[ChunkChoice, ...] = (), usage: Usage | None = None) -> ChatChunk:
        return ChatChunk(id=self._id or "", model=self._model, created=self._created, choices=choices, usage=usage)

    def _choice(self, raw: Mapping[str, Any]) -> ChunkChoice | None:
        index = _count(raw.get("index"))
        delta = raw.get("delta")
        delta = delta if isinstance(delta, Mapping) else {}
        role: Literal["assistant"] | None = None
        if index not in self._role_sent:
            self._role_sent.add(index)
            role = "assistant"
        # The role chunk carries `content: ""`: not a content delta.
        content = _text(delta.get("content")) or None
        refusal = _text(delta.get("refusal")) or None
        raw_calls = delta.get("tool_calls")
        calls = (
            tuple(
                call
                for call in (self._tool_call_delta(index, c) for c in raw_calls if isinstance(c, Mapping))
                if call is not None
            )
            if isinstance(raw_calls, list)
            else ()
        )
        finish = map_finish_reason(raw.get("finish_reason"))
        if role is None and content is None and refusal is None and not calls and finish is None:
            return None
        return ChunkChoice(
            index=index,
            delta=Delta(role=role, content=content, tool_calls=calls, refusal=refusal),
            finish_reason=finish,
        )

    def _tool_call_delta(self, choice: int, raw: Mapping[str, Any]) -> ToolCallDelta | None:
        seen = self._calls.setdefault(choice, [])
        call_id = _text(raw.get("id")) or None
        index = raw.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            # OpenAI always sends `index` (the ordinal among calls); without it, a new id starts a call.
            index = len(seen) if call_id is not None or not seen else seen[-1]
        if index not in seen:
            seen.append(index)
        function = raw.get("function")
        function = function if isinstance(function, Mapping) else {}
        name = _text(function.get("name")) or None
        arguments = _text(function.get("arguments")) or ""
        if call_id is None and name is None and not arguments:
            return None
        return ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments)
