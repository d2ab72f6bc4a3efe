"""The Gemini Developer API adapter: unified request -> `generateContent` wire (providers.md 3.1 and 5).

`build_request` turns the unified (OpenAI-shaped) request into a camelCase `generateContent` body:
system messages hoisted into `systemInstruction`, turns as `user`/`model` contents with parts
(consecutive same-role turns merged), tool calls as `functionCall` parts carrying their
`thoughtSignature`, tool results as `functionResponse` parts, settings in `generationConfig`. This
module owns those request tables and `SPEC`, and re-exports the rest of the provider contract:
`parse_request` (Gemini's own request format, `gemini_schema`), `parse_response` (JSON replies,
`gemini_reply`), the stream parsers (`gemini_stream`) and `classify_error` (`gemini_errors`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

import orjson

from shared.errors import RequestError
from shared.providers.gemini_errors import PROVIDER, classify_error
from shared.providers.gemini_reply import parse_response
from shared.providers.gemini_schema import JSON_MIME_TYPE, parse_request
from shared.providers.gemini_stream import GeminiStreamParser, JsonArrayStreamParser
from shared.providers.spec import HttpRequest, ProviderSpec
from shared.providers.tool_arguments import arguments_object
from shared.unified import ChatRequest, ContentPart, ImagePart, Message, TextPart, Tool, ToolChoiceFunction

__all__ = [
    "DEFAULT_BASE_URL",
    "SKIP_THOUGHT_SIGNATURE",
    "SPEC",
    "THINKING_BUDGETS",
    "THINKING_LEVELS",
    "GeminiStreamParser",
    "JsonArrayStreamParser",
    "build_request",
    "classify_error",
    "parse_request",
    "parse_response",
    "stream_parser",
]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
GENERATE_ACTION = ":generateContent"
# Without alt=sse the stream is one JSON array (JsonArrayStreamParser reads that form too).
STREAM_ACTION = ":streamGenerateContent?alt=sse"
# The key goes in a header, never in the URL (`?key=` would land in proxy and access logs).
API_KEY_HEADER = "x-goog-api-key"

# Sent as `thoughtSignature` on a functionCall part whose signature the gateway no longer has (lost
# store entry, history written by a client or another provider). Gemini 3 rejects a replayed call
# without one; this documented placeholder skips the check (providers.md 3.1 ⚠: third-party docs).
SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"

# Unified scalar settings -> generationConfig keys (providers.md 3.1 and section 5).
GENERATION_SETTINGS: tuple[tuple[str, str], ...] = (
    ("max_tokens", "maxOutputTokens"),
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("n", "candidateCount"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)
# Gemini takes temperature in [0, 2], as OpenAI does; out-of-range values are clamped, not refused.
TEMPERATURE_RANGE = (0.0, 2.0)
# Gemini takes at most 5 stop sequences (3.1): the first five are kept.
MAX_STOP_SEQUENCES = 5
TOOL_CHOICE_MODES: dict[str, str] = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
FORCED_FUNCTION_MODE = "ANY"

# reasoning_effort on Gemini 3 models -> thinkingConfig.thinkingLevel (3.1). Gemini 3 cannot turn
# thinking off: "none" asks for the least. Levels above HIGH are not offered by every model, so
# xhigh/max stay at HIGH. A level a model does not support is the provider's 400 (not retried).
THINKING_LEVELS: dict[str, str] = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
    "max": "HIGH",
}
# reasoning_effort on earlier (2.5) models -> thinkingConfig.thinkingBudget tokens. 0 turns thinking
# off (2.5 Pro refuses 0: its own 400); 24576 is the largest budget every 2.5 model accepts
# (Flash 0-24576, Flash-Lite 512-24576, Pro 128-32768), 512 the smallest non-zero one.
THINKING_BUDGETS: dict[str, int] = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": 24576,
    "max": 24576,
}
THINKING_LEVEL_MODEL_PREFIX = "gemini-3"

# A parameter schema that says only "an object with no properties" is left out of a declaration
# (section 5: omit `parameters` if no props); one with any other keyword is sent as is.
EMPTY_SCHEMA_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "title", "$schema"})


def _model_name(model: str) -> str:
    return model.removeprefix("models/")


def build_request(
    request: ChatRequest,
    *,
    api_key: str,
    base_url: str = DEFAULT_BASE_URL,
    max_output_tokens: int | None = None,
) -> HttpRequest:
    """The HTTP request for `request` (`max_output_tokens` is not needed: maxOutputTokens is optional)."""
    action = STREAM_ACTION if request.stream else GENERATE_ACTION
    url = f"{base_url.rstrip('/')}/models/{quote(_model_name(request.model), safe='')}{action}"
    return HttpRequest(
        method="POST",
        url=url,
        headers={API_KEY_HEADER: api_key, "content-type": "application/json"},
        body=orjson.dumps(_body(request)),
        stream=request.stream,
    )


def _body(request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = {}
    system = "\n\n".join(text for m in request.messages if m.role == "system" and (text := m.text()))
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    contents = _contents(request.messages)
    if not contents:
        raise RequestError("Gemini needs at least one user or assistant message", field="messages")
    body["contents"] = contents
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(tool) for tool in request.tools]}]
        if request.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _calling_config(request)}
    # parallel_tool_calls has no Gemini equivalent (section 5); `user` and include_usage are dropped.
    config = _generation_config(request)
    if config:
        body["generationConfig"] = config
    return body


def _contents(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    # tool_call id -> function name: a functionResponse must name its function (3.1), and the
    # name is recoverable from the assistant message that made the call (section 5).
    names: dict[str, str] = {}
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role == "system":
            continue
        if message.role == "assistant":
            role, parts = "model", _model_parts(message, where)
            names.update((call.id, call.name) for call in message.tool_calls)
        elif message.role == "tool":
            role, parts = "user", [_function_response(message, where, names)]
        else:
            role, parts = "user", _content_parts(message.content, where)
        if not parts:
            continue
        # Consecutive same-role turns become one (tool results and the user text after them too).
        if turns and turns[-1]["role"] == role:
            turns[-1]["parts"].extend(parts)
        else:
            turns.append({"role": role, "parts": parts})
    return turns


def _content_parts(content: str | tuple[ContentPart, ...] | None, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            if part.text:
                parts.append({"text": part.text})
        elif isinstance(part, ImagePart):
            parts.append({"inlineData": _inline_data(part.url, f"{where}.content[{j}].image_url")})
    return parts


def _inline_data(url: str, field: str) -> dict[str, str]:
    """`data:<mime>[;base64],<data>` as inlineData. Other URLs: 400, the gateway fetches nothing."""
    scheme, sep, rest = url.partition(":")
    if not sep or scheme.lower() != "data":
        raise RequestError(
            "Gemini takes images only as data: URLs (base64); the gateway does not fetch image URLs",
            field=field,
        )
    header, comma, payload = rest.partition(",")
    if not comma:
        raise RequestError("malformed data: URL (no comma before the data)", field=field)
    mime, *params = header.split(";")
    if any(p.strip().lower() == "base64" for p in params):
        data = payload.strip()
    else:
        data = base64.b64encode(unquote_to_bytes(payload)).decode("ascii")
    # RFC 2397: a data: URL without a media type is text/plain.
    return {"mimeType": mime.strip() or "text/plain", "data": data}


def _model_parts(message: Message, where: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    signature: str | None = None
    for block in message.reasoning:
        if block.redacted:
            continue
        if block.text:
            parts.append({"text": block.text, "thought": True})
        signature = signature or block.signature
    content = _content_parts(message.content, where)
    # A turn's own signature goes back on its first answer part, where Gemini put it (gemini/text.json).
    target = content[0] if content else parts[-1] if parts else None
    if signature is not None and target is not None:
        target["thoughtSignature"] = signature
    parts.extend(content)
    for k, call in enumerate(message.tool_calls):
        args = arguments_object(call.arguments, field=f"{where}.tool_calls[{k}].function.arguments")
        parts.append(
            {
                "functionCall": {"name": call.name, "args": args},
                "thoughtSignature": call.thought_signature or SKIP_THOUGHT_SIGNATURE,
            }
        )
    return parts


def _function_response(message: Message, where: str, names: Mapping[str, str]) -> dict[str, Any]:
    name = names.get(message.tool_call_id or "")
    if name is None:
        raise RequestError(
            "tool message answers no tool call of an earlier assistant message", field=f"{where}.tool_call_id"
        )
    text = message.text()
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        parsed = None
    # `response` must be a JSON object (3.1): an object result as is, anything else wrapped.
    return {"functionResponse": {"name": name, "response": parsed if isinstance(parsed, dict) else {"result": text}}}


def _declaration(tool: Tool) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        declaration["description"] = tool.description
    schema = tool.parameters
    # JSON Schema goes as parametersJsonSchema, untranslated (recorded 200s: gemini/tool_call.request.json).
    if schema and (schema.get("properties") or not set(schema) <= EMPTY_SCHEMA_KEYWORDS):
        declaration["parametersJsonSchema"] = schema
    return declaration


def _calling_config(request: ChatRequest) -> dict[str, Any]:
    choice = request.tool_choice
    if isinstance(choice, ToolChoiceFunction):
        if all(tool.name != choice.name for tool in request.tools):
            raise RequestError(f"tool_choice names {choice.name!r}, which is not among the tools", field="tool_choice")
        return {"mode": FORCED_FUNCTION_MODE, "allowedFunctionNames": [choice.name]}
    return {"mode": TOOL_CHOICE_MODES[str(choice)]}


def _generation_config(request: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for attr, key in GENERATION_SETTINGS:
        value = getattr(request, attr)
        if value is not None:
            config[key] = value
    if request.temperature is not None:
        low, high = TEMPERATURE_RANGE
        config["temperature"] = min(max(request.temperature, low), high)
    if request.stop:
        config["stopSequences"] = list(request.stop[:MAX_STOP_SEQUENCES])
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        config["responseMimeType"] = JSON_MIME_TYPE
        if fmt.type == "json_schema" and fmt.schema is not None:
            config["responseJsonSchema"] = fmt.schema
    thinking = _thinking_config(request)
    if thinking:
        config["thinkingConfig"] = thinking
    return config


def _thinking_config(request: ChatRequest) -> dict[str, Any]:
    thinking: dict[str, Any] = {}
    # An explicit budget wins over an effort word: Gemini 400s when both budget and level are set.
    if request.reasoning_budget is not None:
        thinking["thinkingBudget"] = request.reasoning_budget
    elif request.reasoning_effort is not None:
        effort = request.reasoning_effort.lower()
        if effort not in THINKING_BUDGETS:
            raise RequestError(f"unknown reasoning_effort {request.reasoning_effort!r}", field="reasoning_effort")
        if _model_name(request.model).startswith(THINKING_LEVEL_MODEL_PREFIX):
            thinking["thinkingLevel"] = THINKING_LEVELS[effort]
        else:
            thinking["thinkingBudget"] = THINKING_BUDGETS[effort]
    if request.include_reasoning is not None:
        thinking["includeThoughts"] = request.include_reasoning
    return thinking


def stream_parser(request: ChatRequest) -> GeminiStreamParser:
    """The parser for the `alt=sse` stream `build_request` asks for."""
    return GeminiStreamParser(_model_name(request.model))


SPEC = ProviderSpec(
    name=PROVIDER,
    default_base_url=DEFAULT_BASE_URL,
    build_request=build_request,
    parse_response=parse_response,
    stream_parser=stream_parser,
    classify_error=classify_error,
    parse_request=parse_request,
)
