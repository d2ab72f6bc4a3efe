"""OpenAI adapter, request side and JSON replies: recorded replies, request round trips, and the
hand-written cases of providers.md sections 1, 5 and 6 the recordings do not cover.

Streams are in test_openai_stream.py, error classification in test_openai_errors.py.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from shared.errors import ProviderError, RequestError
from shared.providers import openai
from shared.unified import (
    ChatRequest,
    ImagePart,
    Message,
    ReasoningBlock,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoiceFunction,
    Usage,
)
from tests.recordings import entries, load_bytes, load_json, require_recordings

# --- recorded JSON replies -------------------------------------------------------------------------
# Values read from the recordings by hand: (text, refusal, [(call id, name, arguments)], finish, usage).
JSON_REPLIES: dict[str, tuple[str | None, str | None, list[tuple[str, str, dict[str, Any]]], str, Usage]] = {
    "openai/text.json": (
        "Paris.",
        None,
        [],
        "stop",
        Usage(input_tokens=13, output_tokens=11),
    ),
    "openai/tool_call.json": (
        None,
        None,
        [
            ("call_rU416PaA6UFgxje2GemBVAwt", "get_current_weather", {"location": "San Francisco"}),
            ("call_iqCZB6DkOW5TPjHK29vpiAFa", "get_current_weather", {"location": "Boston"}),
        ],
        "tool_calls",
        Usage(input_tokens=70, output_tokens=46),
    ),
    "openai/reasoning.json": (
        None,
        None,
        [("call_Dk8G5htPzhMf2i4H8wOrLKae", "comapny_customer_data", {})],
        "tool_calls",
        Usage(input_tokens=113, output_tokens=347, reasoning_tokens=320),
    ),
    "openai/usage_cached.json": (
        "Structuring a database schema effectively is crucial",  # a prefix: the reply is long
        None,
        [],
        "length",
        Usage(input_tokens=1220, output_tokens=100, cached_input_tokens=1152),
    ),
    "openai/refusal.json": (
        None,
        "I'm very sorry, but I can't assist with that request.",
        [],
        "stop",
        Usage(input_tokens=65, output_tokens=13),
    ),
}
JSON_IDS: dict[str, tuple[str, str, int]] = {
    "openai/text.json": ("chatcmpl-DO4LcSpy72yIXCYSIVOQEXWNXydgn", "gpt-5-2025-08-07", 1774628956),
    "openai/refusal.json": ("chatcmpl-AGky8KFDbg6f5fF4qLtsBredIjZZh", "gpt-4o-2024-08-06", 1728557160),
}
STREAMS = (
    "openai/stream_text.sse",
    "openai/stream_text_2.sse",
    "openai/stream_tool_call.sse",
    "openai/stream_tool_call_2.sse",
    "openai/stream_usage.sse",
)
ERRORS = ("openai/error_400.json", "openai/error_400_2.json", "openai/error_401.json", "openai/error_404.json")


def test_every_openai_recording_is_covered_by_a_table() -> None:
    require_recordings()
    files = {e["file"] for e in entries("openai")}
    assert files == set(JSON_REPLIES) | set(STREAMS) | set(ERRORS)


@pytest.mark.parametrize("file", sorted(JSON_REPLIES))
def test_recorded_json_reply(file: str) -> None:
    text, refusal, calls, finish, usage = JSON_REPLIES[file]
    response = openai.parse_response(load_bytes(file))
    (choice,) = response.choices
    if text is None:
        assert choice.message.content is None
    else:
        assert choice.message.content is not None
        assert choice.message.content.startswith(text)
    assert choice.message.refusal == refusal
    got_calls = [(c.id, c.name, json.loads(c.arguments)) for c in choice.message.tool_calls]
    assert got_calls == calls
    assert choice.finish_reason == finish
    assert response.usage == usage
    assert response.provider_finish_reason is None
    if file in JSON_IDS:
        assert (response.id, response.model, response.created) == JSON_IDS[file]


# --- round trips of every recorded request -----------------------------------------------------------
# What build_request deliberately emits differently from a recorded request, one line of reason each:
# - `max_tokens` goes out as `max_completion_tokens` (the old name is deprecated, rejected by o-series).
# - `stream: false` is omitted (it is the default).
# - `tools: null` is omitted (no tools); `tool_choice` / `parallel_tool_calls` without tools are omitted
#   (OpenAI rejects them without tools).
# - role `developer` goes out as `system` (the unified system role covers both).
# - `stream_options` is always `{"include_usage": true}` on a stream (the gateway bills from usage).
# OpenAI keys are snake_case on both sides: the key-case normalization is the identity here.
MALFORMED_REQUESTS = {"openai/error_400_2.request.json": "messages[1].content[0].type"}


def _normalize(original: dict[str, Any]) -> dict[str, Any]:
    body = dict(original)
    if "max_tokens" in body:
        body.setdefault("max_completion_tokens", body.pop("max_tokens"))
    if body.get("stream") is False:
        del body["stream"]
    if body.get("stream"):
        body["stream_options"] = {"include_usage": True}
    if not body.get("tools"):
        for key in ("tools", "tool_choice", "parallel_tool_calls"):
            body.pop(key, None)
    body["messages"] = [{**m, "role": "system"} if m.get("role") == "developer" else m for m in body["messages"]]
    return body


def _request_files() -> list[str]:
    return sorted(str(e["request_file"]) for e in entries("openai") if e["request_file"])


def test_round_trip_list_is_not_empty_when_recordings_exist() -> None:
    require_recordings()
    assert len(_request_files()) == 14


@pytest.mark.parametrize("file", _request_files() or ["(recordings absent)"])
def test_recorded_request_round_trip(file: str) -> None:
    original = load_json(file)
    if file in MALFORMED_REQUESTS:
        with pytest.raises(RequestError) as caught:
            openai.parse_request(original)
        assert caught.value.field == MALFORMED_REQUESTS[file]
        return
    request = openai.parse_request(original)
    rebuilt = orjson.loads(openai.build_request(request, api_key="k").body)
    assert rebuilt == _normalize(original)


def test_round_trip_keeps_developer_role_as_system() -> None:
    original = {
        "model": "o3",
        "messages": [{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "hi"}],
    }
    rebuilt = orjson.loads(openai.build_request(openai.parse_request(original), api_key="k").body)
    assert rebuilt["messages"][0] == {"role": "system", "content": "Be terse."}
    assert rebuilt == _normalize(original)


# --- build_request ----------------------------------------------------------------------------------


def build(request: ChatRequest, **kwargs: Any) -> dict[str, Any]:
    return dict(orjson.loads(openai.build_request(request, api_key="sk-test", **kwargs).body))


def req(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="gpt-4.1", messages=messages or (Message(role="user", content="hi"),), **fields)


def test_http_request_url_headers_and_method() -> None:
    http = openai.build_request(req(), api_key="sk-test")
    assert http.method == "POST"
    assert http.url == "https://api.openai.com/v1/chat/completions"
    assert http.headers == {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
    assert http.stream is False
    other = openai.build_request(req(), api_key="k", base_url="http://127.0.0.1:8090/v1/")
    assert other.url == "http://127.0.0.1:8090/v1/chat/completions"


def test_minimal_body_has_only_model_and_messages() -> None:
    assert build(req()) == {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}


def test_system_prompts_stay_in_place_at_any_position() -> None:
    body = build(
        req(
            Message(role="system", content="first"),
            Message(role="user", content="hi"),
            Message(role="system", content=(TextPart("later"),), name="ops"),
        )
    )
    assert body["messages"] == [
        {"role": "system", "content": "first"},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "later"}], "name": "ops"},
    ]


def test_multi_part_user_content_with_data_and_https_images() -> None:
    content = (
        TextPart("What is in these?"),
        ImagePart(url="data:image/png;base64,iVBOR", detail="low"),
        ImagePart(url="https://example.com/cat.jpg"),
    )
    body = build(req(Message(role="user", content=content, name="ann")))
    assert body["messages"] == [
        {
            "role": "user",
            "name": "ann",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "low"}},
                # OpenAI fetches https images itself: passed through, unlike Anthropic and Gemini.
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        }
    ]


@pytest.mark.parametrize("role", ["system", "assistant", "tool"])
def test_image_outside_a_user_message_is_a_request_error(role: str) -> None:
    message = Message(role=role, content=(TextPart("x"), ImagePart(url="data:image/png;base64,AA")), tool_call_id="c")  # type: ignore[arg-type]
    with pytest.raises(RequestError) as caught:
        build(req(Message(role="user", content="hi"), message))
    assert caught.value.field == "messages[1].content[1]"


def test_assistant_tool_calls_and_tool_results() -> None:
    body = build(
        req(
            Message(role="user", content="weather?"),
            Message(
                role="assistant",
                tool_calls=(
                    ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}', thought_signature="sig"),
                    ToolCall(id="call_2", name="get_time", arguments=""),
                ),
                reasoning=(ReasoningBlock(text="thinking", signature="s"),),
            ),
            Message(role="tool", content="18C", tool_call_id="call_1", name="get_weather"),
            Message(role="tool", content=(TextPart("noon"),), tool_call_id="call_2"),
        )
    )
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                # Empty arguments mean {} in the unified form; OpenAI wants a JSON string.
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
            ],
        },
        # No `name` on the tool role (OpenAI's tool message has none).
        {"role": "tool", "content": "18C", "tool_call_id": "call_1"},
        {"role": "tool", "content": [{"type": "text", "text": "noon"}], "tool_call_id": "call_2"},
    ]


def test_assistant_text_with_reasoning_emits_only_the_text() -> None:
    message = Message(role="assistant", content="Hi", reasoning=(ReasoningBlock(text="t", signature="s"),))
    assert build(req(Message(role="user", content="x"), message))["messages"][1] == {
        "role": "assistant",
        "content": "Hi",
    }


def test_tool_message_without_call_id_is_a_request_error() -> None:
    with pytest.raises(RequestError) as caught:
        build(req(Message(role="user", content="x"), Message(role="tool", content="r")))
    assert caught.value.field == "messages[1].tool_call_id"


TOOL = Tool(name="get_weather", description="Weather", parameters={"type": "object", "properties": {}}, strict=True)


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        (ToolChoiceFunction("get_weather"), {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_tools_and_tool_choice_variants(choice: Any, wire: Any) -> None:
    body = build(req(tools=(TOOL, Tool(name="bare")), tool_choice=choice, parallel_tool_calls=False))
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather",
                "parameters": {"type": "object", "properties": {}},
                "strict": True,
            },
        },
        {"type": "function", "function": {"name": "bare"}},
    ]
    assert body["tool_choice"] == wire
    assert body["parallel_tool_calls"] is False


def test_tool_choice_and_parallel_tool_calls_without_tools_are_dropped() -> None:
    body = build(req(tool_choice="none", parallel_tool_calls=True))
    assert "tool_choice" not in body
    assert "parallel_tool_calls" not in body
    assert "tools" not in body


def test_generation_settings_pass_through_and_max_tokens_is_renamed() -> None:
    body = build(
        req(
            max_tokens=512,
            temperature=1.7,  # OpenAI's range is 0-2, the widest: no clamp
            top_p=0.9,
            n=2,
            seed=7,
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            user="u-1",
            reasoning_effort="high",
            stop=("\n\n", "END"),
        ),
        max_output_tokens=32_768,  # the catalog max: only Anthropic uses it
    )
    assert body == {
        "model": "gpt-4.1",
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 512,
        "temperature": 1.7,
        "top_p": 0.9,
        "n": 2,
        "seed": 7,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "user": "u-1",
        "reasoning_effort": "high",
        "stop": ["\n\n", "END"],
    }
    assert "max_tokens" not in body


def test_settings_without_an_openai_equivalent_are_dropped() -> None:
    body = build(req(top_k=40, reasoning_budget=2048, include_reasoning=True))
    assert body == {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}


def test_more_than_four_stop_sequences_is_a_request_error() -> None:
    build(req(stop=("a", "b", "c", "d")))
    with pytest.raises(RequestError) as caught:
        build(req(stop=("a", "b", "c", "d", "e")))
    assert caught.value.field == "stop"


@pytest.mark.parametrize(
    ("fmt", "wire"),
    [
        (ResponseFormat(type="text"), {"type": "text"}),
        (ResponseFormat(type="json_object"), {"type": "json_object"}),
        (
            ResponseFormat(type="json_schema", schema={"type": "object"}, name="answer", strict=True),
            {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True}},
        ),
        (
            ResponseFormat(type="json_schema", schema={"type": "object"}),
            {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}}},
        ),
    ],
)
def test_response_format(fmt: ResponseFormat, wire: dict[str, Any]) -> None:
    assert build(req(response_format=fmt))["response_format"] == wire


@pytest.mark.parametrize("include_usage", [False, True])
def test_stream_always_asks_for_usage(include_usage: bool) -> None:
    http = openai.build_request(req(stream=True, include_usage=include_usage), api_key="k")
    body = orjson.loads(http.body)
    assert http.stream is True
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


# --- parse_request ----------------------------------------------------------------------------------


def test_parse_request_reads_every_field() -> None:
    body = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "developer", "content": "rules"},
            {
                "role": "user",
                "name": "ann",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "no"}],
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": False}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "max_tokens": 10,
        "max_completion_tokens": 20,
        "temperature": 1,
        "stop": "END",
        "response_format": {"type": "json_object"},
        "stream": True,
        "stream_options": {"include_usage": True},
        "reasoning_effort": "low",
        "logprobs": True,  # not carried by the unified form: ignored
    }
    request = openai.parse_request(body)
    assert request.messages == (
        Message(role="system", content="rules"),
        Message(
            role="user",
            name="ann",
            content=(TextPart("look"), ImagePart(url="https://x/y.png", detail="high")),
        ),
        Message(role="assistant", content=(TextPart("no"),), tool_calls=(ToolCall(id="c1", name="f", arguments="{}"),)),
        Message(role="tool", content="done", tool_call_id="c1"),
    )
    assert request.tools == (Tool(name="f", parameters={"type": "object"}, strict=False),)
    assert request.tool_choice == ToolChoiceFunction("f")
    assert request.parallel_tool_calls is False
    assert request.max_tokens == 20  # the current name wins over the deprecated one
    assert request.temperature == 1
    assert request.stop == ("END",)
    assert request.response_format == ResponseFormat(type="json_object")
    assert request.stream is True
    assert request.include_usage is True
    assert request.reasoning_effort == "low"


def test_parse_request_takes_the_model_argument_when_the_body_has_none() -> None:
    assert openai.parse_request({"messages": [{"role": "user", "content": "x"}]}, model="gpt-5").model == "gpt-5"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": "hi"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": ["Invalid content"]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "m", "messages": [{"role": "user", "content": ["x"]}]}, "messages[0].content[0]"),
        ({"model": "m", "messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages[0].content[0].type"),
        (
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "messages[0].content[0].type",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]}, "messages[0].content[0].text"),
        (
            {
                "model": "m",
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u", "detail": "max"}}]}
                ],
            },
            "messages[0].content[0].image_url.detail",
        ),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {
                "model": "m",
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}],
                    }
                ],
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": True}, "n"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5}, "max_tokens"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": ["a", 1]}, "stop[1]"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": {}}, "tools"),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "custom"}]},
            "tools[0].type",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "any"}, "tool_choice"),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}},
            "response_format.type",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}, "stream"),
    ],
)
def test_parse_request_names_the_malformed_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as caught:
        openai.parse_request(body)
    assert caught.value.field == field
    assert caught.value.status == 400


# --- parse_response (hand-written) ------------------------------------------------------------------


def reply(finish: Any = "stop", usage: Any = None, message: Any = None) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 5,
        "model": "gpt-4.1",
        "choices": [
            {"index": 0, "message": message or {"role": "assistant", "content": "ok"}, "finish_reason": finish}
        ],
        "usage": usage,
    }
    return orjson.dumps(body)


@pytest.mark.parametrize(
    ("wire", "finish", "provider_finish"),
    [
        ("stop", "stop", None),
        ("length", "length", None),
        ("tool_calls", "tool_calls", None),
        ("content_filter", "content_filter", None),
        ("function_call", "tool_calls", "function_call"),  # deprecated functions API
        ("something_new", "stop", "something_new"),  # unknown values end normally
    ],
)
def test_finish_reason_table(wire: str, finish: str, provider_finish: str | None) -> None:
    response = openai.parse_response(reply(finish=wire))
    assert response.choices[0].finish_reason == finish
    assert response.provider_finish_reason == provider_finish


def test_usage_with_cache_reads_cache_writes_and_reasoning() -> None:
    usage = {
        "prompt_tokens": 2000,
        "completion_tokens": 500,
        "total_tokens": 2500,
        "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 512, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 300},
    }
    response = openai.parse_response(reply(usage=usage))
    # prompt_tokens already counts cache reads and writes; completion_tokens counts reasoning.
    assert response.usage == Usage(
        input_tokens=2000, output_tokens=500, cached_input_tokens=1024, cache_write_tokens=512, reasoning_tokens=300
    )
    assert response.usage.total_tokens == 2500


def test_usage_with_null_details_and_no_usage() -> None:
    bare = {
        "prompt_tokens": 3,
        "completion_tokens": 1,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    assert openai.parse_response(reply(usage=bare)).usage == Usage(input_tokens=3, output_tokens=1)
    assert openai.parse_response(reply()).usage is None


def test_reply_with_text_and_tool_calls() -> None:
    message = {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}],
    }
    response = openai.parse_response(reply(finish="tool_calls", message=message))
    assert response.choices[0].message.content == "Checking."
    assert response.choices[0].message.tool_calls == (ToolCall(id="c", name="f", arguments='{"a":1}'),)
    assert (response.id, response.model, response.created) == ("chatcmpl-1", "gpt-4.1", 5)


def test_reply_that_is_not_json_is_a_retryable_provider_error() -> None:
    with pytest.raises(ProviderError) as caught:
        openai.parse_response(b"<html>bad gateway</html>")
    assert caught.value.kind == "api_error"
    assert caught.value.retryable is True


def test_error_object_in_a_200_reply_is_classified() -> None:
    body = b'{"error": {"message": "The server had an error", "type": "server_error"}}'
    with pytest.raises(ProviderError) as caught:
        openai.parse_response(body)
    assert caught.value.kind == "api_error"
    assert caught.value.retryable is True
    assert caught.value.in_stream is False


def test_spec_is_wired_to_the_module_functions() -> None:
    spec = openai.SPEC
    assert spec.name == "openai"
    assert spec.default_base_url == "https://api.openai.com/v1"
    assert spec.build_request is openai.build_request
    assert spec.parse_response is openai.parse_response
    assert spec.classify_error is openai.classify_error
    assert spec.parse_request is openai.parse_request
    assert spec.stream_parser is openai.stream_parser
