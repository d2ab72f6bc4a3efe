"""The seed's wire (POST /api/ai/chat, seed.md): camelCase in and out.

Owns: the request model (OpenAI message shapes; `toolCalls`/`toolCallId` and `tool_calls`/`tool_call_id`
both accepted so a reply's assistant turn can be sent back as is; `preferredProvider` in the seed's
spelling or ours; `costOptimization`/`fallback` switches that win over the `x-gateway-*` headers), the
JSON reply with `provider` in the seed's spelling and `usage.cost`, and the SSE stream, which always
ends with a usage chunk and `[DONE]`. Errors name fields in camelCase (`messages[0].toolCalls[0].function.name`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from pydantic import AliasChoices, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic.alias_generators import to_camel

from shared.api.body import (
    COST_OPTIMIZATION_HEADER,
    ECHO,
    FALLBACK_HEADER,
    NonEmptyStr,
    Stop,
    StrictModel,
    decode_json,
    header_switch,
    request_error,
    sse_event,
    tool_call_delta,
    usd_json,
)
from shared.api.envelopes import seed_error_event
from shared.api.messages import (
    MessageIn,
    ToolCallIn,
    ToolChoiceIn,
    ToolIn,
    to_messages,
    to_tool_choice,
    to_tools,
)
from shared.chat_types import ChatOptions, ChatResult
from shared.cost import Cost
from shared.errors import GatewayError, RequestError
from shared.providers import SEED_NAMES
from shared.unified import ChatChunk, ChatRequest, Delta, ResponseMessage, Usage

__all__ = [
    "PREFERRED_PROVIDERS",
    "SEED_FIELDS",
    "SeedRequestIn",
    "SeedStreamRenderer",
    "parse_seed_request",
    "render_seed_response",
    "seed_usage",
]

DONE = b"data: [DONE]\n\n"
# How field names read in this wire's errors (the models' snake_case -> the seed's camelCase).
SEED_FIELDS: Mapping[str, str] = {"tool_calls": "toolCalls", "tool_call_id": "toolCallId", "tool_choice": "toolChoice"}
# preferredProvider, lower-cased -> internal provider name. The seed spells Gemini "GOOGLE".
PREFERRED_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "gemini",
    "gemini": "gemini",
}


class SeedMessageIn(MessageIn):
    # camelCase first (the seed's spelling, what its replies carry), then OpenAI's.
    tool_calls: list[ToolCallIn] | None = Field(default=None, validation_alias=AliasChoices("toolCalls", "tool_calls"))
    tool_call_id: NonEmptyStr | None = Field(default=None, validation_alias=AliasChoices("toolCallId", "tool_call_id"))


class SeedRequestIn(StrictModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, alias_generator=to_camel)

    model: NonEmptyStr
    messages: Annotated[list[SeedMessageIn], Field(min_length=1)]
    max_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    stop: Stop | None = None
    stream: StrictBool | None = None
    preferred_provider: StrictStr | None = None
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None
    cost_optimization: StrictBool | None = None
    fallback: StrictBool | None = None


def _preferred(value: str | None) -> str | None:
    if value is None:
        return None
    name = PREFERRED_PROVIDERS.get(value.strip().lower())
    if name is None:
        raise RequestError(
            f"preferredProvider must be OPENAI, ANTHROPIC or GOOGLE, not {value[:ECHO]!r}", field="preferredProvider"
        )
    return name


def parse_seed_request(body: bytes, headers: Mapping[str, str]) -> tuple[ChatRequest, ChatOptions]:
    """A seed chat body and the gateway's switch headers -> the unified request and options (body wins)."""
    try:
        req = SeedRequestIn.model_validate(decode_json(body))
    except ValidationError as exc:
        raise request_error(exc, SEED_FIELDS) from None
    preferred = _preferred(req.preferred_provider)
    tools = to_tools(req.tools)
    stream = bool(req.stream)
    request = ChatRequest(
        model=req.model,
        messages=to_messages(req.messages, SEED_FIELDS),
        tools=tools,
        tool_choice=to_tool_choice(req.tool_choice, tools, SEED_FIELDS),
        max_tokens=req.max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        stop=(req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ()),
        stream=stream,
        include_usage=stream,  # the seed stream always ends with a usage chunk
    )
    cost_header = header_switch(headers, COST_OPTIMIZATION_HEADER)
    fallback_header = header_switch(headers, FALLBACK_HEADER)
    options = ChatOptions(
        preferred_provider=preferred,
        cost_optimization=req.cost_optimization if req.cost_optimization is not None else cost_header,
        fallback=req.fallback if req.fallback is not None else fallback_header,
    )
    return request, options


