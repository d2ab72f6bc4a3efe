"""Gemini's own request format read into the unified form (`parse_request`), and its schema dialect.

The REST API is camelCase, but the server also takes proto3 snake_case keys and real clients send
them (`parameters_json_schema`, `include_thoughts` in the recordings, providers.md 3.1), so every key
is looked up both ways. `functionDeclarations[].parameters` and `responseSchema` use Gemini's
OpenAPI-3.0 subset (uppercase `"OBJECT"`, `nullable`, int64 counts as strings); they become JSON
Schema here, the unified form's only schema language. `parametersJsonSchema` / `responseJsonSchema`
already are JSON Schema and are kept as sent.

Fields with no unified equivalent are not read (and so never re-emitted): `safetySettings`,
`cachedContent`, `serviceTier`, `labels`, non-function tools (`googleSearch`, `codeExecution`, ...),
`systemInstruction.role`, `generationConfig.responseModalities` / `mediaResolution` / logprobs, and
`functionDeclarations[].behavior` / `response`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from shared.errors import RequestError
from shared.providers.gemini_reply import mint_call_id
from shared.unified import (
    ChatRequest,
    ContentPart,
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

__all__ = ["JSON_MIME_TYPE", "TOOL_CHOICE_MODES", "openapi_to_json_schema", "parse_request", "wire_get"]

JSON_MIME_TYPE = "application/json"
# toolConfig.functionCallingConfig.mode -> unified tool_choice (providers.md section 5, inverted).
# VALIDATED ("call or answer, but only these functions") is closest to auto. ANY with exactly one
# allowed name is a forced function; with several it can only be "required".
TOOL_CHOICE_MODES: dict[str, ToolChoice] = {"AUTO": "auto", "NONE": "none", "ANY": "required", "VALIDATED": "auto"}
# generationConfig scalars -> ChatRequest fields, with the JSON type each must have.
SCALAR_SETTINGS: tuple[tuple[str, str, type], ...] = (
    ("maxOutputTokens", "max_tokens", int),
    ("temperature", "temperature", float),
    ("topP", "top_p", float),
    ("topK", "top_k", int),
    ("candidateCount", "n", int),
    ("seed", "seed", int),
    ("presencePenalty", "presence_penalty", float),
    ("frequencyPenalty", "frequency_penalty", float),
)

# OpenAPI-subset Schema keys -> JSON Schema keys, by how their value converts.
_SCHEMA_KEYS = ("items", "not")
_SCHEMA_MAP_KEYS = {"properties": "properties", "defs": "$defs", "$defs": "$defs"}
_SCHEMA_LIST_KEYS = ("anyOf", "oneOf", "allOf")
# Proto int64 fields arrive as JSON strings ("minItems": "1").
_INT64_KEYS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
_RENAMED_KEYS = {"ref": "$ref"}
# `propertyOrdering` is a Gemini-only hint with no JSON Schema meaning; `nullable` becomes a null type.
_DROPPED_KEYS = frozenset({"propertyOrdering", "nullable"})
_UNSPECIFIED_TYPE = "TYPE_UNSPECIFIED"


@functools.cache
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def wire_get(obj: Mapping[str, Any], name: str) -> Any:
    """`obj[name]` by its camelCase name, or by the snake_case spelling proto3 JSON also accepts."""
    value = obj.get(name)
    return value if value is not None else obj.get(_snake(name))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def openapi_to_json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-3.0 Schema subset as JSON Schema: lowercase types, `nullable` as a null type."""
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for raw_key, value in schema.items():
        key = raw_key if raw_key.startswith("$") else _camel(raw_key)
        if key in _DROPPED_KEYS:
            continue
        if key == "type":
            if isinstance(value, str) and value.upper() != _UNSPECIFIED_TYPE:
                out["type"] = value.lower()
        elif key in _SCHEMA_KEYS:
            out[key] = openapi_to_json_schema(value)
        elif key in _SCHEMA_MAP_KEYS and isinstance(value, Mapping):
            out[_SCHEMA_MAP_KEYS[key]] = {name: openapi_to_json_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LIST_KEYS and isinstance(value, list):
            out[key] = [openapi_to_json_schema(sub) for sub in value]
        elif key in _INT64_KEYS and isinstance(value, str) and value.isdigit():
            out[key] = int(value)
        elif key == "example":
            out["examples"] = [value]
        else:
            out[_RENAMED_KEYS.get(key, key)] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _expect(value: Any, kind: type | tuple[type, ...], field: str, what: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
        raise RequestError(f"{field} must be {what}", field=field)
    return value


def _object(value: Any, field: str) -> Mapping[str, Any]:
    result: Mapping[str, Any] = _expect(value, Mapping, field, "an object")
    return result


def _array(value: Any, field: str) -> list[Any]:
    result: list[Any] = _expect(value, list, field, "an array")
    return result


def _optional_array(value: Any, field: str) -> list[Any]:
    return [] if value is None else _array(value, field)


def _string(value: Any, field: str) -> str:
    result: str = _expect(value, str, field, "a string")
    return result


def parse_request(body: Mapping[str, Any], *, model: str | None = None) -> ChatRequest:
    """A `generateContent` body (model from the URL, passed as `model`) in the unified form."""
    body = _object(body, "body")
    name = model or body.get("model")
    if not isinstance(name, str) or not name:
        raise RequestError("the model is part of the Gemini URL: pass it", field="model")
    messages = [*_system_messages(body), *_conversation(body)]
    config = wire_get(body, "generationConfig")
    settings = _generation_settings(_object(config, "generationConfig")) if config is not None else {}
    return ChatRequest(
        model=name.removeprefix("models/"),
        messages=tuple(messages),
        tools=_tools(body),
        tool_choice=_tool_choice(body),
        **settings,
    )


def _system_messages(body: Mapping[str, Any]) -> list[Message]:
    system = wire_get(body, "systemInstruction")
    if system is None:
        return []
    if isinstance(system, str):
        return [Message(role="system", content=system)]
    parts = _array(wire_get(_object(system, "systemInstruction"), "parts"), "systemInstruction.parts")
    texts = [
        _string(_object(p, f"systemInstruction.parts[{j}]").get("text"), f"systemInstruction.parts[{j}].text")
        for j, p in enumerate(parts)
    ]
    return [Message(role="system", content=text) for text in texts]


def _conversation(body: Mapping[str, Any]) -> list[Message]:
    messages: list[Message] = []
    # functionCalls of earlier model turns still waiting for their functionResponse: (id, name).
    pending: list[tuple[str, str]] = []
    for i, raw in enumerate(_array(wire_get(body, "contents"), "contents")):
        where = f"contents[{i}]"
        content = _object(raw, where)
        role = content.get("role", "user")
        parts = [
            _object(p, f"{where}.parts[{j}]") for j, p in enumerate(_array(content.get("parts"), f"{where}.parts"))
        ]
        if role == "model":
            message = _model_message(parts, where)
            pending.extend((call.id, call.name) for call in message.tool_calls)
            messages.append(message)
        elif role == "user":
            messages.extend(_user_messages(parts, where, pending))
        else:
            raise RequestError(f"{where}.role must be 'user' or 'model'", field=f"{where}.role")
    return messages


def _inline_data(part: Mapping[str, Any], field: str) -> ImagePart:
    data = _object(wire_get(part, "inlineData"), field)
    mime = _string(wire_get(data, "mimeType"), f"{field}.mimeType")
    return ImagePart(url=f"data:{mime};base64,{_string(data.get('data'), f'{field}.data')}")


def _user_messages(parts: list[Mapping[str, Any]], where: str, pending: list[tuple[str, str]]) -> list[Message]:
    """One user turn: functionResponse parts become tool messages, other parts a user message."""
    messages: list[Message] = []
    content: list[ContentPart] = []

    def flush() -> None:
        if content:
            messages.append(Message(role="user", content=_content(content)))
            content.clear()

    for j, part in enumerate(parts):
        field = f"{where}.parts[{j}]"
        response = wire_get(part, "functionResponse")
        if response is not None:
            flush()
            messages.append(
                _tool_message(_object(response, f"{field}.functionResponse"), f"{field}.functionResponse", pending)
            )
        elif "text" in part:
            text = _string(part["text"], f"{field}.text")
            if text:
                content.append(TextPart(text))
        elif wire_get(part, "inlineData") is not None:
            content.append(_inline_data(part, f"{field}.inlineData"))
        else:
            raise RequestError(
                f"{field} is not a part the gateway can carry (text, inlineData, functionResponse)", field=field
            )
    flush()
    return messages


def _tool_message(response: Mapping[str, Any], field: str, pending: list[tuple[str, str]]) -> Message:
    name = _string(response.get("name"), f"{field}.name")
    wanted_id = response.get("id")
    # The Developer API sends no call ids (3.2): a response answers the oldest open call of its name.
    if wanted_id:
        match = next((k for k, (call_id, _) in enumerate(pending) if call_id == wanted_id), None)
    else:
        match = next((k for k, (_, call_name) in enumerate(pending) if call_name == name), None)
    if match is None:
        raise RequestError(f"{field} answers no earlier functionCall named {name!r}", field=f"{field}.name")
    call_id, _ = pending.pop(match)
    result = response.get("response")
    if isinstance(result, Mapping) and set(result) == {"result"} and isinstance(result["result"], str):
        # `{"result": text}` is how a plain-text tool result travels (providers.md section 5).
        text = result["result"]
    else:
        text = orjson.dumps(result if result is not None else {}).decode()
    return Message(role="tool", content=text, tool_call_id=call_id)


def _model_message(parts: list[Mapping[str, Any]], where: str) -> Message:
    content: list[ContentPart] = []
    calls: list[ToolCall] = []
    reasoning: list[ReasoningBlock] = []
    signature: str | None = None
    for j, part in enumerate(parts):
        field = f"{where}.parts[{j}]"
        part_signature = wire_get(part, "thoughtSignature")
        call = wire_get(part, "functionCall")
        if call is not None:
            call = _object(call, f"{field}.functionCall")
            args = call.get("args")
            call_id = call.get("id")
            calls.append(
                ToolCall(
                    id=call_id if isinstance(call_id, str) and call_id else mint_call_id(),
                    name=_string(call.get("name"), f"{field}.functionCall.name"),
                    arguments=orjson.dumps(
                        _object(args, f"{field}.functionCall.args") if args is not None else {}
                    ).decode(),
                    thought_signature=part_signature,
                )
            )
        elif part.get("thought") is True:
            reasoning.append(
                ReasoningBlock(text=_string(part.get("text", ""), f"{field}.text"), signature=part_signature)
            )
        elif "text" in part:
            text = _string(part["text"], f"{field}.text")
            if text:
                content.append(TextPart(text))
            signature = signature or part_signature
        elif wire_get(part, "inlineData") is not None:
            content.append(_inline_data(part, f"{field}.inlineData"))
        else:
            raise RequestError(
                f"{field} is not a part the gateway can carry (text, inlineData, functionCall)", field=field
            )
    if signature is not None:
        # The answer's signature sits on its first text part; unified keeps it on the reasoning block.
        if reasoning and reasoning[-1].signature is None:
            reasoning[-1] = ReasoningBlock(text=reasoning[-1].text, signature=signature)
        elif not reasoning:
            reasoning.append(ReasoningBlock(signature=signature))
    return Message(
        role="assistant",
        content=_content(content) if content else None,
        tool_calls=tuple(calls),
        reasoning=tuple(reasoning),
    )


def _content(parts: list[ContentPart]) -> str | tuple[ContentPart, ...]:
    """A lone text part is a plain string; anything else keeps its parts (one wire part each)."""
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    return tuple(parts)


def _tools(body: Mapping[str, Any]) -> tuple[Tool, ...]:
    tools: list[Tool] = []
    for i, raw in enumerate(_optional_array(wire_get(body, "tools"), "tools")):
        declarations = wire_get(_object(raw, f"tools[{i}]"), "functionDeclarations")
        for j, declaration in enumerate(_optional_array(declarations, f"tools[{i}].functionDeclarations")):
            field = f"tools[{i}].functionDeclarations[{j}]"
            tools.append(_declaration(_object(declaration, field), field))
    return tuple(tools)


def _declaration(declaration: Mapping[str, Any], field: str) -> Tool:
    description = declaration.get("description")
    schema = wire_get(declaration, "parametersJsonSchema")
    if schema is None and wire_get(declaration, "parameters") is not None:
        schema = openapi_to_json_schema(_object(wire_get(declaration, "parameters"), f"{field}.parameters"))
    return Tool(
        name=_string(declaration.get("name"), f"{field}.name"),
        description=_string(description, f"{field}.description") if description is not None else None,
        parameters=dict(_object(schema, f"{field}.parametersJsonSchema")) if schema is not None else None,
    )


def _tool_choice(body: Mapping[str, Any]) -> ToolChoice | None:
    config = wire_get(body, "toolConfig")
    calling = wire_get(_object(config, "toolConfig"), "functionCallingConfig") if config is not None else None
    if calling is None:
        return None
    calling = _object(calling, "toolConfig.functionCallingConfig")
    mode = calling.get("mode")
    if mode is None or mode == "MODE_UNSPECIFIED":
        return None
    if mode not in TOOL_CHOICE_MODES:
        raise RequestError(f"unknown function calling mode {mode!r}", field="toolConfig.functionCallingConfig.mode")
    names = wire_get(calling, "allowedFunctionNames")
    if mode == "ANY" and isinstance(names, list) and len(names) == 1 and isinstance(names[0], str):
        return ToolChoiceFunction(name=names[0])
    return TOOL_CHOICE_MODES[mode]


def _setting(value: Any, kind: type, field: str) -> Any:
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return _expect(value, int, field, "an integer")
    return float(_expect(value, (int, float), field, "a number"))


def _generation_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for wire, attr, kind in SCALAR_SETTINGS:
        value = wire_get(config, wire)
        if value is not None:
            settings[attr] = _setting(value, kind, f"generationConfig.{wire}")
    stops = wire_get(config, "stopSequences")
    if stops is not None:
        settings["stop"] = tuple(
            _string(s, f"generationConfig.stopSequences[{k}]")
            for k, s in enumerate(_array(stops, "generationConfig.stopSequences"))
        )
    response_format = _response_format(config)
    if response_format is not None:
        settings["response_format"] = response_format
    thinking = wire_get(config, "thinkingConfig")
    if thinking is not None:
        settings.update(_thinking(_object(thinking, "generationConfig.thinkingConfig")))
    return settings


def _response_format(config: Mapping[str, Any]) -> ResponseFormat | None:
    # Only JSON output has a unified equivalent; text/plain is the default, text/x.enum has none.
    if wire_get(config, "responseMimeType") != JSON_MIME_TYPE:
        return None
    schema = wire_get(config, "responseJsonSchema")
    if schema is None and wire_get(config, "responseSchema") is not None:
        schema = openapi_to_json_schema(wire_get(config, "responseSchema"))
    if schema is None:
        return ResponseFormat(type="json_object")
    return ResponseFormat(type="json_schema", schema=dict(_object(schema, "generationConfig.responseJsonSchema")))


_THINKING_FIELDS: tuple[tuple[str, str, Callable[[Any, str], Any]], ...] = (
    ("thinkingBudget", "reasoning_budget", lambda v, f: _setting(v, int, f)),
    ("includeThoughts", "include_reasoning", lambda v, f: _expect(v, bool, f, "a boolean")),
    # Levels are the upper-case effort words (MINIMAL, LOW, ...): see gemini.THINKING_LEVELS.
    ("thinkingLevel", "reasoning_effort", lambda v, f: _string(v, f).lower()),
)


def _thinking(thinking: Mapping[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for wire, attr, convert in _THINKING_FIELDS:
        value = wire_get(thinking, wire)
        if value is not None:
            settings[attr] = convert(value, f"generationConfig.thinkingConfig.{wire}")
    return settings
