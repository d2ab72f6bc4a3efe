"""OpenAI Chat Completions requests: the checks the real API makes, and the `Conversation` they describe.

Messages follow providers.md 1.1 and the recordings (`openai/error_400_2.json`: a content part without
`type` is "Missing required parameter: 'messages[1].content[0].type'."). Nulls count as absent, as on the
real API (`"tools": null` in the same recording).
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from local.simulator.faults import WireError
from local.simulator.generation import Conversation, ToolSpec, estimate_prompt
from local.simulator.models import OPENAI_UNSUPPORTED, model_accepted

__all__ = ["parse_openai"]

_ROLES: Final = ("system", "developer", "user", "assistant", "tool", "function")
_PART_TYPES: Final = ("text", "image_url", "input_audio", "refusal", "audio", "file")
_NAME: Final = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_JSON_TYPES: Final = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return _JSON_TYPES.get(type(value), "a value")


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _missing(param: str) -> WireError:
    return WireError(
        "invalid_request", f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
    )


def _invalid_type(param: str, expected: str, value: Any) -> WireError:
    message = f"Invalid type for '{param}': expected {expected}, but got {_json_type(value)} instead."
    return WireError("invalid_request", message, param=param, code="invalid_type")


def _invalid_value(param: str, value: Any, allowed: tuple[str, ...]) -> WireError:
    listed = ", ".join(f"'{a}'" for a in allowed[:-1]) + f", and '{allowed[-1]}'"
    message = f"Invalid value: '{value}'. Supported values are: {listed}."
    return WireError("invalid_request", message, param=param, code="invalid_value")


def _content_text(content: Any, where: str) -> tuple[str, int]:
    """(text, image count) of a message's content, validating parts."""
    if content is None or isinstance(content, str):
        return content or "", 0
    if not isinstance(content, list):
        raise _invalid_type(where, "one of a string or array of objects", content)
    texts: list[str] = []
    images = 0
    for j, part in enumerate(content):
        path = f"{where}[{j}]"
        if not isinstance(part, dict):
            raise _invalid_type(path, "an object", part)
        kind = part.get("type")
        if kind is None:
            raise _missing(f"{path}.type")
        if kind not in _PART_TYPES:
            raise _invalid_value(f"{path}.type", kind, _PART_TYPES)
        if kind in ("text", "refusal"):
            text = part.get(kind)
            if not isinstance(text, str):
                raise _missing(f"{path}.{kind}") if text is None else _invalid_type(f"{path}.{kind}", "a string", text)
            texts.append(text)
        elif kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                raise _missing(f"{path}.image_url.url")
            images += 1
    return "\n".join(texts), images


def _message(i: int, message: Any) -> tuple[str, str, int]:
    """(role, text for counting, images) of one message."""
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise _invalid_type(where, "an object", message)
    role = message.get("role")
    if role is None:
        raise _missing(f"{where}.role")
    if role not in _ROLES:
        raise _invalid_value(f"{where}.role", role, _ROLES)
    if "content" not in message and role != "assistant":
        raise _missing(f"{where}.content")
    text, images = _content_text(message.get("content"), f"{where}.content")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise _missing(f"{where}.tool_call_id")
    calls = message.get("tool_calls") if role == "assistant" else None
    if calls is not None:
        if not isinstance(calls, list):
            raise _invalid_type(f"{where}.tool_calls", "an array of objects", calls)
        for k, call in enumerate(calls):
            function = call.get("function") if isinstance(call, dict) else None
            if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                raise _missing(f"{where}.tool_calls[{k}].function.name")
            if not isinstance(call.get("id"), str):
                raise _missing(f"{where}.tool_calls[{k}].id")
            text += function["name"] + str(function.get("arguments") or "")
    return role, text, images


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid_type("tools", "an array of objects", raw)
    tools: list[ToolSpec] = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise _invalid_type(f"tools[{i}]", "an object", tool)
        if tool.get("type", "function") != "function":
            continue  # custom tools are accepted but never called
        function = tool.get("function")
        if not isinstance(function, dict) or "name" not in function:
            raise _missing(f"tools[{i}].function.name" if isinstance(function, dict) else f"tools[{i}].function")
        name = function["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            message = (
                f"Invalid 'tools[{i}].function.name': string does not match pattern. "
                "Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'."
            )
            raise WireError("invalid_request", message, param=f"tools[{i}].function.name", code="invalid_value")
        parameters = function.get("parameters")
        tools.append(ToolSpec(name=name, schema=parameters if isinstance(parameters, dict) else None))
    return tuple(tools)


