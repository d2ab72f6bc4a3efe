"""Anthropic Messages requests: the checks the real API makes, and the `Conversation` they describe.

Messages follow providers.md 2.1 and the recording `anthropic/error_400.json` ("messages.0: Input does not
match the expected shape." for `"messages": ["Invalid content"]`). Also reproduced, because a translating
gateway can get them wrong: `max_tokens` is required, `temperature` is at most 1, text blocks must be
non-empty, every `tool_use` needs its `tool_result` in the very next message (and vice versa), thinking
budgets are >= 1024 and below `max_tokens`, tool input schemas are objects.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from local.simulator.faults import WireError
from local.simulator.generation import Conversation, ToolSpec, estimate_prompt
from local.simulator.models import model_accepted

__all__ = ["parse_anthropic"]

_BLOCK_TYPES: Final = frozenset(
    {
        "text",
        "image",
        "document",
        "tool_use",
        "tool_result",
        "thinking",
        "redacted_thinking",
        "search_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "code_execution_tool_result",
        "container_upload",
        "mcp_tool_use",
        "mcp_tool_result",
    }
)
_NON_EMPTY: Final = "all messages must have non-empty content except for the optional final assistant message"


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _bad(message: str) -> WireError:
    return WireError("invalid_request", message)


def _result_text(content: Any) -> str:
    """Text of a string or of the text blocks in a block list (tool results, system)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _bad("system: Input should be a valid string")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _bad(f"system.{i}: Input does not match the expected shape.")
        if not isinstance(block.get("text"), str):
            raise _bad(f"system.{i}.text: Input should be a valid string")


def _block(i: int, j: int, block: Any) -> tuple[str, int]:
    """(text for counting, images) of one content block, validating it."""
    where = f"messages.{i}.content.{j}"
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise _bad(f"{where}: Input does not match the expected shape.")
    kind = block["type"]
    if kind not in _BLOCK_TYPES:
        raise _bad(f"{where}: Input tag '{kind}' found using 'type' does not match any of the expected tags")
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise _bad(f"{where}.text: Field required")
        if not block["text"]:
            raise _bad("messages: text content blocks must be non-empty")
        return block["text"], 0
    if kind == "tool_use":
        for name in ("id", "name", "input"):
            if name not in block:
                raise _bad(f"{where}.tool_use.{name}: Field required")
        if not isinstance(block["input"], dict):
            raise _bad(f"{where}.tool_use.input: Input should be a valid dictionary")
        return block["name"] + orjson.dumps(block["input"]).decode(), 0
    if kind == "tool_result":
        if not isinstance(block.get("tool_use_id"), str):
            raise _bad(f"{where}.tool_result.tool_use_id: Field required")
        return _result_text(block.get("content")), 0
    if kind == "thinking":
        return str(block.get("thinking") or ""), 0
    return "", 1 if kind in ("image", "document") else 0


def _ids(message: dict[str, Any], kind: str, key: str) -> list[str]:
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [str(b.get(key)) for b in content if isinstance(b, dict) and b.get("type") == kind]


def _check_tool_pairs(messages: list[dict[str, Any]]) -> None:
    for i, message in enumerate(messages):
        results = _ids(message, "tool_result", "tool_use_id") if message["role"] == "user" else []
        previous = _ids(messages[i - 1], "tool_use", "id") if i > 0 and messages[i - 1]["role"] == "assistant" else []
        stray = [r for r in results if r not in previous]
        if stray:
            raise _bad(
                f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: {stray[0]}. "
                "Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
            )
        uses = _ids(message, "tool_use", "id") if message["role"] == "assistant" else []
        following = _ids(messages[i + 1], "tool_result", "tool_use_id") if i + 1 < len(messages) else []
        unanswered = [u for u in uses if u not in following]
        if unanswered and i + 1 < len(messages):
            raise _bad(
                f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(unanswered)}. Each `tool_use` block must have a corresponding `tool_result` block in "
                "the next message."
            )


