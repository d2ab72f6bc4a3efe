"""The seed's wire (POST /api/ai/chat): camelCase parsing with the OpenAI route's rules, options from the
body and headers (body wins), the reply with the seed's provider spelling and cost, the stream that
always ends with usage and [DONE], and the round trip of an assistant turn with tool calls."""

from __future__ import annotations

import inspect
import json
from decimal import Decimal
from typing import Any

import orjson
import pytest

from shared.api.seed_wire import SeedStreamRenderer, parse_seed_request, render_seed_response
from shared.chat_types import ChatOptions, ChatResult
from shared.cost import UNPRICED, Cost
from shared.errors import GatewayError, ProviderError, RequestError, UpstreamFailure
from shared.unified import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    ImagePart,
    Message,
    ResponseMessage,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoiceFunction,
    Usage,
)

USER = {"role": "user", "content": "Hello!"}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-3.5-turbo", "messages": [USER], **fields}


def parse(data: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[ChatRequest, ChatOptions]:
    return parse_seed_request(orjson.dumps(data), headers or {})


def rejected(data: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> RequestError:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    with pytest.raises(RequestError) as info:
        parse_seed_request(raw, headers or {})
    assert info.value.status == 400
    return info.value


# --- parsing -------------------------------------------------------------------------------------------


def test_the_seed_example_request() -> None:
    request, options = parse(body(maxTokens=100, temperature=0.7, stream=False, preferredProvider="OPENAI"))
    assert request == ChatRequest(
        model="gpt-3.5-turbo", messages=(Message(role="user", content="Hello!"),), max_tokens=100, temperature=0.7
    )
    assert options == ChatOptions(preferred_provider="openai")


FIELDS: list[tuple[dict[str, Any], str, Any]] = [
    ({"maxTokens": 5}, "max_tokens", 5),
    ({"temperature": 2}, "temperature", 2.0),
    ({"topP": 0.5}, "top_p", 0.5),
    ({"stop": "END"}, "stop", ("END",)),
    ({"stop": ["a", "b"]}, "stop", ("a", "b")),
    ({"stream": True}, "stream", True),
    ({"stream": True}, "include_usage", True),  # the seed stream always ends with usage
    ({"tools": [TOOL]}, "tools", (Tool(name="get_weather", parameters={"type": "object"}),)),
    ({"tools": [TOOL], "toolChoice": "required"}, "tool_choice", "required"),
    (
        {"tools": [TOOL], "toolChoice": {"type": "function", "function": {"name": "get_weather"}}},
        "tool_choice",
        ToolChoiceFunction("get_weather"),
    ),
    # snake_case top-level names are not the seed's: ignored like any unknown field.
    ({"max_tokens": 5, "top_p": 0.1}, "max_tokens", None),
]


@pytest.mark.parametrize(("extra", "attribute", "expected"), FIELDS)
def test_each_field_lands_in_the_unified_request(extra: dict[str, Any], attribute: str, expected: Any) -> None:
    assert getattr(parse(body(**extra))[0], attribute) == expected


@pytest.mark.parametrize(
    ("value", "internal"),
    [
        ("OPENAI", "openai"),
        ("ANTHROPIC", "anthropic"),
        ("GOOGLE", "gemini"),
        ("google", "gemini"),
        ("Anthropic", "anthropic"),
        ("openai", "openai"),
        ("gemini", "gemini"),
        ("GEMINI", "gemini"),
        (None, None),
    ],
)
def test_preferred_provider_in_any_spelling(value: str | None, internal: str | None) -> None:
    assert parse(body(preferredProvider=value))[1].preferred_provider == internal


@pytest.mark.parametrize("value", ["AZURE", "", "open ai", 3])
def test_unknown_preferred_provider_names_the_field(value: Any) -> None:
    assert rejected(body(preferredProvider=value)).field == "preferredProvider"


@pytest.mark.parametrize(
    ("fields", "headers", "expected"),
    [
        ({}, {}, ChatOptions()),
        ({"costOptimization": False}, {}, ChatOptions(cost_optimization=False)),
        ({"fallback": True}, {}, ChatOptions(fallback=True)),
        ({}, {"x-gateway-cost-optimization": "off", "x-gateway-fallback": "on"}, ChatOptions(None, False, True)),
        ({"costOptimization": True}, {"x-gateway-cost-optimization": "off"}, ChatOptions(cost_optimization=True)),
        ({"fallback": False}, {"x-gateway-fallback": "on"}, ChatOptions(fallback=False)),
    ],
)
def test_options_from_body_and_headers_body_wins(
    fields: dict[str, Any], headers: dict[str, str], expected: ChatOptions
) -> None:
    assert parse(body(**fields), headers)[1] == expected


def test_a_bad_switch_header_is_a_400_even_when_the_body_decides() -> None:
    assert rejected(body(fallback=True), {"x-gateway-fallback": "sometimes"}).field == "x-gateway-fallback"


@pytest.mark.parametrize("spelling", ["camel", "snake"])
def test_tool_turns_in_either_spelling(spelling: str) -> None:
    calls, call_id = ("toolCalls", "toolCallId") if spelling == "camel" else ("tool_calls", "tool_call_id")
    request, _ = parse(
        body(
            messages=[
                USER,
                {"role": "assistant", "content": None, calls: [CALL]},
                {"role": "tool", call_id: "call_1", "content": "sunny"},
            ]
        )
    )
    assert request.messages[1].tool_calls == (ToolCall(id="call_1", name="get_weather", arguments="{}"),)
    assert request.messages[2].tool_call_id == "call_1"


def test_image_parts_in_the_openai_shape() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}}
    request, _ = parse(body(messages=[{"role": "user", "content": [{"type": "text", "text": "what?"}, image]}]))
    assert request.messages[0].content == (
        TextPart("what?"),
        ImagePart(url="data:image/png;base64,AAAA", detail="high"),
    )


