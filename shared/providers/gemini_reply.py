"""Gemini replies: a `GenerateContentResponse` read into the unified form.

Owns the finish-reason table, usage conversion, the reading of a candidate's parts (text, thought
summaries, `functionCall`, `thoughtSignature`), tool-call id minting, and `parse_response` for a
200 JSON body (providers.md 3.2 and section 6). The stream parsers (`shared.providers.gemini_stream`)
read each streamed chunk with the same pieces.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.errors import ProviderError
from shared.providers.gemini_errors import PROVIDER, error_from_object, json_body
from shared.unified import (
    ChatResponse,
    Choice,
    FinishReason,
    ReasoningBlock,
    ResponseMessage,
    ToolCall,
    Usage,
)

__all__ = [
    "FINISH_REASONS",
    "PartsRead",
    "as_text",
    "blocked_reason",
    "candidate_index",
    "map_finish_reason",
    "mint_call_id",
    "parse_response",
    "parse_usage",
    "read_candidate",
]

# providers.md section 6, completed from google-genai 3.3's FinishReason enum. `finishReason` is
# STOP even when the model called functions, so a candidate with any functionCall part finishes
# with `tool_calls` whatever this table says. The raw value is kept in provider_finish_reason.
CONTENT_FILTER_REASONS = (
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    # Newer than providers.md (google-genai 3.3): blocked by Model Armor (Vertex), filtered by an
    # escalation rule, and generation stopped for Prohibited Use Policy violations of the account.
    "MODEL_ARMOR",
    "ESCALATION",
    "PUP_LIMITED_DISABLED",
)
# Truncated answers. CONTINUATION (google-genai 3.3) is a per-request token limit hit before the
# answer was complete; the gateway cannot continue it (no continuation_token in the unified form).
LENGTH_REASONS = ("MAX_TOKENS", "CONTINUATION")
# Everything else ends the answer too: a plain `stop`.
STOP_REASONS = (
    "STOP",
    "LANGUAGE",
    "OTHER",
    "MALFORMED_FUNCTION_CALL",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
    "NO_IMAGE",
    "IMAGE_OTHER",
    "FINISH_REASON_UNSPECIFIED",
    # Newer than providers.md (google-genai 3.3).
    "MISSING_THOUGHT_SIGNATURE",
    "MALFORMED_RESPONSE",
)
FINISH_REASONS: dict[str, FinishReason] = {
    **dict.fromkeys(STOP_REASONS, "stop"),
    **dict.fromkeys(LENGTH_REASONS, "length"),
    **dict.fromkeys(CONTENT_FILTER_REASONS, "content_filter"),
}
# A value newer than this table still ends the answer.
UNKNOWN_FINISH_REASON: FinishReason = "stop"

# Minted ids look like OpenAI's (`call_` + 24 hex digits); the Developer API sends none (3.2).
CALL_ID_PREFIX = "call_"
CALL_ID_BYTES = 12


def mint_call_id() -> str:
    return CALL_ID_PREFIX + secrets.token_hex(CALL_ID_BYTES)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def as_text(value: Any) -> str | None:
    """A wire value that must be a string, or None."""
    return value if isinstance(value, str) else None


def parse_usage(meta: Mapping[str, Any]) -> Usage:
    """`usageMetadata` in the unified meaning (providers.md 3.2, section 6).

    `promptTokenCount` already includes `cachedContentTokenCount`; tool-use prompt tokens are prompt
    tokens too. `candidatesTokenCount` excludes thoughts, which are billed as output.
    """
    thoughts = _count(meta.get("thoughtsTokenCount"))
    return Usage(
        input_tokens=_count(meta.get("promptTokenCount")) + _count(meta.get("toolUsePromptTokenCount")),
        output_tokens=_count(meta.get("candidatesTokenCount")) + thoughts,
        cached_input_tokens=_count(meta.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def map_finish_reason(value: Any, *, has_calls: bool) -> FinishReason | None:
    """None while the candidate is unfinished (no `finishReason`)."""
    if value is None:
        return None
    if has_calls:
        return "tool_calls"
    return FINISH_REASONS.get(str(value), UNKNOWN_FINISH_REASON)


@dataclass(slots=True)
class PartsRead:
    """What one candidate's parts (or one stream chunk's parts) say, by kind."""

    text: list[str] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)
    # The first `thoughtSignature` outside a functionCall part (Gemini 3 puts one on the answer's
    # first text part, `gemini/text.json`); the unified form keeps it on the reasoning block.
    signature: str | None = None
    calls: list[ToolCall] = field(default_factory=list)

    def message(self) -> ResponseMessage:
        reasoning: tuple[ReasoningBlock, ...] = ()
        if self.thoughts or self.signature:
            reasoning = (ReasoningBlock(text="".join(self.thoughts), signature=self.signature),)
        return ResponseMessage(content="".join(self.text) or None, tool_calls=tuple(self.calls), reasoning=reasoning)


def read_candidate(candidate: Mapping[str, Any]) -> PartsRead:
    """A candidate's parts; `content` may be missing or `{}` without `parts` (gemini/content_filter.json)."""
    read = PartsRead()
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, Mapping) else None
    if not isinstance(parts, list):
        return read
    for part in parts:
        if not isinstance(part, Mapping):
            continue
        signature = as_text(part.get("thoughtSignature")) or None
        call = part.get("functionCall")
        if isinstance(call, Mapping):
            args = call.get("args")
            read.calls.append(
                ToolCall(
                    id=as_text(call.get("id")) or mint_call_id(),
                    name=as_text(call.get("name")) or "",
                    arguments=orjson.dumps(args if isinstance(args, Mapping) else {}).decode(),
                    thought_signature=signature,
                )
            )
            continue
        if signature is not None and read.signature is None:
            read.signature = signature
        text = as_text(part.get("text"))
        if text:
            (read.thoughts if part.get("thought") is True else read.text).append(text)
    return read


