"""Anthropic Messages adapter: unified -> Messages API body (`build_request`), and `SPEC`.

Pure functions, no I/O (providers.md section 2 is the wire reference, sections 4-6 the mappings).
The structural work is here: system messages hoisted into `system`, OpenAI tool messages folded
into `tool_result` blocks, tool calls into `tool_use` blocks, thinking replayed before them; the
renames, clamps and thinking rules are the tables below. The rest of the provider contract is
re-exported: `parse_request` (Anthropic-format requests -> unified) from `anthropic_request`,
`parse_response` from `anthropic_reply`, `classify_error` / `stream_error` from `anthropic_errors`
and the stream parser from `anthropic_stream`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from shared.errors import RequestError
from shared.providers.anthropic_errors import PROVIDER, classify_error, stream_error
from shared.providers.anthropic_reply import parse_response
from shared.providers.anthropic_request import parse_request
from shared.providers.anthropic_stream import AnthropicStreamParser
from shared.providers.spec import HttpRequest, ProviderSpec
from shared.providers.tool_arguments import arguments_object
from shared.unified import (
    ChatRequest,
    ContentPart,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolChoiceFunction,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "EFFORT_BUDGETS",
    "JSON_OBJECT_INSTRUCTION",
    "SPEC",
    "THINKING_CLAMPS",
    "THINKING_INCOMPATIBLE_TOOL_CHOICES",
    "THINKING_ONLY_VALUES",
    "AnthropicStreamParser",
    "build_request",
    "classify_error",
    "parse_request",
    "parse_response",
    "stream_error",
    "stream_parser",
]

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # architecture.md Providers: min(4096, the model's max output)
MAX_TEMPERATURE = 1.0  # Anthropic's range is 0-1, OpenAI's 0-2: clamp (providers.md section 5)
MIN_THINKING_BUDGET = 1024  # providers.md 2.1: budget_tokens >= 1024
IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

# reasoning_effort (OpenAI's words) -> thinking budget_tokens, used when no explicit budget is
# given. Our choice: the minimum for minimal/low, doubling-ish steps above; "none" turns it off.
# When the model's max output is known, the budget is capped at half of it (room for the answer).
EFFORT_BUDGETS: dict[str, int] = {
    "none": 0,
    "minimal": 1024,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 24576,
    "max": 32768,
}

TOOL_CHOICES: dict[str, dict[str, Any]] = {
    "auto": {"type": "auto"},
    "none": {"type": "none"},
    "required": {"type": "any"},
}

# With extended thinking on, Anthropic rejects temperature other than 1 and any top_k, and takes
# top_p only in 0.95..1 (Anthropic extended-thinking docs, "Feature compatibility"). The caller
# asked for thinking, so the sampling settings give way rather than the request failing:
# a parameter here is sent only at the listed value (None: never sent while thinking) ...
THINKING_ONLY_VALUES: dict[str, float | None] = {"temperature": 1.0, "top_k": None}
# ... and one here is clamped into (low, high).
THINKING_CLAMPS: dict[str, tuple[float, float]] = {"top_p": (0.95, 1.0)}

# tool_choice types (as sent) that force tool use, which Anthropic rejects together with extended
# thinking (extended-thinking docs, "Feature compatibility": only auto and none work with it). The
# forced tool is the caller's hard requirement, thinking a preference: thinking is sent disabled.
THINKING_INCOMPATIBLE_TOOL_CHOICES = frozenset({"any", "tool"})

# Anthropic has no JSON mode (providers.md 2.1): json_object becomes this system instruction.
JSON_OBJECT_INSTRUCTION = "Respond with exactly one JSON object and nothing else: no prose, no Markdown code fences."


# ---------------------------------------------------------------------------------------------
# Unified -> Anthropic


def build_request(
    request: ChatRequest,
    *,
    api_key: str,
    base_url: str = DEFAULT_BASE_URL,
    max_output_tokens: int | None = None,
) -> HttpRequest:
    if request.n is not None and request.n > 1:
        raise RequestError("Anthropic returns a single choice: n > 1 is not supported", field="n")
    default_max = min(DEFAULT_MAX_TOKENS, max_output_tokens or DEFAULT_MAX_TOKENS)
    max_tokens = request.max_tokens if request.max_tokens is not None else default_max
    body: dict[str, Any] = {"model": request.model}
    system = _system(request)
    if system:
        body["system"] = system
    body["messages"] = _messages(request.messages)
    if not body["messages"]:
        raise RequestError("at least one non-empty user or assistant message is required", field="messages")
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
        tool_choice = _tool_choice(request)
        if tool_choice is not None:
            body["tool_choice"] = tool_choice
    budget = _thinking_budget(request, max_output_tokens)
    if budget and body.get("tool_choice", {}).get("type") in THINKING_INCOMPATIBLE_TOOL_CHOICES:
        budget = 0  # thinking off, so the thinking-only sampling and max_tokens rules do not apply
    body.update(_sampling(request, thinking=bool(budget)))
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget} if budget else {"type": "disabled"}
        # budget_tokens must be < max_tokens: leave the usual answer room on top of the budget.
        if budget and max_tokens <= budget:
            max_tokens = budget + default_max
            if max_output_tokens:
                max_tokens = min(max_tokens, max_output_tokens)
    body["max_tokens"] = max_tokens
    if request.response_format is not None and request.response_format.type == "json_schema":
        if request.response_format.schema is None:
            raise RequestError("json_schema response format needs a schema", field="response_format.json_schema")
        body["output_config"] = {"format": {"type": "json_schema", "schema": request.response_format.schema}}
    if request.stream:
        body["stream"] = True
    headers = {"x-api-key": api_key, "anthropic-version": API_VERSION, "content-type": "application/json"}
    url = base_url.rstrip("/") + "/v1/messages"
    return HttpRequest("POST", url, headers, orjson.dumps(body), stream=request.stream)


def _system(request: ChatRequest) -> str:
    texts = [m.text() for m in request.messages if m.role == "system"]
    if request.response_format is not None and request.response_format.type == "json_object":
        texts.append(JSON_OBJECT_INSTRUCTION)
    return "\n\n".join(t for t in texts if t)


def _messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if message.role == "system":
            continue
        if message.role == "assistant":
            role, blocks = "assistant", _assistant_blocks(message, i)
        elif message.role == "tool":
            role, blocks = "user", [_tool_result(message, i)]
        else:
            role, blocks = "user", _content_blocks(message.content, i, images=True)
        if not blocks:  # Anthropic rejects empty content; dropping may make two turns adjacent
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)  # consecutive same-role turns are merged
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        # tool_result blocks must open their user message (providers.md 2.1); stable sort.
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return turns


def _content_blocks(content: str | tuple[ContentPart, ...] | None, i: int, *, images: bool) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            if part.text:  # empty text blocks are a 400 (providers.md 2.1)
                blocks.append({"type": "text", "text": part.text})
        elif images:
            blocks.append(_image(part, f"messages[{i}].content[{j}].image_url"))
        else:
            raise RequestError("images are only allowed in user and tool messages", field=f"messages[{i}].content[{j}]")
    return blocks


def _image(part: ImagePart, field: str) -> dict[str, Any]:
    # Only data: URLs: the gateway does not fetch user URLs (architecture.md Providers).
    if not part.url.startswith("data:"):
        raise RequestError("Anthropic images must be data: URLs (base64); image links are not fetched", field=field)
    header, comma, data = part.url[5:].partition(",")
    media_type, *params = header.split(";")
    if not comma or not data or "base64" not in params:
        raise RequestError("malformed data: URL (expected data:<type>;base64,<data>)", field=field)
    media_type = media_type.strip().lower()
    if media_type not in IMAGE_MEDIA_TYPES:
        raise RequestError(
            f"unsupported image type {media_type!r}: Anthropic takes {', '.join(sorted(IMAGE_MEDIA_TYPES))}",
            field=field,
        )
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _tool_result(message: Message, i: int) -> dict[str, Any]:
    if not message.tool_call_id:
        raise RequestError("a tool message needs tool_call_id", field=f"messages[{i}].tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    if isinstance(message.content, str):
        if message.content:
            block["content"] = message.content
    elif message.content:
        block["content"] = _content_blocks(message.content, i, images=True)
    return block


def _assistant_blocks(message: Message, i: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    # Thinking is replayed first, before the tool_use it led to (providers.md 2.1). A block without
    # a signature (e.g. another provider's reasoning) cannot be verified by Anthropic: left out.
    for reasoning in message.reasoning:
        if reasoning.redacted:
            if reasoning.data:
                blocks.append({"type": "redacted_thinking", "data": reasoning.data})
        elif reasoning.signature:
            blocks.append({"type": "thinking", "thinking": reasoning.text, "signature": reasoning.signature})
    blocks.extend(_content_blocks(message.content, i, images=False))
    for k, call in enumerate(message.tool_calls):
        arguments = arguments_object(call.arguments, field=f"messages[{i}].tool_calls[{k}].function.arguments")
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return blocks


def _tool(tool: Tool) -> dict[str, Any]:
    wire: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        wire["description"] = tool.description
    wire["input_schema"] = tool.parameters or {"type": "object", "properties": {}}
    if tool.strict:  # only sent when asked for: older models reject the field
        wire["strict"] = True
    return wire


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if isinstance(choice, ToolChoiceFunction):
        wire: dict[str, Any] = {"type": "tool", "name": choice.name}
    elif choice is not None:
        wire = dict(TOOL_CHOICES[choice])
    elif request.parallel_tool_calls is False:
        wire = {"type": "auto"}  # the flag needs a tool_choice object to live on
    else:
        return None
    if request.parallel_tool_calls is False and wire["type"] != "none":
        wire["disable_parallel_tool_use"] = True
    return wire


def _sampling(request: ChatRequest, *, thinking: bool) -> dict[str, float | int]:
    """temperature / top_p / top_k as sent: clamped, and limited by the thinking tables."""
    temperature = None if request.temperature is None else min(request.temperature, MAX_TEMPERATURE)
    sampling: dict[str, float | int | None] = {
        "temperature": temperature,
        "top_p": request.top_p,
        "top_k": request.top_k,
    }
    if thinking:
        for key, allowed in THINKING_ONLY_VALUES.items():
            if sampling[key] is not None and sampling[key] != allowed:
                sampling[key] = None
        for key, (low, high) in THINKING_CLAMPS.items():
            value = sampling[key]
            if value is not None:
                sampling[key] = min(max(value, low), high)
    # Claude 4.5+ reject temperature and top_p together (providers.md 2.1): temperature wins.
    # Checked last: a temperature dropped for thinking no longer stands in top_p's way.
    if sampling["temperature"] is not None:
        sampling["top_p"] = None
    return {key: value for key, value in sampling.items() if value is not None}


def _thinking_budget(request: ChatRequest, max_output_tokens: int | None) -> int | None:
    """The thinking budget to send: None = say nothing, 0 = disabled."""
    if request.reasoning_budget is not None:
        if request.reasoning_budget < 0:
            raise RequestError("reasoning budget must be >= 0", field="reasoning_budget")
        return max(request.reasoning_budget, MIN_THINKING_BUDGET) if request.reasoning_budget else 0
    if request.reasoning_effort is None:
        return None
    budget = EFFORT_BUDGETS.get(request.reasoning_effort.lower())
    if budget is None:
        raise RequestError(
            f"unknown reasoning_effort {request.reasoning_effort!r} (one of {', '.join(EFFORT_BUDGETS)})",
            field="reasoning_effort",
        )
    if budget and max_output_tokens:
        budget = max(MIN_THINKING_BUDGET, min(budget, max_output_tokens // 2))
    return budget


def stream_parser(request: ChatRequest) -> AnthropicStreamParser:
    return AnthropicStreamParser()


SPEC = ProviderSpec(
    name=PROVIDER,
    default_base_url=DEFAULT_BASE_URL,
    build_request=build_request,
    parse_response=parse_response,
    stream_parser=stream_parser,
    classify_error=classify_error,
    parse_request=parse_request,
)