def _messages(raw: list[Any]) -> tuple[list[dict[str, Any]], list[str], int]:
    texts: list[str] = []
    images = 0
    for i, message in enumerate(raw):
        if not isinstance(message, dict):
            raise _bad(f"messages.{i}: Input does not match the expected shape.")
        if message.get("role") not in ("user", "assistant"):
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise _bad(f"messages.{i}.content: Field required")
        content = message["content"]
        final_assistant = i == len(raw) - 1 and message["role"] == "assistant"
        if isinstance(content, str):
            if not content and not final_assistant:
                raise _bad(f"messages.{i}: {_NON_EMPTY}")
            texts.append(content)
            continue
        if not isinstance(content, list):
            raise _bad(f"messages.{i}.content: Input should be a valid list")
        if not content and not final_assistant:
            raise _bad(f"messages.{i}: {_NON_EMPTY}")
        pieces = [_block(i, j, block) for j, block in enumerate(content)]
        texts.append("\n".join(text for text, _ in pieces))
        images += sum(n for _, n in pieces)
    return raw, texts, images


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad("tools: Input should be a valid list")
    tools: list[ToolSpec] = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise _bad(f"tools.{i}.custom.name: Field required")
        if tool.get("type") not in (None, "custom"):
            continue  # server tools (web search, ...) are accepted but never called
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise _bad(f"tools.{i}.custom.input_schema: Field required")
        if schema.get("type") != "object":
            raise _bad(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
        tools.append(ToolSpec(name=tool["name"], schema=schema))
    return tuple(tools)


def _tool_choice(raw: Any, tools: tuple[ToolSpec, ...]) -> tuple[str, str | None, bool]:
    """(mode, forced tool, parallel calls allowed)."""
    if raw is None:
        return "auto", None, True
    if not isinstance(raw, dict) or raw.get("type") not in ("auto", "any", "tool", "none"):
        raise _bad("tool_choice: Input tag does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
    kind = raw["type"]
    parallel = raw.get("disable_parallel_tool_use") is not True
    if kind == "tool":
        name = raw.get("name")
        if name not in {t.name for t in tools}:
            raise _bad(f"tool_choice.tool.name: Tool '{name}' not found in provided tools")
        return "required", str(name), parallel
    return {"auto": "auto", "any": "required", "none": "none"}[kind], None, parallel


def _settings(body: dict[str, Any]) -> tuple[int, bool]:
    max_tokens = body["max_tokens"]
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise _bad("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _bad("max_tokens: Input should be greater than or equal to 1")
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and not 0 <= temperature <= 1:
        raise _bad("temperature: Input should be less than or equal to 1")
    thinking: dict[str, Any] = body["thinking"] if isinstance(body.get("thinking"), dict) else {}
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise _bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
        if max_tokens <= budget:
            raise _bad("`max_tokens` must be greater than `thinking.budget_tokens`.")
    return max_tokens, thinking.get("type") in ("enabled", "adaptive")


def parse_anthropic(body: Any) -> Conversation:
    if not isinstance(body, dict):
        raise _bad("The request body is not a JSON object.")
    for field in ("model", "max_tokens", "messages"):
        if field not in body:
            raise _bad(f"{field}: Field required")
    model = body["model"]
    if not isinstance(model, str):
        raise _bad("model: Input should be a valid string")
    if not isinstance(body["messages"], list):
        raise _bad("messages: Input should be a valid list")
    if not body["messages"]:
        raise _bad("messages: List should have at least 1 item after validation, not 0")
    messages, texts, images = _messages(body["messages"])
    _check_tool_pairs(messages)
    max_tokens, thinking = _settings(body)
    system = body.get("system")
    _check_system(system)
    tools = _tools(body.get("tools"))
    mode, forced, parallel = _tool_choice(body.get("tool_choice"), tools)
    if not model_accepted("anthropic", model):
        raise WireError("not_found", f"model: {model}")
    schema = _obj(_obj(body.get("output_config")).get("format")).get("schema")
    last = messages[-1]
    last_results: list[Any] = []
    if last["role"] == "user" and isinstance(last["content"], list):
        last_results = [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    system_text = system if isinstance(system, str) else _result_text(system)
    return Conversation(
        model=model,
        stream=body.get("stream") is True,
        prompt_tokens=estimate_prompt(
            [system_text, *texts] if system_text else texts,
            extra_chars=len(orjson.dumps(body.get("tools"))) if tools else 0,
            images=images,
        ),
        user_text=_user_text(messages),
        tool_result=_result_text(last_results[-1].get("content")) if last_results else None,
        tools=tools,
        tool_mode=mode,
        forced_tool=forced,
        parallel_calls=parallel,
        max_output_tokens=max_tokens,
        json_schema=schema if isinstance(schema, dict) else None,
        thinking=thinking,
    )


def _user_text(messages: list[dict[str, Any]]) -> str:
    """Text of the last user message that has any (tool results alone do not count)."""
    for message in reversed(messages):
        if message["role"] != "user":
            continue
        content = message["content"]
        if isinstance(content, str) and content:
            return content
        if isinstance(content, list):
            text = "\n".join(b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text")
            if text:
                return text
    return ""