ASSISTANT_CALL = {"role": "assistant", "toolCalls": [CALL]}

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no model", {"messages": [USER]}, "model"),
    ("empty messages", body(messages=[]), "messages"),
    ("unknown role", body(messages=[{"role": "bot", "content": "x"}]), "messages[0].role"),
    ("user without content", body(messages=[{"role": "user"}]), "messages[0].content"),
    ("maxTokens a string", body(maxTokens="100"), "maxTokens"),
    ("maxTokens zero", body(maxTokens=0), "maxTokens"),
    ("temperature above 2", body(temperature=3), "temperature"),
    ("topP above 1", body(topP=2), "topP"),
    ("stop five sequences", body(stop=["a", "b", "c", "d", "e"]), "stop"),
    ("stream a string", body(stream="yes"), "stream"),
    ("costOptimization a string", body(costOptimization="on"), "costOptimization"),
    ("fallback a number", body(fallback=1), "fallback"),
    ("toolChoice unknown", body(toolChoice="any"), "toolChoice"),
    ("toolChoice required without tools", body(toolChoice="required"), "toolChoice"),
    (
        "toolChoice names no tool",
        body(tools=[TOOL], toolChoice={"type": "function", "function": {"name": "x"}}),
        "toolChoice.function.name",
    ),
    ("tool name bad", body(tools=[{"type": "function", "function": {"name": "a b"}}]), "tools[0].function.name"),
    (
        "tool call name bad",
        body(
            messages=[
                USER,
                {"role": "assistant", "toolCalls": [{**CALL, "function": {"name": "a.b", "arguments": "{}"}}]},
            ]
        ),
        "messages[1].toolCalls[0].function.name",
    ),
    (
        "snake tool call name bad, camel in the error",
        body(
            messages=[
                USER,
                {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "a.b", "arguments": "{}"}}]},
            ]
        ),
        "messages[1].toolCalls[0].function.name",
    ),
    (
        "tool message without toolCallId",
        body(messages=[USER, {"role": "tool", "content": "x"}]),
        "messages[1].toolCallId",
    ),
    (
        "tool message answering nothing",
        body(messages=[USER, ASSISTANT_CALL, {"role": "tool", "toolCallId": "nope", "content": "x"}]),
        "messages[2].toolCallId",
    ),
    (
        "toolCallId not a string",
        body(messages=[USER, ASSISTANT_CALL, {"role": "tool", "toolCallId": 1, "content": "x"}]),
        "messages[2].toolCallId",
    ),
    (
        "tool calls on a user message",
        body(messages=[{"role": "user", "content": "x", "toolCalls": [CALL]}]),
        "messages[0].toolCalls",
    ),
    (
        "image outside a user message",
        body(
            messages=[
                USER,
                {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]},
            ]
        ),
        "messages[1].content[0]",
    ),
]


