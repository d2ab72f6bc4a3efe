"""The OpenAI Chat Completions wire of the gateway (POST /v1/chat/completions, GET /v1/models).

Owns: the request model (pydantic; wrong types and out-of-range values are 400s naming the field in
OpenAI's `param` style), the `chat.completion` reply, the `chat.completion.chunk` stream with its
optional usage chunk, and the model list. Cost rides in `usage.cost` (USD, 6 decimals; null and
`unpriced: true` for a model without a price); the serving provider travels in a header, not the body.
Thought signatures and reasoning never leave the gateway on this wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import orjson
from pydantic import Discriminator, Field, StrictBool, StrictInt, StrictStr, Tag, ValidationError

from shared.api.body import (
    COST_OPTIMIZATION_HEADER,
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
from shared.api.envelopes import openai_error_event
from shared.api.messages import (
    FunctionName,
    MessageIn,
    ToolChoiceIn,
    ToolIn,
    to_messages,
    to_tool_choice,
    to_tools,
)
from shared.catalog import Catalog, CatalogModel, LongContextPrices, Prices
from shared.chat_types import ChatOptions, ChatResult
from shared.cost import Cost
from shared.errors import GatewayError, RequestError
from shared.unified import ChatChunk, ChatRequest, Delta, ResponseFormat, ResponseMessage, Usage

__all__ = [
    "OpenAIRequestIn",
    "OpenAIStreamRenderer",
    "openai_usage",
    "parse_openai_request",
    "render_models",
    "render_openai_response",
]

DONE = b"data: [DONE]\n\n"


# --- request -------------------------------------------------------------------------------------


class JsonSchemaIn(StrictModel):
    name: FunctionName  # OpenAI's rule for schema names is the function-name rule
    description: StrictStr | None = None
    # `schema` would shadow a BaseModel attribute: the field is spelled differently, the wire is not.
    json_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: StrictBool | None = None


class TextFormatIn(StrictModel):
    type: Literal["text"]


class JsonObjectFormatIn(StrictModel):
    type: Literal["json_object"]


class JsonSchemaFormatIn(StrictModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaIn


def _format_tag(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "~text"  # not an object: the member's own "must be an object" error
    kind = value.get("type")
    return f"~{kind}" if kind in ("text", "json_object", "json_schema") else None


ResponseFormatIn = Annotated[
    Annotated[TextFormatIn, Tag("~text")]
    | Annotated[JsonObjectFormatIn, Tag("~json_object")]
    | Annotated[JsonSchemaFormatIn, Tag("~json_schema")],
    Discriminator(
        _format_tag,
        custom_error_type="format_type",
        custom_error_message="must be 'text', 'json_object' or 'json_schema'",
    ),
]


class StreamOptionsIn(StrictModel):
    include_usage: StrictBool | None = None


Penalty = Annotated[float, Field(ge=-2, le=2)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


class OpenAIRequestIn(StrictModel):
    model: NonEmptyStr
    messages: Annotated[list[MessageIn], Field(min_length=1)]
    tools: list[ToolIn] | None = None
    tool_choice: ToolChoiceIn | None = None
    parallel_tool_calls: StrictBool | None = None
    max_completion_tokens: PositiveInt | None = None
    max_tokens: PositiveInt | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    stop: Stop | None = None
    n: Annotated[StrictInt, Field(ge=1, le=128)] | None = None
    seed: StrictInt | None = None
    presence_penalty: Penalty | None = None
    frequency_penalty: Penalty | None = None
    response_format: ResponseFormatIn | None = None
    stream: StrictBool | None = None
    stream_options: StreamOptionsIn | None = None
    user: StrictStr | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"] | None = None


def _response_format(fmt: TextFormatIn | JsonObjectFormatIn | JsonSchemaFormatIn | None) -> ResponseFormat | None:
    if fmt is None:
        return None
    if isinstance(fmt, JsonSchemaFormatIn):
        spec = fmt.json_schema
        return ResponseFormat(type="json_schema", schema=spec.json_schema, name=spec.name, strict=spec.strict)
    return ResponseFormat(type=fmt.type)


def parse_openai_request(body: bytes, headers: Mapping[str, str]) -> tuple[ChatRequest, ChatOptions]:
    """A Chat Completions body and the gateway's switch headers -> the unified request and options."""
    try:
        req = OpenAIRequestIn.model_validate(decode_json(body))
    except ValidationError as exc:
        raise request_error(exc) from None
    stream = bool(req.stream)
    if stream and req.n is not None and req.n > 1:
        raise RequestError("n must be 1 when streaming: several choices cannot be streamed", field="n")
    tools = to_tools(req.tools)
    request = ChatRequest(
        model=req.model,
        messages=to_messages(req.messages),
        tools=tools,
        tool_choice=to_tool_choice(req.tool_choice, tools),
        parallel_tool_calls=req.parallel_tool_calls,
        # The current name wins over the deprecated one when a caller sends both.
        max_tokens=req.max_completion_tokens if req.max_completion_tokens is not None else req.max_tokens,
        temperature=req.temperature,
        top_p=req.top_p,
        stop=(req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ()),
        n=req.n,
        seed=req.seed,
        presence_penalty=req.presence_penalty,
        frequency_penalty=req.frequency_penalty,
        response_format=_response_format(req.response_format),
        stream=stream,
        include_usage=stream and req.stream_options is not None and bool(req.stream_options.include_usage),
        user=req.user,
        reasoning_effort=req.reasoning_effort,
    )
    options = ChatOptions(
        cost_optimization=header_switch(headers, COST_OPTIMIZATION_HEADER),
        fallback=header_switch(headers, FALLBACK_HEADER),
    )
    return request, options


