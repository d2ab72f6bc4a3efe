"""Messages, tools and tool choice (shared.api.messages): the input models' own checks and the rules a schema
cannot say, called directly. Field names follow the wire's `FieldNames` table. The wires' tests cover the
same rules through a whole request body."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.api.body import request_error
from shared.api.messages import (
    ROLES,
    MessageIn,
    ToolChoiceIn,
    ToolIn,
    to_messages,
    to_tool_choice,
    to_tools,
)
from shared.errors import RequestError
from shared.unified import ImagePart, Message, TextPart, Tool, ToolCall, ToolChoiceFunction

CAMEL = {"tool_calls": "toolCalls", "tool_call_id": "toolCallId", "tool_choice": "toolChoice"}
USER = {"role": "user", "content": "hi"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
ASSISTANT_CALL = {"role": "assistant", "tool_calls": [CALL]}
WEATHER = Tool(name="get_weather")

_MESSAGES = TypeAdapter(list[MessageIn])
_TOOLS = TypeAdapter(list[ToolIn])
_CHOICE: TypeAdapter[Any] = TypeAdapter(ToolChoiceIn)


def messages(*items: dict[str, Any], names: dict[str, str] | None = None) -> tuple[Message, ...]:
    return to_messages(_MESSAGES.validate_python(list(items)), names or {})


def refused(*items: dict[str, Any], names: dict[str, str] | None = None) -> RequestError:
    with pytest.raises(RequestError) as info:
        messages(*items, names=names)
    assert info.value.status == 400
    assert info.value.field is not None
    assert info.value.message.startswith(info.value.field)
    return info.value


# --- messages ----------------------------------------------------------------------------------------------


def test_roles_map_onto_the_unified_roles() -> None:
    assert ROLES["developer"] == "system"
    assert {ROLES[r] for r in ("system", "user", "assistant", "tool")} == {"system", "user", "assistant", "tool"}


def test_a_conversation_with_tools_images_and_a_refusal() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "low"}}
    assert messages(
        {"role": "developer", "content": "short"},
        {"role": "user", "name": "ann", "content": [{"type": "text", "text": "see"}, image]},
        ASSISTANT_CALL,
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "assistant", "content": None, "refusal": "no"},
    ) == (
        Message(role="system", content="short"),
        Message(
            role="user", name="ann", content=(TextPart("see"), ImagePart(url="data:image/png;base64,AA", detail="low"))
        ),
        Message(role="assistant", tool_calls=(ToolCall(id="call_1", name="get_weather", arguments="{}"),)),
        Message(role="tool", content="sunny", tool_call_id="call_1"),
        Message(role="assistant", content="no"),
    )


def test_no_messages_is_a_400() -> None:
    with pytest.raises(RequestError) as info:
        to_messages([])
    assert info.value.field == "messages"


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([{"role": "user"}], "messages[0].content"),
        ([USER, {"role": "assistant"}], "messages[1].content"),
        ([USER, {"role": "tool", "content": "x"}], "messages[1].tool_call_id"),
        ([USER, {"role": "tool", "tool_call_id": "call_1", "content": "x"}], "messages[1].tool_call_id"),
        ([USER, ASSISTANT_CALL, {"role": "tool", "tool_call_id": "call_1"}], "messages[2].content"),
        ([{"role": "user", "content": "x", "tool_calls": [CALL]}], "messages[0].tool_calls"),
        (
            [USER, {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}],
            "messages[1].content[0]",
        ),
    ],
)
def test_rules_beyond_the_schema_name_the_field(items: list[dict[str, Any]], field: str) -> None:
    assert refused(*items).field == field


def test_rule_errors_use_the_wires_field_names() -> None:
    assert refused(USER, {"role": "tool", "content": "x"}, names=CAMEL).field == "messages[1].toolCallId"
    assert refused({"role": "user", "content": "x", "tool_calls": [CALL]}, names=CAMEL).field == "messages[0].toolCalls"


def test_a_tool_message_echoes_little_of_an_unknown_id() -> None:
    error = refused(USER, ASSISTANT_CALL, {"role": "tool", "tool_call_id": "z" * 1000, "content": "x"})
    assert len(error.message) < 200


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"role": "robot", "content": "x"}, "[0].role"),
        ({"role": "user", "content": 5}, "[0].content"),
        ({"role": "user", "content": []}, "[0].content"),
        ({"role": "user", "content": [{"type": "audio"}]}, "[0].content[0].type"),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]},
            "[0].content[0].image_url.url",
        ),
        ({"role": "assistant", "tool_calls": [{**CALL, "id": ""}]}, "[0].tool_calls[0].id"),
        (
            {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "a b", "arguments": "{}"}}]},
            "[0].tool_calls[0].function.name",
        ),
    ],
)
def test_the_models_own_checks(item: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        _MESSAGES.validate_python([item])
    assert request_error(info.value).field == field


# --- tools and tool choice -----------------------------------------------------------------------------------


def test_tools_become_unified_tools() -> None:
    tools = _TOOLS.validate_python(
        [
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "now", "description": "time", "strict": True}},
        ]
    )
    assert to_tools(tools) == (
        Tool(name="get_weather", parameters={"type": "object"}),
        Tool(name="now", description="time", strict=True),
    )
    assert to_tools(None) == to_tools([]) == ()


def test_a_repeated_tool_name_is_a_400_on_the_second() -> None:
    tool = {"type": "function", "function": {"name": "f"}}
    with pytest.raises(RequestError) as info:
        to_tools(_TOOLS.validate_python([tool, {"type": "function", "function": {"name": "g"}}, tool]))
    assert info.value.field == "tools[2].function.name"


@pytest.mark.parametrize("name", ["a" * 65, "", "a.b", "a b"])
def test_function_names_follow_openais_rule(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        _TOOLS.validate_python([{"type": "function", "function": {"name": name}}])
    assert request_error(info.value).field == "[0].function.name"


@pytest.mark.parametrize(
    ("raw", "tools", "expected"),
    [
        (None, (), None),
        ("auto", (), "auto"),
        ("none", (), "none"),
        ("required", (WEATHER,), "required"),
        ({"type": "function", "function": {"name": "get_weather"}}, (WEATHER,), ToolChoiceFunction("get_weather")),
    ],
)
def test_tool_choice(raw: Any, tools: tuple[Tool, ...], expected: Any) -> None:
    choice = None if raw is None else _CHOICE.validate_python(raw)
    assert to_tool_choice(choice, tools) == expected


@pytest.mark.parametrize(
    ("raw", "names", "field"),
    [
        ("required", {}, "tool_choice"),
        ("required", CAMEL, "toolChoice"),
        ({"type": "function", "function": {"name": "other"}}, {}, "tool_choice.function.name"),
        ({"type": "function", "function": {"name": "other"}}, CAMEL, "toolChoice.function.name"),
    ],
)
def test_tool_choice_must_be_satisfiable(raw: Any, names: dict[str, str], field: str) -> None:
    with pytest.raises(RequestError) as info:
        to_tool_choice(_CHOICE.validate_python(raw), (), names)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("any", "must be 'auto', 'none' or 'required'"),
        (1, "must be 'auto', 'none', 'required' or a function choice object"),
    ],
)
def test_a_tool_choice_of_the_wrong_shape(raw: Any, phrase: str) -> None:
    with pytest.raises(ValidationError) as info:
        _CHOICE.validate_python(raw)
    assert request_error(info.value).message.endswith(phrase)