@pytest.mark.parametrize(("case", "data", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_every_invalid_request_names_its_field_in_camel_case(case: str, data: dict[str, Any], field: str) -> None:
    error = rejected(data)
    assert error.field == field, error.message
    assert error.message.startswith(field), error.message


@pytest.mark.parametrize("raw", [b"", b"{", b"[]"])
def test_malformed_or_non_object_bodies_name_the_body(raw: bytes) -> None:
    assert rejected(raw).field == "body"


# --- reply ---------------------------------------------------------------------------------------------


def result(
    message: ResponseMessage,
    *,
    usage: Usage | None = None,
    cost: Cost | None = None,
    provider: str = "openai",
    finish: Any = "stop",
    created: int = 1_677_652_288,
) -> ChatResult:
    return ChatResult(
        response=ChatResponse(
            id="chatcmpl-123",
            model="upstream-name",
            created=created,
            choices=(Choice(index=0, message=message, finish_reason=finish),),
            usage=usage if usage is not None else Usage(input_tokens=9, output_tokens=12),
        ),
        provider=provider,
        model="gpt-3.5-turbo",
        cost=cost or Cost(usd=Decimal("0.0015"), micros=1500, unpriced=False),
        attempts=1,
        request_id="req-1",
    )


def test_the_seed_example_reply() -> None:
    reply = orjson.loads(render_seed_response(result(ResponseMessage(content="Hello! How can I help you?")), 0))
    assert reply == {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1677652288,
        "model": "gpt-3.5-turbo",
        "provider": "OPENAI",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help you?"},
                "finishReason": "stop",
            }
        ],
        "usage": {"promptTokens": 9, "completionTokens": 12, "totalTokens": 21, "cost": 0.0015},
    }


@pytest.mark.parametrize(("internal", "seed"), [("openai", "OPENAI"), ("anthropic", "ANTHROPIC"), ("gemini", "GOOGLE")])
def test_reply_provider_in_the_seed_spelling(internal: str, seed: str) -> None:
    reply = orjson.loads(render_seed_response(result(ResponseMessage(content="x"), provider=internal), 0))
    assert reply["provider"] == seed


def test_reply_created_falls_back_to_the_given_time() -> None:
    assert orjson.loads(render_seed_response(result(ResponseMessage(content="x"), created=0), 99))["created"] == 99


def test_reply_usage_details_and_unpriced() -> None:
    usage = Usage(input_tokens=100, output_tokens=50, cached_input_tokens=80, reasoning_tokens=30)
    shown = orjson.loads(render_seed_response(result(ResponseMessage(content="x"), usage=usage, cost=UNPRICED), 0))
    assert shown["usage"] == {
        "promptTokens": 100,
        "completionTokens": 50,
        "totalTokens": 150,
        "cost": None,
        "unpriced": True,
        "cachedTokens": 80,
        "reasoningTokens": 30,
    }


