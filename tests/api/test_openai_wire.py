"""The OpenAI wire of the gateway: request parsing (every field, every 400 naming its `param`), the
`chat.completion` reply, the chunk stream, and GET /v1/models. Replies are checked key by key and
against the official SDK's own types; recorded real requests must parse (and the one OpenAI rejected
is rejected naming the same `param`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
import pytest
from openai.types import Model as SdkModel
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from starlette.datastructures import Headers

from shared.api.openai_wire import OpenAIStreamRenderer, parse_openai_request, render_models, render_openai_response
from shared.catalog import default_catalog
from shared.chat_types import ChatOptions, ChatResult
from shared.cost import UNPRICED, Cost
from shared.errors import ProviderError, RequestError, UpstreamFailure
from shared.unified import (
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Choice,
    ChunkChoice,
    Delta,
    ImagePart,
    Message,
    ReasoningBlock,
    ResponseFormat,
    ResponseMessage,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoiceFunction,
    Usage,
)
from tests.recordings import entries, load_bytes

USER = {"role": "user", "content": "hi"}
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [USER], **fields}


def parse(data: dict[str, Any], headers: Mapping[str, str] | None = None) -> tuple[ChatRequest, ChatOptions]:
    return parse_openai_request(orjson.dumps(data), headers or {})


def rejected(data: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> RequestError:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    with pytest.raises(RequestError) as info:
        parse_openai_request(raw, headers or {})
    assert info.value.status == 400
    return info.value


# --- parsing: what each field becomes ---------------------------------------------------------------

FIELDS: list[tuple[dict[str, Any], str, Any]] = [
    ({}, "model", "gpt-4o-mini"),
    ({"max_tokens": 50}, "max_tokens", 50),
    ({"max_completion_tokens": 70}, "max_tokens", 70),
    ({"max_completion_tokens": 70, "max_tokens": 50}, "max_tokens", 70),
    ({"temperature": 0}, "temperature", 0.0),
    ({"temperature": 2}, "temperature", 2.0),
    ({"temperature": 0.7}, "temperature", 0.7),
    ({"top_p": 1}, "top_p", 1.0),
    ({"stop": "END"}, "stop", ("END",)),
    ({"stop": ["a", "b", "c", "d"]}, "stop", ("a", "b", "c", "d")),
    ({"n": 3}, "n", 3),
    ({"n": 128}, "n", 128),
    ({"seed": -5}, "seed", -5),
    ({"presence_penalty": -2}, "presence_penalty", -2.0),
    ({"frequency_penalty": 1.5}, "frequency_penalty", 1.5),
    ({"parallel_tool_calls": False}, "parallel_tool_calls", False),
    ({"user": "u-1"}, "user", "u-1"),
    ({"reasoning_effort": "low"}, "reasoning_effort", "low"),
    ({"stream": True}, "stream", True),
    ({"stream": None}, "stream", False),
    ({"stream": True}, "include_usage", False),
    ({"stream": True, "stream_options": {"include_usage": True}}, "include_usage", True),
    ({"stream_options": {"include_usage": True}}, "include_usage", False),  # no stream: nothing to add it to
    ({"response_format": {"type": "text"}}, "response_format", ResponseFormat(type="text")),
    ({"response_format": {"type": "json_object"}}, "response_format", ResponseFormat(type="json_object")),
    (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}}},
        "response_format",
        ResponseFormat(type="json_schema", schema={"type": "object"}, name="r"),
    ),
    (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "r", "strict": True}}},
        "response_format",
        ResponseFormat(type="json_schema", name="r", strict=True),
    ),
    ({"tools": [WEATHER_TOOL]}, "tools", (Tool(name="get_weather", parameters={"type": "object"}),)),
    (
        {"tools": [{"type": "function", "function": {"name": "f", "description": "d", "strict": True}}]},
        "tools",
        (Tool(name="f", description="d", strict=True),),
    ),
    ({"tools": [WEATHER_TOOL], "tool_choice": "auto"}, "tool_choice", "auto"),
    ({"tool_choice": "none"}, "tool_choice", "none"),
    ({"tools": [WEATHER_TOOL], "tool_choice": "required"}, "tool_choice", "required"),
    (
        {"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        "tool_choice",
        ToolChoiceFunction("get_weather"),
    ),
    ({"unknown_field": {"anything": 1}, "metadata": {"a": "b"}}, "model", "gpt-4o-mini"),  # extras ignored
]


@pytest.mark.parametrize(("extra", "attribute", "expected"), FIELDS)
def test_each_field_lands_in_the_unified_request(extra: dict[str, Any], attribute: str, expected: Any) -> None:
    request, _ = parse(body(**extra))
    assert getattr(request, attribute) == expected


def test_defaults_are_unset() -> None:
    request, options = parse(body())
    assert request == ChatRequest(model="gpt-4o-mini", messages=(Message(role="user", content="hi"),))
    assert options == ChatOptions()


def test_messages_of_every_role_and_shape() -> None:
    request, _ = parse(
        body(
            messages=[
                {"role": "developer", "content": "be brief"},
                {"role": "system", "content": [{"type": "text", "text": "sys"}]},
                {
                    "role": "user",
                    "name": "ann",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    ],
                },
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "assistant", "content": "It is sunny."},
                {"role": "assistant", "content": None, "refusal": "I can't."},
            ]
        )
    )
    assert request.messages == (
        Message(role="system", content="be brief"),
        Message(role="system", content=(TextPart("sys"),)),
        Message(
            role="user",
            name="ann",
            content=(
                TextPart("look"),
                ImagePart(url="https://x.test/a.png", detail="low"),
                ImagePart(url="data:image/png;base64,AAAA"),
            ),
        ),
        Message(
            role="assistant", tool_calls=(ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}'),)
        ),
        Message(role="tool", content="sunny", tool_call_id="call_1"),
        Message(role="assistant", content="It is sunny."),
        Message(role="assistant", content="I can't."),
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, ChatOptions()),
        ({"x-gateway-cost-optimization": "on"}, ChatOptions(cost_optimization=True)),
        ({"x-gateway-cost-optimization": "OFF"}, ChatOptions(cost_optimization=False)),
        ({"x-gateway-fallback": "off"}, ChatOptions(fallback=False)),
        ({"X-Gateway-Fallback": " On "}, ChatOptions(fallback=True)),
        (
            {"x-gateway-fallback": "true", "x-gateway-cost-optimization": "0"},
            ChatOptions(cost_optimization=False, fallback=True),
        ),
    ],
)
def test_switch_headers_become_options(headers: dict[str, str], expected: ChatOptions) -> None:
    assert parse(body(), headers)[1] == expected


@pytest.mark.parametrize("name", ["x-gateway-cost-optimization", "x-gateway-fallback"])
def test_a_bad_switch_header_names_the_header(name: str) -> None:
    error = rejected(body(), {name: "maybe"})
    assert error.field == name
    assert "on or off" in error.message


# --- parsing: every 400 names its field ------------------------------------------------------------


def _with_message(message: dict[str, Any], before: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return body(messages=[*(before or []), message])


ASSISTANT_CALL = {"role": "assistant", "content": None, "tool_calls": [CALL]}

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("no model", {"messages": [USER]}, "model"),
    ("empty model", body(model=""), "model"),
    ("model not a string", body(model=4), "model"),
    ("no messages", {"model": "gpt-4o"}, "messages"),
    ("empty messages", body(messages=[]), "messages"),
    ("messages not a list", body(messages={"role": "user"}), "messages"),
    ("message not an object", body(messages=["hi"]), "messages[0]"),
    ("unknown role", body(messages=[{"role": "robot", "content": "x"}]), "messages[0].role"),
    ("missing role", body(messages=[{"content": "x"}]), "messages[0].role"),
    ("legacy function role", body(messages=[{"role": "function", "content": "x"}]), "messages[0].role"),
    ("user without content", body(messages=[{"role": "user"}]), "messages[0].content"),
    ("user content null", body(messages=[{"role": "user", "content": None}]), "messages[0].content"),
    ("system without content", body(messages=[{"role": "system"}, USER]), "messages[0].content"),
    ("assistant with nothing", body(messages=[USER, {"role": "assistant"}]), "messages[1].content"),
    ("content a number", body(messages=[{"role": "user", "content": 5}]), "messages[0].content"),
    ("content an empty list", body(messages=[{"role": "user", "content": []}]), "messages[0].content"),
    ("part not an object", body(messages=[{"role": "user", "content": ["x"]}]), "messages[0].content[0]"),
    (
        "part of unknown type",
        body(messages=[{"role": "user", "content": [{"type": "input_audio"}]}]),
        "messages[0].content[0].type",
    ),
    (
        "text part without text",
        body(messages=[{"role": "user", "content": [{"type": "text"}]}]),
        "messages[0].content[0].text",
    ),
    (
        "image part without url",
        body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]),
        "messages[0].content[0].image_url.url",
    ),
    (
        "image by http url",
        body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/a.png"}}]}]),
        "messages[0].content[0].image_url.url",
    ),
    (
        "image detail unknown",
        body(
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x", "detail": "max"}}]}
            ]
        ),
        "messages[0].content[0].image_url.detail",
    ),
    (
        "image in a system message",
        body(
            messages=[
                {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]},
                USER,
            ]
        ),
        "messages[0].content[0]",
    ),
    (
        "image in an assistant message",
        _with_message(
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "https://x"}}],
            },
            [USER],
        ),
        "messages[1].content[1]",
    ),
    (
        "tool message without tool_call_id",
        _with_message({"role": "tool", "content": "x"}, [USER]),
        "messages[1].tool_call_id",
    ),
    (
        "tool message answering nothing",
        _with_message({"role": "tool", "content": "x", "tool_call_id": "call_9"}, [USER, ASSISTANT_CALL]),
        "messages[2].tool_call_id",
    ),
    (
        "tool message before the call",
        body(messages=[USER, {"role": "tool", "content": "x", "tool_call_id": "call_1"}, ASSISTANT_CALL]),
        "messages[1].tool_call_id",
    ),
    (
        "tool message without content",
        _with_message({"role": "tool", "tool_call_id": "call_1"}, [USER, ASSISTANT_CALL]),
        "messages[2].content",
    ),
    (
        "tool calls on a user message",
        body(messages=[{"role": "user", "content": "x", "tool_calls": [CALL]}]),
        "messages[0].tool_calls",
    ),
    (
        "tool call with a bad function name",
        _with_message(
            {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "get weather", "arguments": "{}"}}]},
            [USER],
        ),
        "messages[1].tool_calls[0].function.name",
    ),
    (
        "tool call arguments not a string",
        _with_message(
            {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "f", "arguments": {"a": 1}}}]}, [USER]
        ),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "tool call without id",
        _with_message({"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": ""}}]}, [USER]),
        "messages[1].tool_calls[0].id",
    ),
    (
        "tool call of another type",
        _with_message({"role": "assistant", "tool_calls": [{**CALL, "type": "custom"}]}, [USER]),
        "messages[1].tool_calls[0].type",
    ),
    ("tools not a list", body(tools={"type": "function"}), "tools"),
    ("tool without type", body(tools=[{"function": {"name": "f"}}]), "tools[0].type"),
    ("tool without function", body(tools=[{"type": "function"}]), "tools[0].function"),
    (
        "tool name with a space",
        body(tools=[WEATHER_TOOL, {"type": "function", "function": {"name": "bad name"}}]),
        "tools[1].function.name",
    ),
    (
        "tool name too long",
        body(tools=[{"type": "function", "function": {"name": "f" * 65}}]),
        "tools[0].function.name",
    ),
    ("tool name empty", body(tools=[{"type": "function", "function": {"name": ""}}]), "tools[0].function.name"),
    ("tool names repeated", body(tools=[WEATHER_TOOL, WEATHER_TOOL]), "tools[1].function.name"),
    (
        "tool parameters not an object",
        body(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        "tools[0].function.parameters",
    ),
    (
        "tool strict not a boolean",
        body(tools=[{"type": "function", "function": {"name": "f", "strict": "yes"}}]),
        "tools[0].function.strict",
    ),
    ("tool_choice unknown word", body(tool_choice="any"), "tool_choice"),
    ("tool_choice a number", body(tool_choice=1), "tool_choice"),
    ("tool_choice required without tools", body(tool_choice="required"), "tool_choice"),
    (
        "tool_choice names no tool",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "function", "function": {"name": "other"}}),
        "tool_choice.function.name",
    ),
    (
        "tool_choice object without function",
        body(tools=[WEATHER_TOOL], tool_choice={"type": "function"}),
        "tool_choice.function",
    ),
    ("temperature above 2", body(temperature=2.1), "temperature"),
    ("temperature below 0", body(temperature=-0.1), "temperature"),
    ("temperature a string", body(temperature="0.5"), "temperature"),
    ("temperature a boolean", body(temperature=True), "temperature"),
    ("top_p above 1", body(top_p=1.5), "top_p"),
    ("max_tokens zero", body(max_tokens=0), "max_tokens"),
    ("max_tokens a float", body(max_tokens=10.5), "max_tokens"),
    ("max_completion_tokens a string", body(max_completion_tokens="10"), "max_completion_tokens"),
    ("n zero", body(n=0), "n"),
    ("n above 128", body(n=129), "n"),
    ("n > 1 with stream", body(n=2, stream=True), "n"),
    ("seed a float", body(seed=1.5), "seed"),
    ("presence_penalty above 2", body(presence_penalty=2.5), "presence_penalty"),
    ("frequency_penalty below -2", body(frequency_penalty=-3), "frequency_penalty"),
    ("stop five sequences", body(stop=["a", "b", "c", "d", "e"]), "stop"),
    ("stop a number", body(stop=4), "stop"),
    ("stop item a number", body(stop=["a", 4]), "stop[1]"),
    ("stream a string", body(stream="true"), "stream"),
    (
        "stream_options include_usage a string",
        body(stream_options={"include_usage": "yes"}),
        "stream_options.include_usage",
    ),
    ("parallel_tool_calls a number", body(parallel_tool_calls=1), "parallel_tool_calls"),
    ("user a number", body(user=42), "user"),
    ("reasoning_effort unknown", body(reasoning_effort="extreme"), "reasoning_effort"),
    ("response_format unknown type", body(response_format={"type": "xml"}), "response_format.type"),
    ("response_format a string", body(response_format="json"), "response_format"),
    (
        "json_schema without name",
        body(response_format={"type": "json_schema", "json_schema": {"schema": {}}}),
        "response_format.json_schema.name",
    ),
    (
        "json_schema schema not an object",
        body(response_format={"type": "json_schema", "json_schema": {"name": "r", "schema": [1]}}),
        "response_format.json_schema.schema",
    ),
    ("json_schema missing", body(response_format={"type": "json_schema"}), "response_format.json_schema"),
]


@pytest.mark.parametrize(("case", "data", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_every_invalid_request_names_its_field(case: str, data: dict[str, Any], field: str) -> None:
    error = rejected(data)
    assert error.field == field, error.message
    assert error.message.startswith(field), error.message  # the message says which field, too


@pytest.mark.parametrize("raw", [b"", b"{", b"{'model': 1}", b"[1, 2", b"NaN"])
def test_malformed_json_names_the_body(raw: bytes) -> None:
    error = rejected(raw)
    assert (error.field, error.message.startswith("malformed JSON")) == ("body", True)


@pytest.mark.parametrize("raw", [b"[]", b"null", b'"text"', b"3"])
def test_a_body_that_is_not_an_object_names_the_body(raw: bytes) -> None:
    assert rejected(raw).field == "body"


def test_messages_echo_little_of_the_callers_values() -> None:
    error = rejected(body(), {"x-gateway-fallback": "x" * 1000})
    assert len(error.message) < 200


def test_tool_call_ids_answer_any_earlier_assistant_turn() -> None:
    second = {**CALL, "id": "call_2"}
    request, _ = parse(
        body(
            messages=[
                USER,
                ASSISTANT_CALL,
                {"role": "tool", "tool_call_id": "call_1", "content": "a"},
                {"role": "assistant", "content": "next", "tool_calls": [second]},
                {"role": "tool", "tool_call_id": "call_2", "content": "b"},
                {"role": "tool", "tool_call_id": "call_1", "content": "a again"},
            ]
        )
    )
    assert [m.tool_call_id for m in request.messages if m.role == "tool"] == ["call_1", "call_2", "call_1"]


# --- recorded real requests --------------------------------------------------------------------------

RECORDED = [e for e in entries("openai") if e.get("request_file")]


@pytest.mark.parametrize("entry", RECORDED, ids=[e["file"] for e in RECORDED])
def test_recorded_real_requests_parse_or_fail_as_openai_did(entry: dict[str, Any]) -> None:
    raw = load_bytes(entry["request_file"])
    if entry["file"] == "openai/error_400_2.json":
        # OpenAI refused this one itself, with param "messages[1].content[0].type": so do we.
        expected = orjson.loads(load_bytes(entry["file"]))["error"]["param"]
        assert rejected(raw).field == expected
        return
    request, _ = parse_openai_request(raw, {})
    assert request.model == orjson.loads(raw)["model"]


# --- JSON reply ------------------------------------------------------------------------------------


def result(
    message: ResponseMessage | None = None,
    *,
    usage: Usage | None = None,
    cost: Cost | None = None,
    created: int = 1_700_000_000,
    finish: Any = "stop",
) -> ChatResult:
    response = ChatResponse(
        id="chatcmpl-abc",
        model="gpt-4o-mini-2024-07-18",
        created=created,
        choices=(Choice(index=0, message=message or ResponseMessage(content="Hello"), finish_reason=finish),),
        usage=usage if usage is not None else Usage(input_tokens=9, output_tokens=12),
    )
    return ChatResult(
        response=response,
        provider="openai",
        model="gpt-4o-mini",
        cost=cost or Cost(usd=Decimal("0.0015"), micros=1500, unpriced=False),
        attempts=1,
        request_id="req-1",
    )


def test_reply_key_fields() -> None:
    reply = orjson.loads(render_openai_response(result(), created=5))
    assert {k: reply[k] for k in ("id", "object", "created", "model", "system_fingerprint")} == {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",  # the served model, as the gateway names it
        "system_fingerprint": None,
    }
    assert reply["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert "provider" not in reply  # the x-gateway-provider header carries it on this route
    ChatCompletion.model_validate(reply)


def test_reply_created_falls_back_to_the_given_time() -> None:
    assert orjson.loads(render_openai_response(result(created=0), created=42))["created"] == 42


def test_reply_usage_with_details_and_cost() -> None:
    usage = Usage(input_tokens=100, output_tokens=40, cached_input_tokens=60, reasoning_tokens=25)
    reply = orjson.loads(render_openai_response(result(usage=usage), created=0))
    assert reply["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 40,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 25},
        "cost": 0.0015,
    }
    assert ChatCompletion.model_validate(reply).usage is not None


COSTS = [
    (0, "0.000000"),
    (1, "0.000001"),
    (6, "0.000006"),
    (1500, "0.001500"),
    (1_234_567, "1.234567"),
    (2_500_000, "2.500000"),
    (12_345_678, "12.345678"),
]


@pytest.mark.parametrize(("micros", "text"), COSTS)
def test_reply_cost_is_usd_with_six_decimals(micros: int, text: str) -> None:
    # Exactly 6 decimals in the bytes (a float would give 6e-06 or 0.0015), and the exact value when parsed.
    cost = Cost(usd=Decimal(micros) / 1_000_000, micros=micros, unpriced=False)
    raw = render_openai_response(result(cost=cost), created=0)
    assert b'"cost":' + text.encode() + b"}" in raw
    assert orjson.loads(raw)["usage"]["cost"] == float(text)
    assert json.loads(raw, parse_float=Decimal)["usage"]["cost"] == Decimal(micros).scaleb(-6)
    ChatCompletion.model_validate_json(raw)


@pytest.mark.parametrize(("micros", "text"), COSTS)
def test_stream_usage_cost_is_usd_with_six_decimals(micros: int, text: str) -> None:
    cost = Cost(usd=Decimal(micros) / 1_000_000, micros=micros, unpriced=False)
    raw = OpenAIStreamRenderer("m", 1, include_usage=True).usage_chunk(Usage(input_tokens=1), cost)
    assert b'"cost":' + text.encode() + b"}" in raw
    assert event(raw)["usage"]["cost"] == float(text)
    assert json.loads(raw[6:], parse_float=Decimal)["usage"]["cost"] == Decimal(micros).scaleb(-6)
    ChatCompletionChunk.model_validate_json(raw[6:])


def test_unpriced_reply_has_null_cost_and_says_so() -> None:
    raw = render_openai_response(result(cost=UNPRICED), created=0)
    assert b'"cost":null,"unpriced":true' in raw
    usage = orjson.loads(raw)["usage"]
    assert (usage["cost"], usage["unpriced"]) == (None, True)


def test_tool_calls_render_as_functions_without_signatures_or_reasoning() -> None:
    message = ResponseMessage(
        content=None,
        tool_calls=(
            ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}', thought_signature="SECRET-SIG"),
            ToolCall(id="call_2", name="now", arguments=""),
        ),
        reasoning=(ReasoningBlock(text="thinking hard", signature="SIG2"),),
    )
    raw = render_openai_response(result(message, finish="tool_calls"), created=0)
    assert b"SECRET-SIG" not in raw
    assert b"SIG2" not in raw
    assert b"thinking hard" not in raw
    reply = orjson.loads(raw)
    assert reply["choices"][0]["message"]["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "now", "arguments": "{}"}},
    ]
    assert reply["choices"][0]["finish_reason"] == "tool_calls"
    ChatCompletion.model_validate(reply)


def test_refusal_and_several_choices() -> None:
    r = result(ResponseMessage(content=None, refusal="I can't help with that."), finish="content_filter")
    two = ChatResult(
        response=ChatResponse(
            id="x",
            model="m",
            created=1,
            choices=(
                *r.response.choices,
                Choice(index=1, message=ResponseMessage(content="B"), finish_reason="length"),
            ),
            usage=None,
        ),
        provider="openai",
        model="gpt-4o",
        cost=r.cost,
        attempts=2,
        request_id="r",
    )
    reply = orjson.loads(render_openai_response(two, created=0))
    assert [c["message"]["refusal"] for c in reply["choices"]] == ["I can't help with that.", None]
    assert [c["finish_reason"] for c in reply["choices"]] == ["content_filter", "length"]
    assert reply["usage"]["total_tokens"] == 0  # the provider reported none
    ChatCompletion.model_validate(reply)


# --- stream ------------------------------------------------------------------------------------------


def chunk(delta: Delta | None = None, finish: Any = None, *, cid: str = "chatcmpl-s1") -> ChatChunk:
    return ChatChunk(
        id=cid, model="gpt-4o-mini-x", created=1, choices=(ChunkChoice(0, delta or Delta(), finish_reason=finish),)
    )


def event(raw: bytes) -> dict[str, Any]:
    assert raw.startswith(b"data: ")
    assert raw.endswith(b"\n\n")
    value: dict[str, Any] = orjson.loads(raw[6:])
    return value


USAGE_ONLY = ChatChunk(id="chatcmpl-s1", model="m", created=1, usage=Usage(input_tokens=5, output_tokens=7))


def test_stream_chunks_key_fields_and_sdk_shape() -> None:
    renderer = OpenAIStreamRenderer("gpt-4o-mini", 77, include_usage=False)
    first = event(renderer.chunk(chunk(Delta(role="assistant"))))
    assert {k: first[k] for k in ("id", "object", "created", "model")} == {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 77,
        "model": "gpt-4o-mini",
    }
    assert first["choices"] == [
        {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
    ]
    assert "usage" not in first
    text = event(renderer.chunk(chunk(Delta(content="Hel"), cid="other-id")))
    assert text["id"] == "chatcmpl-s1"  # stable across the stream
    assert text["choices"][0]["delta"] == {"content": "Hel"}
    last = event(renderer.chunk(chunk(finish="stop")))
    assert last["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    for e in (first, text, last):
        ChatCompletionChunk.model_validate(e)
    assert renderer.done() == b"data: [DONE]\n\n"


def test_stream_tool_call_deltas() -> None:
    renderer = OpenAIStreamRenderer("gpt-4o-mini", 1, include_usage=False)
    opening = ToolCallDelta(index=0, id="call_1", name="get_weather", arguments="", thought_signature="SIG")
    first = renderer.chunk(chunk(Delta(tool_calls=(opening,))))
    assert b"SIG" not in first
    assert event(first)["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "id": "call_1", "type": "function", "function": {"arguments": "", "name": "get_weather"}}
    ]
    piece = event(renderer.chunk(chunk(Delta(tool_calls=(ToolCallDelta(index=0, arguments='{"c'),)))))
    assert piece["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "function": {"arguments": '{"c'}}]
    ChatCompletionChunk.model_validate(piece)


def test_stream_refusal_delta() -> None:
    renderer = OpenAIStreamRenderer("m", 1, include_usage=False)
    assert event(renderer.chunk(chunk(Delta(refusal="no"))))["choices"][0]["delta"] == {"refusal": "no"}


def test_stream_sends_nothing_for_reasoning_only_deltas() -> None:
    renderer = OpenAIStreamRenderer("m", 1, include_usage=True)
    assert renderer.chunk(chunk(Delta(reasoning="hmm", reasoning_signature="sig"))) == b""
    assert renderer.chunk(ChatChunk(id="x", model="m", created=1)) == b""


def test_stream_usage_chunk_only_when_asked() -> None:
    cost = Cost(usd=Decimal("0.000123"), micros=123, unpriced=False)
    quiet = OpenAIStreamRenderer("m", 1, include_usage=False)
    assert quiet.chunk(USAGE_ONLY) == b""
    assert quiet.usage_chunk(USAGE_ONLY.usage, cost) == b""

    loud = OpenAIStreamRenderer("gpt-4o-mini", 1, include_usage=True)
    normal = event(loud.chunk(chunk(Delta(content="x"))))
    assert normal["usage"] is None  # OpenAI's shape when include_usage is on
    assert loud.chunk(USAGE_ONLY) == b""  # held: the caller adds the cost it computes
    final = event(loud.usage_chunk(USAGE_ONLY.usage, cost))
    assert final["choices"] == []
    assert final["id"] == "chatcmpl-s1"
    assert final["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 7,
        "total_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "cost": 0.000123,
    }
    ChatCompletionChunk.model_validate(final)
    assert event(loud.usage_chunk(None, UNPRICED))["usage"]["unpriced"] is True


def test_stream_id_from_the_caller_wins() -> None:
    renderer = OpenAIStreamRenderer("m", 1, include_usage=False, response_id="chatcmpl-gw")
    assert event(renderer.chunk(chunk(Delta(content="x"))))["id"] == "chatcmpl-gw"


def test_stream_error_is_a_typed_event_without_done() -> None:
    renderer = OpenAIStreamRenderer("m", 1, include_usage=True)
    failure = ProviderError(
        "overloaded", kind="overloaded", provider="anthropic", status=529, retryable=True, in_stream=True
    )
    raw = renderer.error(failure)
    assert b"[DONE]" not in raw
    assert event(raw) == {"error": {"message": "overloaded", "type": "api_error", "param": None, "code": "overloaded"}}
    upstream = UpstreamFailure((failure, failure))
    assert event(renderer.error(upstream))["error"]["code"] == "overloaded"


# --- GET /v1/models ------------------------------------------------------------------------------------


def test_models_list_in_openai_format_with_gateway_fields() -> None:
    catalog = default_catalog()
    listing = orjson.loads(render_models(catalog))
    assert listing["object"] == "list"
    ids = [m["id"] for m in listing["data"]]
    assert len(ids) == len(set(ids))
    served = [m for m in catalog if m.chat_completions]
    assert ids == [m.id for m in served]
    aliases = {a for m in catalog for a in m.aliases}
    assert not aliases & set(ids)  # aliases are a field, never a model of their own
    for item, row in zip(listing["data"], served, strict=True):
        SdkModel.model_validate(item)
        assert (item["object"], item["owned_by"], item["provider"]) == ("model", row.provider, row.provider)
        assert isinstance(item["created"], int)
        assert item["aliases"] == list(row.aliases)
        assert (item["context_window"], item["max_output"]) == (row.context_window, row.max_output)
        assert item["pricing"]["input"] == str(row.prices.input)
        assert item["pricing"]["output"] == str(row.prices.output)
        assert all(v is None or isinstance(v, str) for k, v in item["pricing"].items())
        assert item["price_verified"] is row.price_verified
        assert item["retired"] == (None if row.retired is None else row.retired.isoformat())


def test_models_list_leaves_out_models_chat_completions_cannot_serve() -> None:
    catalog = default_catalog()
    responses_only = [m.id for m in catalog if not m.chat_completions]
    listed = {m["id"] for m in orjson.loads(render_models(catalog))["data"]}
    assert not listed & set(responses_only)


def test_models_list_shows_long_context_prices() -> None:
    catalog = default_catalog()
    row = next((m for m in catalog if m.long_context is not None and m.chat_completions), None)
    if row is None:
        pytest.skip("no long-context row in the catalog")
    assert row.long_context is not None
    item = next(m for m in orjson.loads(render_models(catalog))["data"] if m["id"] == row.id)
    assert item["long_context_pricing"]["threshold_tokens"] == row.long_context.threshold
    assert item["long_context_pricing"]["input"] == str(row.long_context.input)


def test_stream_id_is_pinned_even_when_the_first_chunk_has_none() -> None:
    renderer = OpenAIStreamRenderer("m", 9, include_usage=True)
    first = event(renderer.chunk(chunk(Delta(content="a"), cid="")))
    later = event(renderer.chunk(chunk(Delta(content="b"), cid="chatcmpl-late")))
    final = event(renderer.usage_chunk(None, UNPRICED))
    assert first["id"] == later["id"] == final["id"] == "chatcmpl-9"


def test_starlette_headers_are_read_case_insensitively() -> None:
    headers = Headers(raw=[(b"X-Gateway-Cost-Optimization", b"off"), (b"x-gateway-fallback", b"on")])
    assert parse(body(), headers)[1] == ChatOptions(cost_optimization=False, fallback=True)