# --- JSON reply ----------------------------------------------------------------------------------


def openai_usage(usage: Usage | None, cost: Cost) -> dict[str, Any]:
    """OpenAI's usage object plus the gateway's `cost` (and `unpriced` only when there is no price).

    `cost` is an `orjson.Fragment` (see `usd_json`): serialize the object with orjson.
    """
    u = usage or Usage()
    out: dict[str, Any] = {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "cost": usd_json(cost.micros),
    }
    if cost.unpriced:
        out["unpriced"] = True
    return out


def _message(m: ResponseMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": "assistant", "content": m.content, "refusal": m.refusal}
    if m.tool_calls:
        out["tool_calls"] = [
            # An empty arguments string is "no arguments": callers json-decode this field.
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
            for c in m.tool_calls
        ]
    return out


def render_openai_response(result: ChatResult, created: int) -> bytes:
    r = result.response
    return orjson.dumps(
        {
            "id": r.id or f"chatcmpl-{result.request_id}",
            "object": "chat.completion",
            "created": r.created or created,
            "model": result.model,
            "choices": [
                {"index": c.index, "message": _message(c.message), "logprobs": None, "finish_reason": c.finish_reason}
                for c in r.choices
            ],
            "usage": openai_usage(r.usage, result.cost),
            "system_fingerprint": None,
        }
    )


# --- stream --------------------------------------------------------------------------------------


def _delta(d: Delta) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.role is not None:
        out["role"] = d.role
        out["content"] = d.content or ""  # OpenAI's first chunk carries content "" with the role
    elif d.content is not None:
        out["content"] = d.content
    if d.tool_calls:
        out["tool_calls"] = [tool_call_delta(t) for t in d.tool_calls]
    if d.refusal is not None:
        out["refusal"] = d.refusal
    return out


class OpenAIStreamRenderer:
    """Unified chunks -> `chat.completion.chunk` SSE events.

    Use: `chunk(c)` for each chunk (b"" when there is nothing to send: reasoning-only deltas, the
    provider's usage-only chunk), then `usage_chunk(stream.usage, stream.cost)` once the cost is known
    (b"" unless the caller asked for `include_usage`), then `done()`; or `error(exc)` instead of both.
    """

    __slots__ = ("created", "include_usage", "model", "response_id")

    def __init__(self, model: str, created: int, include_usage: bool, *, response_id: str | None = None) -> None:
        self.model = model
        self.created = created
        self.include_usage = include_usage
        # One id for the whole stream: the caller's, else the first chunk's.
        self.response_id = response_id

    def _event(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None) -> bytes:
        event: dict[str, Any] = {
            "id": self._id(None),
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if self.include_usage:
            event["usage"] = usage
        return sse_event(event)

    def _id(self, c: ChatChunk | None) -> str:
        # Pinned by the first event, so every event of the stream carries the same id.
        if self.response_id is None:
            self.response_id = (c.id if c is not None else "") or f"chatcmpl-{self.created}"
        return self.response_id

    def chunk(self, c: ChatChunk) -> bytes:
        self._id(c)
        choices = []
        for choice in c.choices:
            delta = _delta(choice.delta)
            if delta or choice.finish_reason is not None:
                choices.append(
                    {"index": choice.index, "delta": delta, "logprobs": None, "finish_reason": choice.finish_reason}
                )
        return self._event(choices, None) if choices else b""

    def usage_chunk(self, usage: Usage | None, cost: Cost) -> bytes:
        return self._event([], openai_usage(usage, cost)) if self.include_usage else b""

    def done(self) -> bytes:
        return DONE

    def error(self, exc: GatewayError) -> bytes:
        return sse_event(openai_error_event(exc))


# --- GET /v1/models ------------------------------------------------------------------------------


def _prices(p: Prices | LongContextPrices) -> dict[str, Any]:
    # Decimal strings, as in the catalog: no binary float ever touches a price.
    def text(value: object) -> str | None:
        return None if value is None else str(value)

    out: dict[str, Any] = {
        "input": text(p.input),
        "output": text(p.output),
        "cached_input": text(p.cached_input),
        "cache_write_5m": text(p.cache_write_5m),
        "cache_write_1h": text(p.cache_write_1h),
    }
    if isinstance(p, LongContextPrices):
        out = {"threshold_tokens": p.threshold, **out}
    return out


def _model(m: CatalogModel) -> dict[str, Any]:
    f = m.features
    return {
        "id": m.id,
        "object": "model",
        "created": 0,  # the catalog has no creation dates; 0 is stable
        "owned_by": m.provider,
        "provider": m.provider,
        "aliases": list(m.aliases),
        "context_window": m.context_window,
        "max_output": m.max_output,
        "pricing": {"unit": "USD per 1M tokens", **_prices(m.prices)},
        "long_context_pricing": None if m.long_context is None else _prices(m.long_context),
        "price_verified": m.price_verified,
        "features": {"tools": f.tools, "vision": f.vision, "json_mode": f.json_mode, "streaming": f.streaming},
        "retired": m.retired,  # ISO date or null
    }


def render_models(catalog: Catalog) -> bytes:
    """The model list. Aliases are a field of their model; Responses-only models (not servable here) are left out."""
    return orjson.dumps({"object": "list", "data": [_model(m) for m in catalog if m.chat_completions]})
