"""Messages, tools and tool choice as both chat wires read them (one OpenAI shape on both routes).

Owns: the pydantic input models of messages, content parts, tool calls, tools and tool choice, and the
rules a schema cannot say, applied when turning them into the unified types: tool results answering
earlier calls, tool calls only on assistant turns, images only from users, content where it is required,
tool names unique, a forced tool naming one of the tools. Errors name the field in the wire's spelling
(`FieldNames`, from shared.api.body).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, StrictBool, StrictStr, Tag

from shared.api.body import ECHO, OPENAI_FIELDS, FieldNames, NonEmptyStr, StrictModel, field_path
from shared.errors import RequestError
from shared.unified import (
    ContentPart,
    ImagePart,
    Message,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceFunction,
)

__all__ = [
    "ROLES",
    "ContentIn",
    "FunctionName",
    "MessageIn",
    "ToolCallIn",
    "ToolChoiceFunctionIn",
    "ToolChoiceIn",
    "ToolIn",
    "to_messages",
    "to_tool_choice",
    "to_tools",
]

# OpenAI's own rule for function names (Chat Completions reference, `tools[].function.name`).
_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
# The gateway fetches no user URL (architecture, Providers): inline data, or https that OpenAI fetches itself.
_IMAGE_URL = re.compile(r"(?:data:|https://)", re.IGNORECASE)

ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",  # the o1+ spelling of system
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}


# --- input models --------------------------------------------------------------------------------


def _function_name(value: str) -> str:
    if not _FUNCTION_NAME.fullmatch(value):
        raise ValueError("must be 1 to 64 letters, digits, underscores or dashes")
    return value


def _image_url(value: str) -> str:
    if not _IMAGE_URL.match(value):
        raise ValueError("must be a data: URL or an https URL")
    return value


FunctionName = Annotated[StrictStr, AfterValidator(_function_name)]


class ImageUrlIn(StrictModel):
    url: Annotated[StrictStr, AfterValidator(_image_url)]
    detail: Literal["auto", "low", "high"] | None = None


class TextPartIn(StrictModel):
    type: Literal["text"]
    text: StrictStr


class ImagePartIn(StrictModel):
    type: Literal["image_url"]
    image_url: ImageUrlIn


# Unions are tagged by a function so exactly one member is tried (one clear error, not one per member).
# Tags start with "~": `field_path` drops them from locations. The error type "part_type" is one that
# `request_error` points at the object's `type` field.
def _part_tag(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "~text"  # not an object: the member's own "must be an object" error
    kind = value.get("type")
    return f"~{kind}" if kind in ("text", "image_url") else None


PartIn = Annotated[
    Annotated[TextPartIn, Tag("~text")] | Annotated[ImagePartIn, Tag("~image_url")],
    Discriminator(_part_tag, custom_error_type="part_type", custom_error_message="must be 'text' or 'image_url'"),
]


def _content_tag(value: Any) -> str | None:
    return "~str" if isinstance(value, str) else "~parts" if isinstance(value, list) else None


ContentIn = Annotated[
    Annotated[StrictStr, Tag("~str")] | Annotated[list[PartIn], Tag("~parts"), Field(min_length=1)],
    Discriminator(
        _content_tag, custom_error_type="content_type", custom_error_message="must be a string or a list of parts"
    ),
]


class FunctionCallIn(StrictModel):
    name: FunctionName
    arguments: StrictStr  # a JSON string on this wire, as OpenAI sends it


class ToolCallIn(StrictModel):
    id: NonEmptyStr
    type: Literal["function"] = "function"
    function: FunctionCallIn


class MessageIn(StrictModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: ContentIn | None = None
    name: StrictStr | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: NonEmptyStr | None = None
    # A replayed assistant refusal (OpenAI's reply field): what the assistant said.
    refusal: StrictStr | None = None


class FunctionIn(StrictModel):
    name: FunctionName
    description: StrictStr | None = None
    parameters: dict[str, Any] | None = None
    strict: StrictBool | None = None


class ToolIn(StrictModel):
    type: Literal["function"]
    function: FunctionIn


class ToolChoiceNameIn(StrictModel):
    name: FunctionName


class ToolChoiceFunctionIn(StrictModel):
    type: Literal["function"]
    function: ToolChoiceNameIn


def _choice_tag(value: Any) -> str | None:
    return "~mode" if isinstance(value, str) else "~function" if isinstance(value, dict) else None


ToolChoiceIn = Annotated[
    Annotated[Literal["auto", "none", "required"], Tag("~mode")] | Annotated[ToolChoiceFunctionIn, Tag("~function")],
    Discriminator(
        _choice_tag,
        custom_error_type="tool_choice_type",
        custom_error_message="must be 'auto', 'none', 'required' or a function choice object",
    ),
]


# --- beyond the schema: messages, tools, tool choice --------------------------------------------


def _content(m: MessageIn, where: tuple[int | str, ...], names: FieldNames) -> str | tuple[ContentPart, ...] | None:
    if m.content is None:
        return m.refusal if m.role == "assistant" else None
    if isinstance(m.content, str):
        return m.content
    parts: list[ContentPart] = []
    for j, part in enumerate(m.content):
        if isinstance(part, TextPartIn):
            parts.append(TextPart(part.text))
            continue
        if m.role != "user":
            field = field_path((*where, "content", j), names)
            raise RequestError(f"{field}: images are accepted in user messages only, not {m.role}", field=field)
        parts.append(ImagePart(url=part.image_url.url, detail=part.image_url.detail))
    return tuple(parts)


def to_messages(items: Sequence[MessageIn], names: FieldNames = OPENAI_FIELDS) -> tuple[Message, ...]:
    """Validated messages in the unified form, after the rules that span fields and messages."""
    if not items:
        raise RequestError("messages must not be empty", field="messages")
    called: set[str] = set()  # ids of the tool calls made so far: what a tool message may answer
    out: list[Message] = []
    for i, m in enumerate(items):
        where: tuple[int | str, ...] = ("messages", i)
        content = _content(m, where, names)
        calls: tuple[ToolCall, ...] = ()
        if m.tool_calls:
            if m.role != "assistant":
                field = field_path((*where, "tool_calls"), names)
                raise RequestError(f"{field}: only assistant messages carry tool calls", field=field)
            calls = tuple(ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments) for c in m.tool_calls)
        if m.role == "tool":
            field = field_path((*where, "tool_call_id"), names)
            if m.tool_call_id is None:
                raise RequestError(f"{field} is required: the id of the tool call this message answers", field=field)
            if m.tool_call_id not in called:
                raise RequestError(
                    f"{field} {m.tool_call_id[:ECHO]!r} answers no tool call of an earlier assistant message",
                    field=field,
                )
        if content is None and not calls:
            field = field_path((*where, "content"), names)
            need = "content or tool calls" if m.role == "assistant" else "content"
            raise RequestError(f"{field} is required: a {m.role} message needs {need}", field=field)
        called.update(c.id for c in calls)
        out.append(
            Message(
                role=ROLES[m.role],
                content=content,
                name=m.name,
                tool_calls=calls,
                tool_call_id=m.tool_call_id if m.role == "tool" else None,
            )
        )
    return tuple(out)


def to_tools(items: Sequence[ToolIn] | None) -> tuple[Tool, ...]:
    """The tools in the unified form; a second tool of the same name is a 400 naming it."""
    if not items:
        return ()
    seen: set[str] = set()
    for i, t in enumerate(items):
        if t.function.name in seen:
            field = f"tools[{i}].function.name"
            raise RequestError(f"{field}: a second tool is named {t.function.name!r}", field=field)
        seen.add(t.function.name)
    return tuple(
        Tool(
            name=t.function.name,
            description=t.function.description,
            parameters=t.function.parameters,
            strict=t.function.strict,
        )
        for t in items
    )


def to_tool_choice(
    choice: Literal["auto", "none", "required"] | ToolChoiceFunctionIn | None,
    tools: tuple[Tool, ...],
    names: FieldNames = OPENAI_FIELDS,
) -> ToolChoice | None:
    """The tool choice, checked against the tools it may force."""
    if choice is None:
        return None
    field = field_path(("tool_choice",), names)
    if isinstance(choice, str):
        if choice == "required" and not tools:
            raise RequestError(f"{field} 'required' needs tools", field=field)
        return choice
    name = choice.function.name
    if name not in {t.name for t in tools}:
        raise RequestError(f"{field}.function.name {name!r} names no tool in tools", field=f"{field}.function.name")
    return ToolChoiceFunction(name)
