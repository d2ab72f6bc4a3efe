"""Gemini build_request (shared.providers.gemini): the hand-written cases of providers.md sections
3.1 and 5 (URL and headers, system prompts, content parts and images, tools and tool results,
tool_choice, generation settings, clamps, JSON mode, thinking), and the SPEC wiring.

Recorded replies are in test_gemini_reply.py, parse_request and the round trips of the recorded
requests in test_gemini_request.py, streams in test_gemini_stream.py, errors in test_gemini_errors.py.
The helpers `req`, `build` and `user` are shared with test_gemini_request.py.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shared.errors import RequestError
from shared.providers import gemini, gemini_errors, gemini_reply, gemini_schema, gemini_stream
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
)

# --- build_request: hand-written cases (providers.md sections 3.1 and 5) ----------------------------
PNG = "data:image/png;base64,iVBORw0KGgo="
TOOL = Tool(
    name="get_weather",
    description="Weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    strict=True,
)


def req(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model=fields.pop("model", "gemini-2.5-flash"), messages=messages, **fields)


def build(request: ChatRequest, **kwargs: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(gemini.build_request(request, api_key="k", **kwargs).body)
    return body


def user(content: Any) -> Message:
    return Message(role="user", content=content)


def test_http_request_url_headers_and_method() -> None:
    http = gemini.build_request(req(user("hi")), api_key="AIza-secret")
    assert http.method == "POST"
    assert http.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert http.headers == {"x-goog-api-key": "AIza-secret", "content-type": "application/json"}
    assert http.stream is False
    assert "AIza-secret" not in http.url


def test_stream_url_and_custom_base_url() -> None:
    request = req(user("hi"), model="models/gemini-3-pro-preview", stream=True, include_usage=True)
    http = gemini.build_request(request, api_key="k", base_url="http://127.0.0.1:8090/v1beta/")
    assert http.url == "http://127.0.0.1:8090/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse"
    assert http.stream is True
    assert orjson.loads(http.body) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_minimal_body_and_max_output_tokens_argument_is_ignored() -> None:
    assert build(req(user("hi")), max_output_tokens=8192) == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_system_prompts_from_any_position_are_joined_into_system_instruction() -> None:
    body = build(
        req(
            Message(role="system", content="Be terse."),
            user("a"),
            Message(role="system", content=(TextPart("Answer in "), TextPart("French."))),
            Message(role="assistant", content="b"),
            Message(role="system", content=""),
            user("c"),
        )
    )
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse.\n\nAnswer in French."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}]},
        {"role": "model", "parts": [{"text": "b"}]},
        {"role": "user", "parts": [{"text": "c"}]},
    ]


def test_only_system_messages_is_a_request_error() -> None:
    with pytest.raises(RequestError) as caught:
        build(req(Message(role="system", content="x")))
    assert caught.value.field == "messages"


def test_consecutive_same_role_turns_are_merged() -> None:
    body = build(
        req(user("a"), user((TextPart("b"), TextPart(""), TextPart("c"))), Message(role="assistant", content="d"))
    )
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}, {"text": "c"}]},
        {"role": "model", "parts": [{"text": "d"}]},
    ]


def test_multi_part_content_with_data_urls_of_any_mime_type() -> None:
    body = build(
        req(
            user(
                (
                    TextPart("What is this?"),
                    ImagePart(PNG, detail="high"),
                    ImagePart("data:application/pdf;base64,JVBERi0="),
                    ImagePart("data:,hello%20world"),
                )
            )
        )
    )
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        # A data: URL without ;base64 is percent-encoded text; RFC 2397's default type is text/plain.
        {"inlineData": {"mimeType": "text/plain", "data": "aGVsbG8gd29ybGQ="}},
    ]


@pytest.mark.parametrize("url", ["https://example.com/cat.png", "http://example.com/cat.png", "gs://bucket/cat.png"])
def test_image_urls_other_than_data_are_rejected(url: str) -> None:
    # Architecture decision: no server-side fetching of user URLs for Gemini.
    with pytest.raises(RequestError) as caught:
        build(req(Message(role="system", content="s"), user((TextPart("look"), ImagePart(url)))))
    assert caught.value.field == "messages[1].content[1].image_url"
    assert caught.value.status == 400


def test_malformed_data_url_is_rejected() -> None:
    with pytest.raises(RequestError) as caught:
        build(req(user((ImagePart("data:image/png;base64"),))))
    assert caught.value.field == "messages[0].content[0].image_url"


def test_assistant_tool_calls_and_tool_results() -> None:
    body = build(
        req(
            user("Weather in Paris and Rome?"),
            Message(
                role="assistant",
                content="Checking.",
                tool_calls=(
                    ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}', thought_signature="sig-1"),
                    ToolCall(id="call_2", name="get_time", arguments=""),
                ),
            ),
            Message(role="tool", tool_call_id="call_2", content="12:00"),
            Message(role="tool", tool_call_id="call_1", content='{"temp": 18, "sky": "sunny"}'),
            user("Thanks"),
            parallel_tool_calls=False,
        )
    )
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "sig-1"},
                # No signature kept for this call: the documented placeholder (providers.md 3.1 ⚠).
                {
                    "functionCall": {"name": "get_time", "args": {}},
                    "thoughtSignature": "skip_thought_signature_validator",
                },
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18, "sky": "sunny"}}},
                {"text": "Thanks"},
            ],
        },
    ]
    assert gemini.SKIP_THOUGHT_SIGNATURE == "skip_thought_signature_validator"


@pytest.mark.parametrize("content", ["[1, 2]", "42", "not json", "", '"quoted"'])
def test_tool_results_that_are_not_json_objects_are_wrapped(content: str) -> None:
    body = build(
        req(
            Message(role="assistant", tool_calls=(ToolCall(id="c", name="f", arguments="{}"),)),
            Message(role="tool", tool_call_id="c", content=content),
        )
    )
    assert body["contents"][1]["parts"] == [{"functionResponse": {"name": "f", "response": {"result": content}}}]


@pytest.mark.parametrize("call_id", [None, "call_unknown", "call_later"])
def test_tool_result_for_an_unknown_call_is_a_request_error(call_id: str | None) -> None:
    messages = (
        user("hi"),
        Message(role="tool", tool_call_id=call_id, content="x"),
        Message(role="assistant", tool_calls=(ToolCall(id="call_later", name="f", arguments="{}"),)),
    )
    with pytest.raises(RequestError) as caught:
        build(req(*messages))
    assert caught.value.field == "messages[1].tool_call_id"


@pytest.mark.parametrize("arguments", ["{not json", "[1]", '"x"'])
def test_tool_call_arguments_must_be_a_json_object(arguments: str) -> None:
    message = Message(
        role="assistant",
        tool_calls=(ToolCall(id="a", name="f", arguments="{}"), ToolCall(id="b", name="g", arguments=arguments)),
    )
    with pytest.raises(RequestError) as caught:
        build(req(user("hi"), message))
    assert caught.value.field == "messages[1].tool_calls[1].function.arguments"


def test_reasoning_blocks_go_back_as_thought_parts_with_the_turn_signature_on_the_first_answer_part() -> None:
    message = Message(
        role="assistant",
        content="The answer.",
        reasoning=(ReasoningBlock(text="Thinking.", signature="turn-sig"), ReasoningBlock(redacted=True, data="x")),
    )
    assert build(req(user("q"), message))["contents"][1]["parts"] == [
        {"text": "Thinking.", "thought": True},
        {"text": "The answer.", "thoughtSignature": "turn-sig"},
    ]
    only_signature = Message(role="assistant", content="2 + 2 is 4.", reasoning=(ReasoningBlock(signature="s"),))
    assert build(req(user("q"), only_signature))["contents"][1]["parts"] == [
        {"text": "2 + 2 is 4.", "thoughtSignature": "s"}
    ]


def test_tools_are_function_declarations_with_json_schema() -> None:
    tools = (
        TOOL,
        Tool(name="no_params", description=None, parameters={"type": "object", "properties": {}}),
        Tool(name="no_schema"),
        Tool(name="by_ref", parameters={"$ref": "#/$defs/A", "$defs": {"A": {"type": "object"}}}),
    )
    body = build(req(user("hi"), tools=tools))
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                },
                {"name": "no_params"},
                {"name": "no_schema"},
                {"name": "by_ref", "parametersJsonSchema": {"$ref": "#/$defs/A", "$defs": {"A": {"type": "object"}}}},
            ]
        }
    ]
    assert "toolConfig" not in body


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (ToolChoiceFunction("get_weather"), {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
def test_tool_choice_variants(choice: Any, config: dict[str, Any]) -> None:
    body = build(req(user("hi"), tools=(TOOL,), tool_choice=choice, parallel_tool_calls=True))
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert "parallelToolCalls" not in str(body)


def test_tool_choice_without_tools_is_dropped_and_an_unknown_forced_function_is_an_error() -> None:
    assert "toolConfig" not in build(req(user("hi"), tool_choice="required", parallel_tool_calls=False))
    with pytest.raises(RequestError) as caught:
        build(req(user("hi"), tools=(TOOL,), tool_choice=ToolChoiceFunction("other")))
    assert caught.value.field == "tool_choice"


def test_generation_settings() -> None:
    body = build(
        req(
            user("hi"),
            max_tokens=256,
            temperature=0.7,
            top_p=0.9,
            top_k=40,
            stop=("a", "b", "c", "d", "e", "f", "g"),
            n=2,
            seed=7,
            presence_penalty=0.5,
            frequency_penalty=-0.5,
            user="end-user-1",
        )
    )
    assert body["generationConfig"] == {
        "maxOutputTokens": 256,
        "temperature": 0.7,
        "topP": 0.9,
        "topK": 40,
        "stopSequences": ["a", "b", "c", "d", "e"],
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
    }
    assert "end-user-1" not in str(body)


@pytest.mark.parametrize(("temperature", "sent"), [(-1.0, 0.0), (0.0, 0.0), (2.0, 2.0), (3.5, 2.0)])
def test_temperature_is_clamped_to_gemini_range(temperature: float, sent: float) -> None:
    assert build(req(user("hi"), temperature=temperature))["generationConfig"] == {"temperature": sent}


@pytest.mark.parametrize(
    ("fmt", "config"),
    [
        (ResponseFormat(type="text"), None),
        (ResponseFormat(type="json_object"), {"responseMimeType": "application/json"}),
        (
            ResponseFormat(type="json_schema", name="x", strict=True, schema={"type": "object", "properties": {}}),
            {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object", "properties": {}}},
        ),
    ],
)
def test_response_format(fmt: ResponseFormat, config: dict[str, Any] | None) -> None:
    assert build(req(user("hi"), response_format=fmt)).get("generationConfig") == config


THINKING_LEVEL_CASES = [
    ("none", "MINIMAL"),
    ("minimal", "MINIMAL"),
    ("low", "LOW"),
    ("medium", "MEDIUM"),
    ("high", "HIGH"),
    ("xhigh", "HIGH"),
    ("max", "HIGH"),
]
THINKING_BUDGET_CASES = [
    ("none", 0),
    ("minimal", 512),
    ("low", 1024),
    ("medium", 8192),
    ("high", 24576),
    ("xhigh", 24576),
    ("max", 24576),
]


@pytest.mark.parametrize(("effort", "level"), THINKING_LEVEL_CASES)
def test_reasoning_effort_is_a_thinking_level_on_gemini_3(effort: str, level: str) -> None:
    body = build(req(user("hi"), model="gemini-3-pro-preview", reasoning_effort=effort, include_reasoning=True))
    assert body["generationConfig"] == {"thinkingConfig": {"thinkingLevel": level, "includeThoughts": True}}


@pytest.mark.parametrize(("effort", "budget"), THINKING_BUDGET_CASES)
def test_reasoning_effort_is_a_thinking_budget_before_gemini_3(effort: str, budget: int) -> None:
    body = build(req(user("hi"), model="gemini-2.5-flash", reasoning_effort=effort.upper()))
    assert body["generationConfig"] == {"thinkingConfig": {"thinkingBudget": budget}}


def test_reasoning_budget_wins_over_effort_and_include_reasoning_false_is_sent() -> None:
    body = build(
        req(user("hi"), model="gemini-3-flash", reasoning_budget=2048, reasoning_effort="low", include_reasoning=False)
    )
    assert body["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": False}}


def test_unknown_reasoning_effort_is_a_request_error() -> None:
    with pytest.raises(RequestError) as caught:
        build(req(user("hi"), reasoning_effort="extreme"))
    assert caught.value.field == "reasoning_effort"


def test_spec_is_wired_to_the_module_functions() -> None:
    spec = gemini.SPEC
    assert spec.name == "gemini"
    assert spec.default_base_url == gemini.DEFAULT_BASE_URL == "https://generativelanguage.googleapis.com/v1beta"
    assert spec.build_request is gemini.build_request
    assert spec.parse_response is gemini.parse_response
    assert spec.stream_parser is gemini.stream_parser
    assert spec.classify_error is gemini.classify_error
    assert spec.parse_request is gemini.parse_request


def test_contract_names_are_re_exported_from_their_modules() -> None:
    assert gemini.parse_request is gemini_schema.parse_request
    assert gemini.parse_response is gemini_reply.parse_response
    assert gemini.classify_error is gemini_errors.classify_error
    assert gemini.GeminiStreamParser is gemini_stream.GeminiStreamParser
    assert gemini.JsonArrayStreamParser is gemini_stream.JsonArrayStreamParser
    assert isinstance(
        gemini.stream_parser(gemini.parse_request({"contents": []}, model="m")), gemini_stream.GeminiStreamParser
    )