# --- JSON reply ----------------------------------------------------------------------------------


def seed_usage(usage: Usage | None, cost: Cost) -> dict[str, Any]:
    """The seed's usage object: token counts, `cost` (USD, 6 decimals, or null), `unpriced` only when true.

    `cost` is an `orjson.Fragment` (see `usd_json`): serialize the object with orjson.
    """
    u = usage or Usage()
    out: dict[str, Any] = {
        "promptTokens": u.input_tokens,
        "completionTokens": u.output_tokens,
        "totalTokens": u.total_tokens,
        "cost": usd_json(cost.micros),
    }
    if cost.unpriced:
        out["unpriced"] = True
    if u.cached_input_tokens:
        out["cachedTokens"] = u.cached_input_tokens
    if u.reasoning_tokens:
        out["reasoningTokens"] = u.reasoning_tokens
    return out


def _message(m: ResponseMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": m.content}
    if m.tool_calls:
        out["toolCalls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
            for c in m.tool_calls
        ]
    if m.refusal is not None:
        out["refusal"] = m.refusal
    return out


def _seed_provider(provider: str) -> str:
    return SEED_NAMES.get(provider, provider.upper())


def render_seed_response(result: ChatResult, created: int) -> bytes:
    r = result.response
    return orjson.dumps(
        {
            "id": r.id or f"chatcmpl-{result.request_id}",
            "object": "chat.completion",
            "created": r.created or created,
            "model": result.model,
            "provider": _seed_provider(result.provider),
            "choices": [
                {"index": c.index, "message": _message(c.message), "finishReason": c.finish_reason} for c in r.choices
            ],
            "usage": seed_usage(r.usage, result.cost),
        }
    )


# --- stream --------------------------------------------------------------------------------------


def _delta(d: Delta) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.role is not None:
        out["role"] = d.role
    if d.content is not None:
        out["content"] = d.content
    if d.tool_calls:
        out["toolCalls"] = [tool_call_delta(t) for t in d.tool_calls]
    if d.refusal is not None:
        out["refusal"] = d.refusal
    return out


class SeedStreamRenderer:
    """Unified chunks -> the seed's SSE events.

    Use: `chunk(c)` for each chunk (b"" when there is nothing to send: reasoning-only deltas, the
    provider's usage-only chunk), then `usage_chunk(stream.usage, stream.cost)` (always sent on this
    wire), then `done()`; or `error(exc)` instead of both.

    `attempts` is how many attempts the stream took to open (the live stream's count): the seed envelope
    reports it for an error that carries no count of its own, such as a failure after the first chunk.
    """

    __slots__ = ("attempts", "created", "model", "provider", "response_id")

    def __init__(
        self, model: str, created: int, provider: str, *, response_id: str | None = None, attempts: int = 1
    ) -> None:
        self.model = model
        self.created = created
        self.provider = _seed_provider(provider)
        self.response_id = response_id  # one id for the whole stream: the caller's, else the first chunk's
        self.attempts = attempts

    def _event(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": self._id(None),
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "provider": self.provider,
            "choices": choices,
        }
        if usage is not None:
            event["usage"] = usage
        return event

    def _id(self, c: ChatChunk | None) -> str:
        # Pinned by the first event, so every event of the stream carries the same id.
        if self.response_id is None:
            self.response_id = (c.id if c is not None else "") or f"chatcmpl-{self.created}"
        return self.response_id

    def chunk_event(self, c: ChatChunk) -> dict[str, Any] | None:
        """The event object of chunk `c`, or None when it has nothing to send (also the facade's chunks)."""
        self._id(c)
        choices = []
        for choice in c.choices:
            delta = _delta(choice.delta)
            if delta or choice.finish_reason is not None:
                choices.append({"index": choice.index, "delta": delta, "finishReason": choice.finish_reason})
        return self._event(choices) if choices else None

    def usage_event(self, usage: Usage | None, cost: Cost) -> dict[str, Any]:
        return self._event([], seed_usage(usage, cost))

    def chunk(self, c: ChatChunk) -> bytes:
        event = self.chunk_event(c)
        return sse_event(event) if event is not None else b""

    def usage_chunk(self, usage: Usage | None, cost: Cost) -> bytes:
        return sse_event(self.usage_event(usage, cost))

    def done(self) -> bytes:
        return DONE

    def error(self, exc: GatewayError) -> bytes:
        return sse_event(seed_error_event(exc, attempts=self.attempts))
