"""Anthropic Messages, JSON replies: the `stop_reason` table, usage conversion and `parse_response`.

Anthropic's `input_tokens` excludes cache tokens; ours counts every prompt token (providers.md 2.2
and section 6). `finish_reason` and `usage_from_wire` are shared with the stream parser
(`anthropic_stream`); `shared.providers.anthropic` re-exports `parse_response`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shared.errors import ProviderError
from shared.providers.anthropic_errors import PROVIDER, classify_error
from shared.unified import (
    ChatResponse,
    Choice,
    FinishReason,
    ReasoningBlock,
    ResponseMessage,
    ToolCall,
    Usage,
)

__all__ = ["STOP_REASONS", "finish_reason", "parse_response", "usage_from_wire"]

# providers.md section 6. An unknown future value maps to "stop" (the turn did end).
STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # pause_turn: a server tool paused a long turn; the client may continue it. Nothing was cut.
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: object) -> FinishReason | None:
    return STOP_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else None


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_wire(usage: Mapping[str, Any]) -> Usage:
    """Anthropic `usage` -> unified `Usage` (providers.md 2.2 and section 6)."""
    cache_write = _count(usage, "cache_creation_input_tokens")
    cache_read = _count(usage, "cache_read_input_tokens")
    split = usage.get("cache_creation")
    if isinstance(split, Mapping) and ("ephemeral_5m_input_tokens" in split or "ephemeral_1h_input_tokens" in split):
        write_5m = _count(split, "ephemeral_5m_input_tokens")
        write_1h = _count(split, "ephemeral_1h_input_tokens")
    else:
        # Older replies have no TTL breakdown: the default cache TTL is 5 minutes.
        write_5m, write_1h = cache_write, 0
    details = usage.get("output_tokens_details")
    reasoning = _count(details, "thinking_tokens") if isinstance(details, Mapping) else 0
    return Usage(
        input_tokens=_count(usage, "input_tokens") + cache_write + cache_read,
        output_tokens=_count(usage, "output_tokens"),
        cached_input_tokens=cache_read,
        cache_write_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=reasoning,
    )


def parse_response(body: bytes) -> ChatResponse:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ProviderError("Anthropic reply is not JSON", kind="api_error", provider=PROVIDER, retryable=True) from exc
    if not isinstance(data, dict):
        raise ProviderError("Anthropic reply is not a message", kind="api_error", provider=PROVIDER, retryable=True)
    if data.get("type") == "error":
        raise classify_error(200, body, {})
    texts: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[ReasoningBlock] = []
    for block in data.get("content") or []:
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()  # compact, like OpenAI's
            calls.append(ToolCall(id=str(block.get("id", "")), name=str(block.get("name", "")), arguments=arguments))
        elif kind == "thinking":
            reasoning.append(ReasoningBlock(text=str(block.get("thinking", "")), signature=block.get("signature")))
        elif kind == "redacted_thinking":
            reasoning.append(ReasoningBlock(redacted=True, data=block.get("data")))
    stop_reason = data.get("stop_reason")
    details = data.get("stop_details")
    explanation = details.get("explanation") if isinstance(details, Mapping) else None
    refusal = explanation if stop_reason == "refusal" and isinstance(explanation, str) else None
    message = ResponseMessage(
        content="".join(texts) if texts else None, tool_calls=tuple(calls), refusal=refusal, reasoning=tuple(reasoning)
    )
    usage = data.get("usage")
    return ChatResponse(
        id=str(data.get("id", "")),
        model=str(data.get("model", "")),
        created=0,
        choices=(Choice(index=0, message=message, finish_reason=finish_reason(stop_reason)),),
        usage=usage_from_wire(usage) if isinstance(usage, Mapping) else None,
        provider_finish_reason=stop_reason if isinstance(stop_reason, str) else None,
    )