def candidate_index(candidate: Mapping[str, Any], position: int) -> int:
    # `index` is absent in gemini-2.0-flash replies (gemini/tool_call_2.json, stream_text.sse).
    index = candidate.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else position


def blocked_reason(response: Mapping[str, Any]) -> str | None:
    """`promptFeedback.blockReason` of a prompt blocked before any candidate (HTTP 200, 3.2)."""
    feedback = response.get("promptFeedback")
    return as_text(feedback.get("blockReason")) if isinstance(feedback, Mapping) else None


def parse_response(body: bytes) -> ChatResponse:
    """A 200 `generateContent` JSON body. `created` is 0: Gemini sends none (the API layer stamps it)."""
    data = json_body(body)
    if isinstance(data, list) and data and isinstance(data[0], Mapping) and "error" in data[0]:
        data = data[0]
    if not isinstance(data, Mapping):
        raise ProviderError(
            f"Gemini reply is not a JSON object: {body[:200]!r}", kind="api_error", provider=PROVIDER, retryable=True
        )
    if data.get("error") is not None:
        raise error_from_object(data["error"], status=None, in_stream=False)
    choices: list[Choice] = []
    provider_reason: str | None = None
    candidates = data.get("candidates")
    for position, candidate in enumerate(candidates if isinstance(candidates, list) else []):
        if not isinstance(candidate, Mapping):
            continue
        read = read_candidate(candidate)
        raw_reason = candidate.get("finishReason")
        if provider_reason is None and isinstance(raw_reason, str):
            provider_reason = raw_reason
        # A whole reply always finishes; a missing finishReason is read as a normal stop.
        finish = map_finish_reason(raw_reason or "STOP", has_calls=bool(read.calls))
        choices.append(Choice(index=candidate_index(candidate, position), message=read.message(), finish_reason=finish))
    if not choices:
        # Prompt blocked (HTTP 200, no candidates, providers.md 3.2): an empty filtered answer.
        block = blocked_reason(data)
        provider_reason = block
        choices.append(
            Choice(
                index=0,
                message=ResponseMessage(content="" if block else None),
                finish_reason="content_filter" if block else "stop",
            )
        )
    meta = data.get("usageMetadata")
    response_id = data.get("responseId")
    model = data.get("modelVersion")
    return ChatResponse(
        id=response_id if isinstance(response_id, str) else "",
        model=model if isinstance(model, str) else "",
        created=0,
        choices=tuple(choices),
        usage=parse_usage(meta) if isinstance(meta, Mapping) else None,
        provider_finish_reason=provider_reason,
    )
