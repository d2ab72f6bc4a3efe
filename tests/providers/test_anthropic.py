"""Anthropic adapter, request side (`anthropic.build_request`, providers.md section 5) and the contract exports.

Recorded requests and parse_request are in test_anthropic_request.py, JSON replies in
test_anthropic_reply.py, streams in test_anthropic_stream.py, errors in test_anthropic_errors.py.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from shared.errors import RequestError
from shared.providers import anthropic, anthropic_errors, anthropic_reply, anthropic_request, anthropic_stream
from shared.providers.anthropic import build_request
from shared.unified import (
    ChatRequest,
    ImagePart,
    Message,
    ReasoningBlock,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceFunction,
)

# --------------------------------------------------------------------------------------------
# build_request: providers.md section 5


def req(*messages: Message, **settings: Any) -> ChatRequest:
    return ChatRequest(model="claude-sonnet-4-5", messages=messages, **settings)


def body_of(request: ChatRequest, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(build_request(request, api_key="sk-ant-test", **kwargs).body)
    return result


def user(text: str) -> Message:
    return Message(role="user", content=text)


PNG = "data:image/png;base64,iVBORw0KGgo="


def test_url_headers_and_stream_flag() -> None:
    built = build_request(req(user("hi"), stream=True), api_key="sk-ant-test", base_url="http://127.0.0.1:8090/")
    assert (built.method, built.url, built.stream) == ("POST", "http://127.0.0.1:8090/v1/messages", True)
    assert built.headers == {
        "x-api-key": "sk-ant-test",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }
    assert orjson.loads(built.body)["stream"] is True
    plain = build_request(req(user("hi")), api_key="k")
    assert plain.url == "https://api.anthropic.com/v1/messages"
    assert "stream" not in orjson.loads(plain.body)
    assert anthropic.SPEC.name == "anthropic"
    assert anthropic.SPEC.default_base_url == anthropic.DEFAULT_BASE_URL == "https://api.anthropic.com"


def test_system_messages_in_any_position_are_hoisted_and_joined() -> None:
    body = body_of(
        req(
            Message(role="system", content="Be terse."),
            user("hi"),
            Message(role="system", content=(TextPart("Answer in "), TextPart("French."))),
            Message(role="assistant", content="Salut"),
            Message(role="system", content=""),
        )
    )
    assert body["system"] == "Be terse.\n\nAnswer in French."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]


def test_no_system_key_without_system_messages() -> None:
    assert "system" not in body_of(req(user("hi")))


def test_multi_part_user_content_with_data_image() -> None:
    body = body_of(req(Message(role="user", content=(TextPart("What is this?"), TextPart(""), ImagePart(PNG, "high")))))
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            ],
        }
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/cat.png",  # no server-side fetching (architecture decision)
        "http://example.com/cat.png",
        "data:image/bmp;base64,Qk0=",  # not one of jpeg/png/gif/webp
        "data:image/png,rawbytes",  # not base64
        "data:image/png;base64,",  # no data
    ],
)
def test_images_anthropic_cannot_take_are_request_errors(url: str) -> None:
    request = req(
        user("a"), Message(role="assistant", content="b"), Message(role="user", content=(TextPart("x"), ImagePart(url)))
    )
    with pytest.raises(RequestError) as info:
        build_request(request, api_key="k")
    assert info.value.field == "messages[2].content[1].image_url"
    assert info.value.status == 400


@pytest.mark.parametrize("mime", ["image/jpeg", "image/png", "image/gif", "image/webp"])
def test_every_supported_image_type(mime: str) -> None:
    body = body_of(req(Message(role="user", content=(ImagePart(f"data:{mime};base64,AAAA"),))))
    assert body["messages"][0]["content"][0]["source"] == {"type": "base64", "media_type": mime, "data": "AAAA"}


def test_tool_calls_and_tool_results() -> None:
    body = body_of(
        req(
            user("Weather in Paris and Rome?"),
            Message(
                role="assistant",
                content="Checking.",
                tool_calls=(
                    ToolCall(id="toolu_1", name="get_weather", arguments='{"city":"Paris"}'),
                    ToolCall(id="call_2", name="get_weather", arguments=""),
                ),
            ),
            Message(role="tool", tool_call_id="toolu_1", content="18C sunny"),
            Message(role="tool", tool_call_id="call_2", content=(TextPart("21C"), TextPart(" cloudy"))),
            user("And tomorrow?"),
        )
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C sunny"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": [{"type": "text", "text": "21C"}, {"type": "text", "text": " cloudy"}],
                },
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


def test_tool_results_go_before_user_text_in_a_merged_message() -> None:
    body = body_of(
        req(
            Message(role="assistant", tool_calls=(ToolCall(id="t1", name="f", arguments="{}"),)),
            user("note first"),
            Message(role="tool", tool_call_id="t1", content="done"),
        )
    )
    assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_result", "text"]


@pytest.mark.parametrize("arguments", ["[1, 2]", '"text"', "12", "{not json"])
def test_tool_call_arguments_that_are_not_a_json_object(arguments: str) -> None:
    request = req(
        user("go"),
        Message(
            role="assistant",
            tool_calls=(
                ToolCall(id="a", name="f", arguments="{}"),
                ToolCall(id="b", name="f", arguments=arguments),
            ),
        ),
    )
    with pytest.raises(RequestError) as info:
        build_request(request, api_key="k")
    assert info.value.field == "messages[1].tool_calls[1].function.arguments"


def test_tool_message_without_id_is_a_request_error() -> None:
    with pytest.raises(RequestError) as info:
        build_request(req(user("x"), Message(role="tool", content="r")), api_key="k")
    assert info.value.field == "messages[1].tool_call_id"


def test_reasoning_is_replayed_before_text_and_tool_use() -> None:
    assistant = Message(
        role="assistant",
        content="Let me look.",
        tool_calls=(ToolCall(id="toolu_9", name="lookup", arguments='{"q":"x"}'),),
        reasoning=(
            ReasoningBlock(text="I should look it up.", signature="sig-1"),
            ReasoningBlock(redacted=True, data="opaque"),
            ReasoningBlock(text="unsigned summary from another provider"),
        ),
    )
    content = body_of(req(user("q"), assistant))["messages"][1]["content"]
    assert content == [
        {"type": "thinking", "thinking": "I should look it up.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "x"}},
    ]


def test_empty_text_is_dropped_and_same_role_turns_are_merged() -> None:
    body = body_of(
        req(
            user("one"),
            Message(role="assistant", content=""),
            user("two"),
            Message(role="assistant", content="a"),
            Message(role="assistant", content=(TextPart("b"),)),
        )
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    ]


def test_a_request_with_only_system_messages_is_a_request_error() -> None:
    with pytest.raises(RequestError) as info:
        build_request(req(Message(role="system", content="s"), user("")), api_key="k")
    assert info.value.field == "messages"


def test_tools_and_defaults() -> None:
    tools = (
        Tool(name="get_weather", description="Weather", parameters={"type": "object", "properties": {"c": {}}}),
        Tool(name="ping"),
        Tool(name="strict_one", parameters={"type": "object", "properties": {}}, strict=True),
        Tool(name="lax", description="", strict=False),
    )
    body = body_of(req(user("x"), tools=tools))
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"c": {}}}},
        {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
        {"name": "strict_one", "input_schema": {"type": "object", "properties": {}}, "strict": True},
        {"name": "lax", "description": "", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in body


TOOLS = (Tool(name="f"),)


@pytest.mark.parametrize(
    ("choice", "parallel", "wire"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("required", None, {"type": "any"}),
        (ToolChoiceFunction("f"), None, {"type": "tool", "name": "f"}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (ToolChoiceFunction("f"), False, {"type": "tool", "name": "f", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("none", False, {"type": "none"}),
        ("auto", True, {"type": "auto"}),
        (None, None, None),
        (None, True, None),
    ],
)
def test_tool_choice_and_parallel_tool_calls(
    choice: ToolChoice | None, parallel: bool | None, wire: dict[str, Any] | None
) -> None:
    body = body_of(req(user("x"), tools=TOOLS, tool_choice=choice, parallel_tool_calls=parallel))
    assert body.get("tool_choice") == wire


def test_tool_choice_without_tools_is_not_sent() -> None:
    assert "tool_choice" not in body_of(req(user("x"), tool_choice="none", parallel_tool_calls=False))


def test_stop_sequences_and_dropped_parameters() -> None:
    body = body_of(req(user("x"), stop=("\n\nHuman:", "END"), seed=7, presence_penalty=0.5, frequency_penalty=0.1, n=1))
    assert body["stop_sequences"] == ["\n\nHuman:", "END"]
    for dropped in ("seed", "presence_penalty", "frequency_penalty", "n", "stop", "logprobs"):
        assert dropped not in body


def test_n_above_one_is_a_request_error() -> None:
    with pytest.raises(RequestError) as info:
        build_request(req(user("x"), n=2), api_key="k")
    assert info.value.field == "n"


@pytest.mark.parametrize(
    ("max_tokens", "model_max", "expected"),
    [
        (None, None, 4096),
        (None, 200_000, 4096),
        (None, 1000, 1000),
        (321, None, 321),
        (50_000, 8192, 50_000),  # the caller's own value passes (the provider judges it)
    ],
)
def test_max_tokens_is_always_sent(max_tokens: int | None, model_max: int | None, expected: int) -> None:
    assert body_of(req(user("x"), max_tokens=max_tokens), max_output_tokens=model_max)["max_tokens"] == expected


@pytest.mark.parametrize(
    ("temperature", "top_p", "expected"),
    [
        (1.5, None, {"temperature": 1.0}),
        (2.0, None, {"temperature": 1.0}),
        (0.3, None, {"temperature": 0.3}),
        (0.0, None, {"temperature": 0.0}),
        (0.7, 0.9, {"temperature": 0.7}),  # Claude 4.5+ reject both: top_p dropped
        (None, 0.9, {"top_p": 0.9}),
        (None, None, {}),
    ],
)
def test_temperature_clamp_and_top_p(
    temperature: float | None, top_p: float | None, expected: dict[str, float]
) -> None:
    body = body_of(req(user("x"), temperature=temperature, top_p=top_p))
    assert {k: body[k] for k in ("temperature", "top_p") if k in body} == expected


def test_top_k_and_user_pass_through() -> None:
    body = body_of(req(user("x"), top_k=40, user="user-123"))
    assert body["top_k"] == 40
    assert body["metadata"] == {"user_id": "user-123"}


def test_json_schema_response_format() -> None:
    schema: dict[str, object] = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    body = body_of(req(user("x"), response_format=ResponseFormat(type="json_schema", schema=schema, name="n")))
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "system" not in body


def test_json_schema_without_schema_is_a_request_error() -> None:
    with pytest.raises(RequestError):
        build_request(req(user("x"), response_format=ResponseFormat(type="json_schema")), api_key="k")


def test_json_object_adds_a_system_instruction() -> None:
    alone = body_of(req(user("x"), response_format=ResponseFormat(type="json_object")))
    assert alone["system"] == anthropic.JSON_OBJECT_INSTRUCTION
    assert "JSON object" in alone["system"]
    with_system = body_of(
        req(Message(role="system", content="Be nice."), user("x"), response_format=ResponseFormat(type="json_object"))
    )
    assert with_system["system"] == "Be nice.\n\n" + anthropic.JSON_OBJECT_INSTRUCTION
    assert "output_config" not in with_system
    assert "system" not in body_of(req(user("x"), response_format=ResponseFormat(type="text")))


@pytest.mark.parametrize(
    ("settings", "model_max", "thinking", "max_tokens"),
    [
        ({"reasoning_budget": 2000}, None, {"type": "enabled", "budget_tokens": 2000}, 4096),
        # budget >= max_tokens: raised to budget + the default answer room
        ({"reasoning_budget": 8000}, None, {"type": "enabled", "budget_tokens": 8000}, 12096),
        ({"reasoning_budget": 8000, "max_tokens": 1000}, None, {"type": "enabled", "budget_tokens": 8000}, 12096),
        # ... but never above the model's max output
        ({"reasoning_budget": 8000}, 10_000, {"type": "enabled", "budget_tokens": 8000}, 10_000),
        ({"reasoning_budget": 0}, None, {"type": "disabled"}, 4096),
        ({"reasoning_budget": 100}, None, {"type": "enabled", "budget_tokens": 1024}, 4096),  # minimum 1024
        ({"reasoning_effort": "none"}, None, {"type": "disabled"}, 4096),
        ({"reasoning_effort": "minimal"}, None, {"type": "enabled", "budget_tokens": 1024}, 4096),
        ({"reasoning_effort": "low"}, None, {"type": "enabled", "budget_tokens": 1024}, 4096),
        ({"reasoning_effort": "medium"}, None, {"type": "enabled", "budget_tokens": 4096}, 8192),
        ({"reasoning_effort": "high"}, None, {"type": "enabled", "budget_tokens": 16384}, 20480),
        ({"reasoning_effort": "HIGH"}, 64_000, {"type": "enabled", "budget_tokens": 16384}, 20480),
        ({"reasoning_effort": "xhigh"}, None, {"type": "enabled", "budget_tokens": 24576}, 28672),
        ({"reasoning_effort": "max"}, 64_000, {"type": "enabled", "budget_tokens": 32000}, 36096),
        # an effort-derived budget leaves half of a small model's output for the answer
        ({"reasoning_effort": "high"}, 8192, {"type": "enabled", "budget_tokens": 4096}, 8192),
        # an explicit budget wins over the effort
        (
            {"reasoning_effort": "high", "reasoning_budget": 1500},
            None,
            {"type": "enabled", "budget_tokens": 1500},
            4096,
        ),
        ({}, None, None, 4096),
    ],
)
def test_reasoning_to_thinking(
    settings: dict[str, Any], model_max: int | None, thinking: dict[str, Any] | None, max_tokens: int
) -> None:
    body = body_of(req(user("x"), **settings), max_output_tokens=model_max)
    assert body.get("thinking") == thinking
    assert body["max_tokens"] == max_tokens
    if thinking and thinking["type"] == "enabled":
        assert body["max_tokens"] > thinking["budget_tokens"]


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"reasoning_effort": "extreme"}, "reasoning_effort"), ({"reasoning_budget": -1}, "reasoning_budget")],
)
def test_bad_reasoning_settings(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestError) as info:
        build_request(req(user("x"), **settings), api_key="k")
    assert info.value.field == field


def test_effort_table_is_documented_and_monotonic() -> None:
    budgets = [anthropic.EFFORT_BUDGETS[e] for e in ("none", "minimal", "low", "medium", "high", "xhigh", "max")]
    assert budgets == sorted(budgets)
    assert all(b == 0 or b >= 1024 for b in budgets)


THINKING_ON: list[dict[str, Any]] = [{"reasoning_budget": 2000}, {"reasoning_effort": "low"}]
THINKING_OFF: list[dict[str, Any]] = [{}, {"reasoning_budget": 0}, {"reasoning_effort": "none"}]


@pytest.mark.parametrize("thinking", THINKING_ON)
@pytest.mark.parametrize(
    ("sampling", "expected"),
    [
        # extended-thinking docs: temperature only at 1, no top_k, top_p only in 0.95..1
        ({"temperature": 0.5}, {}),
        ({"temperature": 0.0}, {}),
        ({"temperature": 1.0}, {"temperature": 1.0}),
        ({"temperature": 1.7}, {"temperature": 1.0}),  # clamped to Anthropic's 1 first, then allowed
        ({"top_k": 40}, {}),
        ({"top_p": 0.5}, {"top_p": 0.95}),
        ({"top_p": 0.97}, {"top_p": 0.97}),
        ({"top_p": 1.0}, {"top_p": 1.0}),
        # the dropped temperature no longer displaces top_p (Claude 4.5+ rule, providers.md 2.1) ...
        ({"temperature": 0.2, "top_p": 0.3, "top_k": 5}, {"top_p": 0.95}),
        # ... an allowed one still does
        ({"temperature": 1.0, "top_p": 0.99}, {"temperature": 1.0}),
    ],
)
def test_thinking_limits_sampling(thinking: dict[str, Any], sampling: dict[str, Any], expected: dict[str, Any]) -> None:
    body = body_of(req(user("x"), **thinking, **sampling))
    assert body["thinking"]["type"] == "enabled"
    assert {k: body[k] for k in ("temperature", "top_p", "top_k") if k in body} == expected


@pytest.mark.parametrize("thinking", THINKING_OFF)
def test_sampling_is_untouched_without_thinking(thinking: dict[str, Any]) -> None:
    body = body_of(req(user("x"), temperature=0.5, top_k=40, **thinking))
    assert (body["temperature"], body["top_k"]) == (0.5, 40)
    assert body_of(req(user("x"), top_p=0.5, **thinking))["top_p"] == 0.5
    assert body.get("thinking") in (None, {"type": "disabled"})


def test_thinking_sampling_tables() -> None:
    assert anthropic.THINKING_ONLY_VALUES == {"temperature": 1.0, "top_k": None}
    assert anthropic.THINKING_CLAMPS == {"top_p": (0.95, 1.0)}


# Forced tool use (tool_choice any / tool) and extended thinking are rejected together (Anthropic
# extended-thinking docs, "Feature compatibility"): the forced tool stays, thinking is sent disabled.
FORCED_CHOICES: list[tuple[ToolChoice, bool | None, dict[str, Any]]] = [
    ("required", None, {"type": "any"}),
    (ToolChoiceFunction("f"), None, {"type": "tool", "name": "f"}),
    ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
    (ToolChoiceFunction("f"), False, {"type": "tool", "name": "f", "disable_parallel_tool_use": True}),
]


@pytest.mark.parametrize("thinking", [{"reasoning_budget": 8000}, {"reasoning_effort": "high"}])
@pytest.mark.parametrize(("choice", "parallel", "wire"), FORCED_CHOICES)
def test_forced_tool_choice_turns_thinking_off(
    thinking: dict[str, Any], choice: ToolChoice, parallel: bool | None, wire: dict[str, Any]
) -> None:
    request = req(
        user("x"), tools=TOOLS, tool_choice=choice, parallel_tool_calls=parallel, temperature=0.5, top_k=40, **thinking
    )
    body = body_of(request, max_output_tokens=64_000)
    assert body["tool_choice"] == wire
    assert body["thinking"] == {"type": "disabled"}
    # the thinking-only rules are gone with it: sampling as asked, no room made for a budget
    assert (body["temperature"], body["top_k"], body["max_tokens"]) == (0.5, 40, 4096)


@pytest.mark.parametrize(("choice", "parallel", "wire"), FORCED_CHOICES)
def test_forced_tool_choice_keeps_an_explicit_max_tokens(
    choice: ToolChoice, parallel: bool | None, wire: dict[str, Any]
) -> None:
    settings: dict[str, Any] = {"max_tokens": 1000, "top_p": 0.5, "reasoning_budget": 8000}
    body = body_of(req(user("x"), tools=TOOLS, tool_choice=choice, parallel_tool_calls=parallel, **settings))
    assert (body["tool_choice"], body["thinking"], body["max_tokens"], body["top_p"]) == (
        wire,
        {"type": "disabled"},
        1000,  # not raised to budget + answer room
        0.5,  # not clamped into 0.95..1
    )


@pytest.mark.parametrize("thinking", [{"reasoning_budget": 8000}, {"reasoning_effort": "high"}])
@pytest.mark.parametrize(
    ("choice", "parallel", "wire"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", None, {"type": "none"}),
        ("auto", False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, None, None),
    ],
)
def test_auto_and_none_tool_choices_keep_thinking(
    thinking: dict[str, Any], choice: ToolChoice | None, parallel: bool | None, wire: dict[str, Any] | None
) -> None:
    request = req(
        user("x"), tools=TOOLS, tool_choice=choice, parallel_tool_calls=parallel, temperature=0.5, top_k=40, **thinking
    )
    body = body_of(request, max_output_tokens=64_000)
    assert body.get("tool_choice") == wire
    assert body["thinking"]["type"] == "enabled"
    assert body["max_tokens"] > body["thinking"]["budget_tokens"] >= 8000
    # the thinking-only rules still apply
    assert "temperature" not in body
    assert "top_k" not in body


@pytest.mark.parametrize("choice", ["required", ToolChoiceFunction("f")])
def test_a_forced_choice_that_is_not_sent_leaves_thinking_on(choice: ToolChoice) -> None:
    body = body_of(req(user("x"), tool_choice=choice, reasoning_budget=2000))  # no tools: no tool_choice sent
    assert "tool_choice" not in body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2000}


@pytest.mark.parametrize(
    ("thinking", "wire"),
    [({}, None), ({"reasoning_budget": 0}, {"type": "disabled"}), ({"reasoning_effort": "none"}, {"type": "disabled"})],
)
@pytest.mark.parametrize("choice", ["required", ToolChoiceFunction("f")])
def test_a_forced_choice_without_thinking_adds_nothing(
    thinking: dict[str, Any], wire: dict[str, Any] | None, choice: ToolChoice
) -> None:
    body = body_of(req(user("x"), tools=TOOLS, tool_choice=choice, **thinking))
    assert body.get("thinking") == wire


def test_the_forced_tool_choice_table_names_wire_types_build_request_sends() -> None:
    incompatible = anthropic.THINKING_INCOMPATIBLE_TOOL_CHOICES
    assert incompatible == {"any", "tool"}
    # each is a type build_request really sends ("tool" for a named function); auto and none are not in it
    sent = {wire["type"] for wire in anthropic.TOOL_CHOICES.values()} | {"tool"}
    assert incompatible <= sent
    assert not incompatible & {"auto", "none"}


def test_the_module_exports_the_provider_contract() -> None:
    # parse_request lives in anthropic_request, parse_response in anthropic_reply, error
    # classification in anthropic_errors, the stream parser in anthropic_stream: re-exported here.
    assert anthropic.parse_request is anthropic_request.parse_request
    assert anthropic.parse_response is anthropic_reply.parse_response
    assert anthropic.classify_error is anthropic_errors.classify_error
    assert anthropic.stream_error is anthropic_errors.stream_error
    assert anthropic.AnthropicStreamParser is anthropic_stream.AnthropicStreamParser
    spec = anthropic.SPEC
    assert (spec.build_request, spec.parse_request, spec.parse_response) == (
        anthropic.build_request,
        anthropic.parse_request,
        anthropic.parse_response,
    )
    assert (spec.stream_parser, spec.classify_error) == (anthropic.stream_parser, anthropic.classify_error)
    for name in ("build_request", "parse_request", "parse_response", "stream_parser", "classify_error", "SPEC"):
        assert name in anthropic.__all__
    parser = anthropic.stream_parser(ChatRequest(model="m", messages=()))
    assert isinstance(parser, anthropic_stream.AnthropicStreamParser)