def test_reply_tool_calls_without_signatures() -> None:
    message = ResponseMessage(
        content=None, tool_calls=(ToolCall(id="call_1", name="get_weather", arguments="", thought_signature="SIG"),)
    )
    raw = render_seed_response(result(message, finish="tool_calls"), 0)
    assert b"SIG" not in raw
    choice = orjson.loads(raw)["choices"][0]
    assert choice["message"]["toolCalls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    ]
    assert choice["finishReason"] == "tool_calls"


def test_round_trip_a_replys_assistant_turn_is_accepted_as_is() -> None:
    message = ResponseMessage(
        content=None,
        tool_calls=(
            ToolCall(id="call_a", name="get_weather", arguments='{"city":"Paris"}'),
            ToolCall(id="call_b", name="get_time", arguments="{}"),
        ),
    )
    reply = orjson.loads(render_seed_response(result(message, finish="tool_calls"), 0))
    assistant = reply["choices"][0]["message"]
    follow_up = body(
        messages=[
            USER,
            assistant,
            {"role": "tool", "toolCallId": "call_a", "content": "sunny"},
            {"role": "tool", "toolCallId": "call_b", "content": "noon"},
        ],
        tools=[TOOL, {"type": "function", "function": {"name": "get_time"}}],
    )
    request, _ = parse(follow_up)
    assert request.messages[1] == Message(role="assistant", tool_calls=message.tool_calls)
    assert [m.tool_call_id for m in request.messages[2:]] == ["call_a", "call_b"]


def test_round_trip_with_text_content() -> None:
    reply = orjson.loads(render_seed_response(result(ResponseMessage(content="Hi there")), 0))
    request, _ = parse(body(messages=[USER, reply["choices"][0]["message"], {"role": "user", "content": "and?"}]))
    assert request.messages[1] == Message(role="assistant", content="Hi there")


# --- stream -----------------------------------------------------------------------------------------------


def event(raw: bytes) -> dict[str, Any]:
    assert raw.startswith(b"data: ")
    assert raw.endswith(b"\n\n")
    value: dict[str, Any] = orjson.loads(raw[6:])
    return value


def chunk(delta: Delta | None = None, finish: Any = None, cid: str = "chatcmpl-s") -> ChatChunk:
    return ChatChunk(id=cid, model="m", created=5, choices=(ChunkChoice(0, delta or Delta(), finish_reason=finish),))


def test_stream_chunks_usage_and_done() -> None:
    renderer = SeedStreamRenderer("claude-x", 123, "anthropic")
    first = event(renderer.chunk(chunk(Delta(role="assistant", content="Hi"))))
    assert first == {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 123,
        "model": "claude-x",
        "provider": "ANTHROPIC",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finishReason": None}],
    }
    call = ToolCallDelta(index=0, id="call_1", name="f", arguments='{"a"', thought_signature="SIG")
    raw = renderer.chunk(chunk(Delta(tool_calls=(call,)), cid="another"))
    assert b"SIG" not in raw
    second = event(raw)
    assert second["id"] == "chatcmpl-s"
    assert second["choices"][0]["delta"] == {
        "toolCalls": [{"index": 0, "id": "call_1", "type": "function", "function": {"arguments": '{"a"', "name": "f"}}]
    }
    assert event(renderer.chunk(chunk(finish="tool_calls")))["choices"][0]["finishReason"] == "tool_calls"
    usage_only = ChatChunk(id="x", model="m", created=5, usage=Usage(input_tokens=3, output_tokens=4))
    assert renderer.chunk(usage_only) == b""  # the caller sends usage_chunk with the cost
    final = event(renderer.usage_chunk(usage_only.usage, Cost(usd=Decimal("0.00002"), micros=20, unpriced=False)))
    assert final["choices"] == []
    assert final["usage"] == {"promptTokens": 3, "completionTokens": 4, "totalTokens": 7, "cost": 0.00002}
    assert final["provider"] == "ANTHROPIC"
    assert renderer.done() == b"data: [DONE]\n\n"


def test_stream_usage_chunk_is_always_sent() -> None:
    renderer = SeedStreamRenderer("m", 1, "gemini")
    final = event(renderer.usage_chunk(None, UNPRICED))
    assert final["usage"] == {
        "promptTokens": 0,
        "completionTokens": 0,
        "totalTokens": 0,
        "cost": None,
        "unpriced": True,
    }
    assert final["provider"] == "GOOGLE"


def test_stream_skips_reasoning_only_deltas() -> None:
    assert SeedStreamRenderer("m", 1, "openai").chunk(chunk(Delta(reasoning="..."))) == b""


def test_stream_error_event_in_the_seed_envelope_without_done() -> None:
    renderer = SeedStreamRenderer("m", 1, "openai", attempts=2)
    failure = ProviderError("cut", kind="network_error", provider="openai", retryable=True, in_stream=True)
    raw = renderer.error(failure)
    assert b"[DONE]" not in raw
    assert event(raw) == {
        "error": {
            "code": "network_error",
            "message": "cut",
            "type": "network_error",
            "provider": "OPENAI",
            "retryable": True,
            "attempts": 2,
        }
    }
    # An UpstreamFailure carries its own count: it wins over the stream's.
    assert event(renderer.error(UpstreamFailure((failure,))))["error"]["attempts"] == 1
    assert event(renderer.error(UpstreamFailure((failure,) * 3)))["error"]["attempts"] == 3


def test_stream_error_attempts_default_to_one() -> None:
    renderer = SeedStreamRenderer("m", 1, "anthropic")
    failure = ProviderError("cut", kind="overloaded", provider="anthropic", retryable=True, in_stream=True)
    assert event(renderer.error(failure))["error"]["attempts"] == 1
    # The gateway's own errors carry no count either: the stream's is what the caller sees.
    later = SeedStreamRenderer("m", 1, "anthropic", attempts=4)
    assert event(later.error(GatewayError("stream cut by the gateway", status=502)))["error"]["attempts"] == 4


def test_stream_renderer_error_takes_one_argument() -> None:
    # chat.py's StreamRenderer protocol calls `error(exc)` on either wire's renderer.
    params = inspect.signature(SeedStreamRenderer.error).parameters
    assert list(params) == ["self", "exc"]


# --- cost: USD with exactly 6 decimals, from the integer micro-USD ----------------------------------------

COSTS = [(0, "0.000000"), (6, "0.000006"), (20, "0.000020"), (1500, "0.001500"), (12_345_678, "12.345678")]


@pytest.mark.parametrize(("micros", "text"), COSTS)
def test_reply_cost_bytes_have_six_decimals(micros: int, text: str) -> None:
    cost = Cost(usd=Decimal(micros).scaleb(-6), micros=micros, unpriced=False)
    raw = render_seed_response(result(ResponseMessage(content="x"), cost=cost), 0)
    assert b'"cost":' + text.encode() + b"}" in raw
    assert orjson.loads(raw)["usage"]["cost"] == float(text)
    assert json.loads(raw, parse_float=Decimal)["usage"]["cost"] == Decimal(micros).scaleb(-6)


@pytest.mark.parametrize(("micros", "text"), COSTS)
def test_stream_usage_cost_bytes_have_six_decimals(micros: int, text: str) -> None:
    cost = Cost(usd=Decimal(micros).scaleb(-6), micros=micros, unpriced=False)
    raw = SeedStreamRenderer("m", 1, "openai").usage_chunk(Usage(input_tokens=1), cost)
    assert b'"cost":' + text.encode() + b"}" in raw
    assert event(raw)["usage"]["cost"] == float(text)
    assert json.loads(raw[6:], parse_float=Decimal)["usage"]["cost"] == Decimal(micros).scaleb(-6)


def test_unpriced_cost_is_null_on_the_wire() -> None:
    raw = render_seed_response(result(ResponseMessage(content="x"), cost=UNPRICED), 0)
    assert b'"cost":null' in raw
    assert b'"cost":null' in SeedStreamRenderer("m", 1, "openai").usage_chunk(None, UNPRICED)