def _tool_choice(raw: Any, tools: tuple[ToolSpec, ...], tools_given: bool) -> tuple[str, str | None]:
    if raw is None:
        return ("auto" if tools else "none"), None
    if not tools_given:
        message = "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
        raise WireError("invalid_request", message, param="tool_choice")
    if raw in ("none", "auto", "required"):
        return str(raw), None
    if isinstance(raw, dict) and raw.get("type") == "function":
        name = _obj(raw.get("function")).get("name")
        if name not in {t.name for t in tools}:
            message = f"Invalid value for 'tool_choice': function '{name}' is not among the provided tools."
            raise WireError("invalid_request", message, param="tool_choice")
        return "required", str(name)
    if isinstance(raw, dict) and raw.get("type") == "allowed_tools":
        mode = _obj(raw.get("allowed_tools")).get("mode")
        return ("required" if mode == "required" else "auto"), None
    raise _invalid_value("tool_choice", raw, ("none", "auto", "required"))


def _checks(body: dict[str, Any], stream: bool) -> None:
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128):
        raise WireError("invalid_request", f"Invalid 'n': expected an integer 1..128, got {n!r}.", param="n")
    if body.get("stream_options") is not None and not stream:
        message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        raise WireError("invalid_request", message, param="stream_options")
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and not 0 <= temperature <= 2:
        bound = (
            "above maximum value. Expected a value <= 2" if temperature > 2 else "below minimum value. Expected >= 0"
        )
        message = f"Invalid 'temperature': decimal {bound}, but got {temperature} instead."
        raise WireError("invalid_request", message, param="temperature", code="decimal_out_of_range")


def parse_openai(body: Any) -> Conversation:
    if not isinstance(body, dict):
        raise WireError(
            "invalid_request", "We could not parse the JSON body of your request. (HINT: expected an object)"
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise WireError("invalid_request", "you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list):
        raise _invalid_type("messages", "an array of objects", messages)
    if not messages:
        message = (
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."
        )
        raise WireError("invalid_request", message, param="messages", code="empty_array")
    parsed = [_message(i, m) for i, m in enumerate(messages)]
    tools = _tools(body.get("tools"))
    tool_mode, forced = _tool_choice(body.get("tool_choice"), tools, body.get("tools") is not None)
    stream = body.get("stream") is True
    _checks(body, stream)
    if not model_accepted("openai", model):
        message = f"The model `{model}` does not exist or you do not have access to it."
        raise WireError("not_found", message, code="model_not_found")
    for pattern, param, message in OPENAI_UNSUPPORTED:
        if pattern.match(model) and body.get(param) is not None:
            raise WireError("invalid_request", message, param=param, code="unsupported_parameter")
    response_format = _obj(body.get("response_format"))
    json_schema = _obj(response_format.get("json_schema")).get("schema")
    last_role, last_text, _ = parsed[-1]
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    stream_options = _obj(body.get("stream_options"))
    return Conversation(
        model=model,
        stream=stream,
        prompt_tokens=estimate_prompt(
            [text for _, text, _ in parsed],
            extra_chars=len(orjson.dumps(body.get("tools"))) if tools else 0,
            images=sum(images for _, _, images in parsed),
        ),
        user_text=next((text for role, text, _ in reversed(parsed) if role == "user" and text), ""),
        tool_result=last_text if last_role in ("tool", "function") else None,
        tools=tools,
        tool_mode=tool_mode,
        forced_tool=forced,
        parallel_calls=body.get("parallel_tool_calls") is not False,
        max_output_tokens=max_tokens if isinstance(max_tokens, int) else None,
        choices=body.get("n") or 1,
        json_schema=json_schema
        if response_format.get("type") == "json_schema" and isinstance(json_schema, dict)
        else None,
        json_mode=response_format.get("type") == "json_object",
        include_usage=stream and stream_options.get("include_usage") is True,
    )
