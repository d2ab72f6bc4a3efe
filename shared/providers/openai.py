"""The OpenAI Chat Completions adapter: unified form <-> OpenAI wire (providers.md sections 1, 4, 6).

The unified form is OpenAI-shaped, so this adapter is mostly a faithful serializer and parser.
This module owns the request side: `build_request` emits the Chat Completions body and
`parse_request` reads one (a caller's, or a recording) into the unified form; and the `SPEC`.
The reply side (`parse_response`, the stream parser, `classify_error`) lives in
`shared.providers.openai_stream` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import orjson

from shared.errors import RequestError
from shared.providers.openai_stream import PROVIDER, OpenAIStreamParser, classify_error, parse_response
from shared.providers.spec import HttpRequest, ProviderSpec
from shared.unified import (
    ChatRequest,
    ContentPart,
    ImagePart,
    Message,
    ResponseFormat,
    Role,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    ToolChoiceFunction,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "SPEC",
    "OpenAIStreamParser",
    "build_request",
    "classify_error",
    "parse_request",
    "parse_response",
    "stream_parser",
]

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
CHAT_PATH = "/chat/completions"

# Unified scalar settings and their wire names. `max_tokens` goes out as `max_completion_tokens`:
# the old `max_tokens` is deprecated and rejected by reasoning models (section 1.1).
# `top_k`, `reasoning_budget` and `include_reasoning` have no Chat Completions equivalent: dropped.
SettingType = Literal["int", "number", "str"]
ValueType = Literal["int", "number", "str", "bool", "object", "list"]
SETTINGS: tuple[tuple[str, str, SettingType], ...] = (
    ("max_tokens", "max_completion_tokens", "int"),
    ("temperature", "temperature", "number"),
    ("top_p", "top_p", "number"),
    ("n", "n", "int"),
    ("seed", "seed", "int"),
    ("presence_penalty", "presence_penalty", "number"),
    ("frequency_penalty", "frequency_penalty", "number"),
    ("user", "user", "str"),
    ("reasoning_effort", "reasoning_effort", "str"),
)
# Deprecated wire names still read by `parse_request` when the current name is absent.
SETTING_ALIASES: dict[str, str] = {"max_completion_tokens": "max_tokens"}
# OpenAI takes at most 4 stop sequences (section 1.1); more cannot be honored.
MAX_STOP_SEQUENCES = 4
# `json_schema.name` is required on the wire; the unified form may not carry one.
DEFAULT_SCHEMA_NAME = "response"
# `developer` is the o1+ spelling of `system` (section 1.1): both are the unified system role.
ROLES_FROM_WIRE: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
VALUE_TYPES: dict[str, tuple[type | tuple[type, ...], str]] = {
    "int": (int, "an integer"),
    "number": ((int, float), "a number"),
    "str": (str, "a string"),
    "bool": (bool, "a boolean"),
    "object": (Mapping, "an object"),
    "list": (list, "a list"),
}
TOOL_CHOICES: dict[str, ToolChoice] = {"auto": "auto", "none": "none", "required": "required"}
FormatType = Literal["text", "json_object", "json_schema"]
RESPONSE_FORMATS: dict[str, FormatType] = {"text": "text", "json_object": "json_object", "json_schema": "json_schema"}
ImageDetail = Literal["auto", "low", "high"]
IMAGE_DETAILS: dict[str, ImageDetail] = {"auto": "auto", "low": "low", "high": "high"}

# --- build -------------------------------------------------------------------------------------


def build_request(
    request: ChatRequest,
    *,
    api_key: str,
    base_url: str = DEFAULT_BASE_URL,
    max_output_tokens: int | None = None,  # only Anthropic needs it (its max_tokens is required)
) -> HttpRequest:
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_message_to_wire(m, f"messages[{i}]") for i, m in enumerate(request.messages)],
    }
    # OpenAI rejects tool_choice and parallel_tool_calls without tools: those only make sense together.
    if request.tools:
        body["tools"] = [_tool_to_wire(t) for t in request.tools]
        if request.tool_choice is not None:
            body["tool_choice"] = _tool_choice_to_wire(request.tool_choice)
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    for field, key, _ in SETTINGS:
        value = getattr(request, field)
        if value is not None:
            body[key] = value
    if request.stop:
        if len(request.stop) > MAX_STOP_SEQUENCES:
            raise RequestError(f"OpenAI accepts at most {MAX_STOP_SEQUENCES} stop sequences", field="stop")
        body["stop"] = list(request.stop)
    if request.response_format is not None:
        body["response_format"] = _response_format_to_wire(request.response_format)
    if request.stream:
        # Always ask for the usage chunk: the gateway bills from it.
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return HttpRequest(
        method="POST",
        url=base_url.rstrip("/") + CHAT_PATH,
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
        body=orjson.dumps(body),
        stream=request.stream,
    )


def _message_to_wire(message: Message, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role}
    if message.role == "assistant" and message.content is None and message.tool_calls:
        out["content"] = None
    else:
        out["content"] = _content_to_wire(message, where)
    # The tool role has no `name` on this wire (the legacy `function` role had one).
    if message.name is not None and message.role != "tool":
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            # Reasoning blocks and thought signatures have no place on this wire: not emitted.
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments or "{}"}}
            for c in message.tool_calls
        ]
    if message.role == "tool":
        if message.tool_call_id is None:
            raise RequestError("a tool message needs the id of the call it answers", field=f"{where}.tool_call_id")
        out["tool_call_id"] = message.tool_call_id
    return out


def _content_to_wire(message: Message, where: str) -> str | list[dict[str, Any]]:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(message.content):
        if isinstance(part, TextPart):
            parts.append({"type": "text", "text": part.text})
            continue
        if message.role != "user":
            # System, developer, assistant and tool content is text only (section 1.1).
            raise RequestError(
                f"OpenAI accepts images only in user messages, not {message.role}", field=f"{where}.content[{j}]"
            )
        # https URLs pass through: OpenAI fetches them itself (architecture.md, Providers).
        image: dict[str, Any] = {"url": part.url}
        if part.detail is not None:
            image["detail"] = part.detail
        parts.append({"type": "image_url", "image_url": image})
    return parts


def _tool_to_wire(tool: Tool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        function["description"] = tool.description
    if tool.parameters is not None:
        function["parameters"] = tool.parameters
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _tool_choice_to_wire(choice: str | ToolChoiceFunction) -> str | dict[str, Any]:
    if isinstance(choice, ToolChoiceFunction):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def _response_format_to_wire(fmt: ResponseFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    schema: dict[str, Any] = {"name": fmt.name or DEFAULT_SCHEMA_NAME}
    if fmt.schema is not None:
        schema["schema"] = fmt.schema
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": schema}


# --- parse a request ---------------------------------------------------------------------------


def parse_request(body: Mapping[str, Any], *, model: str | None = None) -> ChatRequest:
    """An OpenAI Chat Completions body (a caller's, or a recording) in the unified form."""
    if not isinstance(body, Mapping):
        raise RequestError("the request body must be a JSON object")
    model_name = body.get("model", model)
    if not isinstance(model_name, str) or not model_name:
        raise RequestError("model must be a non-empty string", field="model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise RequestError("messages must be a non-empty list", field="messages")
    settings: dict[str, Any] = {}
    for field, key, kind in SETTINGS:
        wire_key = key if key in body or key not in SETTING_ALIASES else SETTING_ALIASES[key]
        settings[field] = _check(body.get(wire_key), wire_key, kind)
    raw_tools = _check(body.get("tools"), "tools", "list")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, Mapping):
        raise RequestError("stream_options must be an object", field="stream_options")
    return ChatRequest(
        model=model_name,
        messages=tuple(_message_from_wire(m, f"messages[{i}]") for i, m in enumerate(raw_messages)),
        tools=tuple(_tool_from_wire(t, f"tools[{i}]") for i, t in enumerate(raw_tools or ())),
        tool_choice=_tool_choice_from_wire(body.get("tool_choice")),
        parallel_tool_calls=_check(body.get("parallel_tool_calls"), "parallel_tool_calls", "bool"),
        stop=_stop_from_wire(body.get("stop")),
        response_format=_response_format_from_wire(body.get("response_format")),
        stream=bool(_check(body.get("stream"), "stream", "bool")),
        include_usage=bool(_check((stream_options or {}).get("include_usage"), "stream_options.include_usage", "bool")),
        **settings,
    )


def _check(value: Any, field: str, kind: ValueType) -> Any:
    """`value` when it is None or of the JSON type `kind`; else a RequestError naming `field`."""
    # bool is an int subclass in Python, but a JSON `true` is not a number.
    is_number_bool = isinstance(value, bool) and kind in ("int", "number")
    if value is None or (isinstance(value, VALUE_TYPES[kind][0]) and not is_number_bool):
        return value
    raise RequestError(f"{field} must be {VALUE_TYPES[kind][1]}", field=field)


def _lookup(table: Mapping[str, T], value: Any) -> T | None:
    return table.get(value) if isinstance(value, str) else None


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RequestError(f"{field} must be an object", field=field)
    return value


def _required_str(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise RequestError(f"{where}.{key} must be a string", field=f"{where}.{key}")
    return value


def _message_from_wire(value: Any, where: str) -> Message:
    raw = _object(value, where)
    role = _lookup(ROLES_FROM_WIRE, raw.get("role"))
    if role is None:
        raise RequestError(f"{where}.role must be one of {', '.join(ROLES_FROM_WIRE)}", field=f"{where}.role")
    raw_calls = _check(raw.get("tool_calls"), f"{where}.tool_calls", "list")
    return Message(
        role=role,
        content=_content_from_wire(raw.get("content"), f"{where}.content"),
        name=_check(raw.get("name"), f"{where}.name", "str"),
        tool_calls=tuple(_tool_call_from_wire(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(raw_calls or ())),
        tool_call_id=_required_str(raw, "tool_call_id", where) if role == "tool" else None,
    )


def _content_from_wire(value: Any, where: str) -> str | tuple[ContentPart, ...] | None:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise RequestError(f"{where} must be a string or a list of parts", field=where)
    return tuple(_part_from_wire(part, f"{where}[{j}]") for j, part in enumerate(value))


def _part_from_wire(value: Any, where: str) -> ContentPart:
    raw = _object(value, where)
    kind = raw.get("type")
    if kind == "text":
        return TextPart(_required_str(raw, "text", where))
    if kind == "refusal":
        # An earlier assistant refusal replayed as history: it is what the assistant said.
        return TextPart(_required_str(raw, "refusal", where))
    if kind == "image_url":
        image = _object(raw.get("image_url"), f"{where}.image_url")
        detail = _lookup(IMAGE_DETAILS, image.get("detail"))
        if detail is None and image.get("detail") is not None:
            raise RequestError(f"{where}.image_url.detail must be auto, low or high", field=f"{where}.image_url.detail")
        return ImagePart(url=_required_str(image, "url", f"{where}.image_url"), detail=detail)
    if not isinstance(kind, str):
        raise RequestError(f"missing content part type at {where}.type", field=f"{where}.type")
    # input_audio, file: valid on OpenAI, but the unified form cannot carry them to any provider.
    raise RequestError(f"content part type {kind!r} is not supported", field=f"{where}.type")


def _tool_call_from_wire(value: Any, where: str) -> ToolCall:
    raw = _object(value, where)
    if raw.get("type", "function") != "function":
        raise RequestError("only function tool calls are supported", field=f"{where}.type")
    function = _object(raw.get("function"), f"{where}.function")
    return ToolCall(
        id=_required_str(raw, "id", where),
        name=_required_str(function, "name", f"{where}.function"),
        # A JSON string on this wire (section 1.1), not an object.
        arguments=_required_str(function, "arguments", f"{where}.function"),
    )


def _tool_from_wire(value: Any, where: str) -> Tool:
    raw = _object(value, where)
    if raw.get("type") != "function":
        raise RequestError("only function tools are supported", field=f"{where}.type")
    function = _object(raw.get("function"), f"{where}.function")
    parameters = _check(function.get("parameters"), f"{where}.function.parameters", "object")
    return Tool(
        name=_required_str(function, "name", f"{where}.function"),
        description=_check(function.get("description"), f"{where}.function.description", "str"),
        parameters=None if parameters is None else dict(parameters),
        strict=_check(function.get("strict"), f"{where}.function.strict", "bool"),
    )


def _tool_choice_from_wire(value: Any) -> ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str) and value in TOOL_CHOICES:
        return TOOL_CHOICES[value]
    if isinstance(value, Mapping) and value.get("type") == "function":
        function = _object(value.get("function"), "tool_choice.function")
        return ToolChoiceFunction(_required_str(function, "name", "tool_choice.function"))
    raise RequestError("tool_choice must be auto, none, required or a function choice", field="tool_choice")


def _stop_from_wire(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise RequestError("stop must be a string or a list of strings", field="stop")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise RequestError("stop sequences must be strings", field=f"stop[{i}]")
    return tuple(value)


def _response_format_from_wire(value: Any) -> ResponseFormat | None:
    if value is None:
        return None
    raw = _object(value, "response_format")
    kind = _lookup(RESPONSE_FORMATS, raw.get("type"))
    if kind is None:
        raise RequestError(
            "response_format.type must be text, json_object or json_schema", field="response_format.type"
        )
    if kind != "json_schema":
        return ResponseFormat(type=kind)
    spec = _object(raw.get("json_schema"), "response_format.json_schema")
    schema = _check(spec.get("schema"), "response_format.json_schema.schema", "object")
    return ResponseFormat(
        type=kind,
        schema=None if schema is None else dict(schema),
        name=_check(spec.get("name"), "response_format.json_schema.name", "str"),
        strict=_check(spec.get("strict"), "response_format.json_schema.strict", "bool"),
    )


# --- the spec ------------------------------------------------------------------------------------


def stream_parser(request: ChatRequest) -> OpenAIStreamParser:
    # One parser for every request: the stream itself says all it needs.
    return OpenAIStreamParser()


SPEC = ProviderSpec(
    name=PROVIDER,
    default_base_url=DEFAULT_BASE_URL,
    build_request=build_request,
    parse_response=parse_response,
    stream_parser=stream_parser,
    classify_error=classify_error,
    parse_request=parse_request,
)
