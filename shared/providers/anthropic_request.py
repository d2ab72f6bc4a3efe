"""Anthropic's own request format (the Messages API body) -> the unified `ChatRequest`.

For Anthropic-format front doors and the recorded `anthropic/*.request.json` files: the inverse of
`anthropic.build_request` (providers.md 2.1 is the wire reference). Malformed input raises
`RequestError` naming the field by its JSON path (e.g. `messages[0]` for
`anthropic/error_400.request.json`). What the unified form cannot hold (`cache_control`,
`is_error`, server tools, adaptive thinking) is dropped or rejected where noted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from shared.errors import RequestError
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

__all__ = ["TOOL_CHOICES_FROM_WIRE", "parse_request"]

# Anthropic tool_choice.type -> unified tool_choice (the inverse of anthropic.TOOL_CHOICES).
TOOL_CHOICES_FROM_WIRE: dict[str, ToolChoice] = {"auto": "auto", "none": "none", "any": "required"}


def parse_request(body: Mapping[str, Any], *, model: str | None = None) -> ChatRequest:
    if not isinstance(body, Mapping):
        raise RequestError("the request body must be a JSON object")
    name = body.get("model") or model
    if not isinstance(name, str) or not name:
        raise RequestError("model is required", field="model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise RequestError("messages must be a list", field="messages")
    messages = _parse_system(body.get("system"))
    for i, item in enumerate(raw_messages):
        messages.extend(_parse_message(item, i))
    tool_choice, parallel = _parse_tool_choice(body.get("tool_choice"))
    stop = body.get("stop_sequences") or []
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise RequestError("stop_sequences must be a list of strings", field="stop_sequences")
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, Mapping) else None
    return ChatRequest(
        model=name,
        messages=tuple(messages),
        tools=_parse_tools(body.get("tools")),
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        max_tokens=_number(body, "max_tokens", int),
        temperature=_number(body, "temperature", float),
        top_p=_number(body, "top_p", float),
        top_k=_number(body, "top_k", int),
        stop=tuple(stop),
        response_format=_parse_output_format(body.get("output_config")),
        stream=body.get("stream") is True,
        user=user if isinstance(user, str) else None,
        reasoning_budget=_parse_thinking(body.get("thinking")),
    )


def _number(body: Mapping[str, Any], key: str, kind: type[int] | type[float]) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise RequestError(f"{key} must be a number", field=key)
    return kind(value)


def _fail(path: str, what: str) -> RequestError:
    return RequestError(f"{path}: {what}", field=path)


def _text(block: Mapping[str, Any], path: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _fail(f"{path}.text", "a text block needs a string text")
    return text


def _parse_system(system: object) -> list[Message]:
    if system is None:
        return []
    if isinstance(system, str):
        return [Message(role="system", content=system)] if system else []
    if not isinstance(system, list):
        raise _fail("system", "must be a string or a list of text blocks")
    out = []
    for k, block in enumerate(system):
        if not isinstance(block, Mapping) or block.get("type") != "text":
            raise _fail(f"system[{k}]", "system blocks must be text blocks")
        out.append(Message(role="system", content=_text(block, f"system[{k}]")))  # cache_control: not kept
    return out


def _parse_message(item: object, i: int) -> list[Message]:
    path = f"messages[{i}]"
    if not isinstance(item, Mapping):
        raise _fail(path, "each message must be an object with role and content")
    role, content = item.get("role"), item.get("content")
    if role not in ("user", "assistant"):
        raise _fail(f"{path}.role", "role must be user or assistant")
    if isinstance(content, str):
        return [Message(role=role, content=content)]
    if not isinstance(content, list):
        raise _fail(f"{path}.content", "content must be a string or a list of blocks")
    if role == "assistant":
        return [_parse_assistant(content, path)]
    out: list[Message] = []
    parts: list[ContentPart] = []
    for j, block in enumerate(content):
        where = f"{path}.content[{j}]"
        if isinstance(block, Mapping) and block.get("type") == "tool_result":
            if parts:
                out.append(Message(role="user", content=tuple(parts)))
                parts = []
            out.append(_parse_tool_result(block, where))
        else:
            parts.append(_parse_part(block, where))
    if parts:
        out.append(Message(role="user", content=tuple(parts)))
    return out


def _parse_part(block: object, path: str) -> ContentPart:
    if not isinstance(block, Mapping):
        raise _fail(path, "content blocks must be objects")
    if block.get("type") == "text":
        return TextPart(_text(block, path))
    if block.get("type") != "image":
        raise _fail(f"{path}.type", f"unsupported content block type {block.get('type')!r}")
    source = block.get("source")
    if isinstance(source, Mapping) and source.get("type") == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if isinstance(media_type, str) and isinstance(data, str):
            return ImagePart(url=f"data:{media_type};base64,{data}")
    if isinstance(source, Mapping) and source.get("type") == "url" and isinstance(source.get("url"), str):
        return ImagePart(url=source["url"])
    raise _fail(f"{path}.source", "an image needs a base64 or url source")


def _parse_tool_result(block: Mapping[str, Any], path: str) -> Message:
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise _fail(f"{path}.tool_use_id", "a tool_result needs tool_use_id")
    content = block.get("content")  # is_error has no unified field: not kept
    if content is None or isinstance(content, str):
        return Message(role="tool", content=content, tool_call_id=tool_use_id)
    if not isinstance(content, list):
        raise _fail(f"{path}.content", "tool_result content must be a string or a list of blocks")
    parts = tuple(_parse_part(b, f"{path}.content[{k}]") for k, b in enumerate(content))
    return Message(role="tool", content=parts, tool_call_id=tool_use_id)


def _parse_assistant(content: list[Any], path: str) -> Message:
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    reasoning: list[ReasoningBlock] = []
    for j, block in enumerate(content):
        where = f"{path}.content[{j}]"
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "tool_use":
            call_id, name, args = block.get("id"), block.get("name"), block.get("input", {})
            if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(args, Mapping):
                raise _fail(where, "tool_use needs string id and name and an object input")
            calls.append(ToolCall(id=call_id, name=name, arguments=orjson.dumps(args).decode()))
        elif kind == "thinking":
            text, signature = block.get("thinking"), block.get("signature")
            if not isinstance(text, str) or not isinstance(signature, str):
                raise _fail(where, "thinking needs string thinking and signature")
            reasoning.append(ReasoningBlock(text=text, signature=signature))
        elif kind == "redacted_thinking":
            if not isinstance(block.get("data"), str):
                raise _fail(where, "redacted_thinking needs string data")
            reasoning.append(ReasoningBlock(redacted=True, data=block["data"]))
        elif kind == "text":
            parts.append(TextPart(_text(block, where)))
        else:
            raise _fail(f"{where}.type", f"unsupported assistant block type {kind!r}")
    return Message(role="assistant", content=tuple(parts) or None, tool_calls=tuple(calls), reasoning=tuple(reasoning))


def _parse_tools(tools: object) -> tuple[Tool, ...]:
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise _fail("tools", "must be a list")
    out = []
    for k, tool in enumerate(tools):
        if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
            raise _fail(f"tools[{k}]", "a tool needs a name")
        if tool.get("type") not in (None, "custom"):  # server tools (web search, ...) are not unified
            raise _fail(f"tools[{k}].type", f"unsupported tool type {tool.get('type')!r}")
        description, schema = tool.get("description"), tool.get("input_schema")
        out.append(
            Tool(
                name=tool["name"],
                description=description if isinstance(description, str) else None,
                parameters=dict(schema) if isinstance(schema, Mapping) else None,
                strict=tool["strict"] if isinstance(tool.get("strict"), bool) else None,
            )
        )
    return tuple(out)


def _parse_tool_choice(choice: object) -> tuple[ToolChoice | None, bool | None]:
    if choice is None:
        return None, None
    if not isinstance(choice, Mapping):
        raise _fail("tool_choice", "must be an object")
    kind = choice.get("type")
    parallel = False if choice.get("disable_parallel_tool_use") is True else None
    if kind == "tool" and isinstance(choice.get("name"), str):
        return ToolChoiceFunction(choice["name"]), parallel
    if isinstance(kind, str) and kind in TOOL_CHOICES_FROM_WIRE:
        return TOOL_CHOICES_FROM_WIRE[kind], parallel
    raise _fail("tool_choice.type", f"unsupported tool_choice {kind!r}")


def _parse_thinking(thinking: object) -> int | None:
    if not isinstance(thinking, Mapping):
        return None
    if thinking.get("type") == "disabled":
        return 0
    budget = thinking.get("budget_tokens")
    if thinking.get("type") == "enabled":
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise _fail("thinking.budget_tokens", "must be an integer")
        return budget
    return None  # "adaptive": no unified equivalent, the provider default applies


def _parse_output_format(config: object) -> ResponseFormat | None:
    fmt = config.get("format") if isinstance(config, Mapping) else None
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), Mapping):
        return ResponseFormat(type="json_schema", schema=dict(fmt["schema"]))
    return None
