"""Deterministic content: what the simulated model answers, and its token counts.

Each wire module reads its provider's request into a `Conversation` (the few facts that decide the answer);
`generate` turns it plus the directives into a `Reply`: a tool call when tools are offered, tool choice is
not none and the last message is not a tool result, else text. Text echoes the first words of the last user
text (tags removed) plus a tag made from the request digest, so the same body always gets the same answer.
Token counts are estimates: ceil(chars/4) per message plus 4, plus 3 per request, tool JSON as text, 85 per
image (providers.md section 7's offline estimate).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from local.simulator.directives import Directives, strip_tags
from local.simulator.schema_values import generate_value

__all__ = [
    "REFUSAL",
    "Conversation",
    "Reply",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "estimate_prompt",
    "estimate_tokens",
    "generate",
    "make_id",
    "split_text",
]

REFUSAL: Final = "I'm very sorry, but I can't assist with that request."  # openai/refusal.json
_ECHO_WORDS: Final = 12
_IMAGE_TOKENS: Final = 85
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class ToolSpec:
    name: str
    schema: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Conversation:
    """What a request asks for, in provider-neutral terms."""

    model: str
    stream: bool
    prompt_tokens: int
    user_text: str = ""
    tool_result: str | None = None  # text of the last message when it is a tool result
    tools: tuple[ToolSpec, ...] = ()
    tool_mode: str = "auto"  # auto | none | required
    forced_tool: str | None = None
    parallel_calls: bool = True
    max_output_tokens: int | None = None
    choices: int = 1
    json_schema: Mapping[str, Any] | None = None
    json_mode: bool = False
    thinking: bool = False
    include_usage: bool = False


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return orjson.dumps(self.arguments).decode()


@dataclass(frozen=True)
class Usage:
    prompt: int  # all prompt tokens, cache reads and writes included
    completion: int  # all output tokens, reasoning included
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True)
class Reply:
    text: str
    tool_calls: tuple[ToolCall, ...]
    finish: str  # stop | length | tool_calls | content_filter | blocked (the prompt was refused: no content)
    usage: Usage
    thinking: str = ""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def estimate_prompt(message_texts: Sequence[str], *, extra_chars: int = 0, images: int = 0) -> int:
    """Prompt tokens: 3 + sum(4 + ceil(chars/4)) over messages + ceil(extra/4) (tools) + 85 per image."""
    tokens = 3 + sum(4 + estimate_tokens(text) for text in message_texts)
    return tokens + math.ceil(extra_chars / 4) + _IMAGE_TOKENS * images


def make_id(seed: str, length: int) -> str:
    """`length` base62 characters derived from `seed`."""
    out: list[str] = []
    counter = 0
    while len(out) < length:
        for byte in hashlib.sha256(f"{seed}#{counter}".encode()).digest():
            out.append(_BASE62[byte % 62])
        counter += 1
    return "".join(out[:length])


def split_text(text: str, pieces: int) -> list[str]:
    """`text` in at most `pieces` nearly equal, non-empty consecutive parts."""
    if not text:
        return []
    pieces = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), pieces)
    parts: list[str] = []
    pos = 0
    for i in range(pieces):
        step = size + (1 if i < extra else 0)
        parts.append(text[pos : pos + step])
        pos += step
    return parts


def _words(text: str, limit: int = _ECHO_WORDS) -> str:
    words = strip_tags(text).split()
    short = " ".join(words[:limit])
    return short + (" ..." if len(words) > limit else "")


def _wants_tool_call(conv: Conversation, d: Directives) -> bool:
    return bool(conv.tools) and conv.tool_mode != "none" and conv.tool_result is None and d.text is None


def _tool_calls(conv: Conversation, d: Directives) -> tuple[ToolCall, ...]:
    count = (d.calls or 1) if conv.parallel_calls else 1
    by_name = {tool.name: tool for tool in conv.tools}
    calls: list[ToolCall] = []
    for i in range(count):
        tool = by_name.get(conv.forced_tool or "") or conv.tools[i % len(conv.tools)]
        value = generate_value(tool.schema or {"type": "object", "properties": {}}, seed=f"{tool.name}#{i}")
        calls.append(ToolCall(name=tool.name, arguments=value if isinstance(value, dict) else {}))
    return tuple(calls)


def _text(conv: Conversation, d: Directives, tag: str) -> str:
    if d.text is not None:
        return d.text
    if conv.json_schema is not None:
        return orjson.dumps(generate_value(conv.json_schema, seed="response_format")).decode()
    if conv.json_mode:
        return orjson.dumps({"echo": _words(conv.user_text), "tag": tag}).decode()
    if conv.tool_result is not None:
        return f"Tool result received: {_words(conv.tool_result) or '(empty)'} #{tag}"
    echo = _words(conv.user_text)
    return f"Echo: {echo} #{tag}" if echo else f"Simulated reply #{tag}"


def generate(conv: Conversation, d: Directives, digest: str) -> Reply:
    """The answer to `conv`; `digest` (hex of the request) makes the tag and nothing else."""
    tag = digest[:8]
    thinking = f"Thinking about: {_words(conv.user_text, 6) or 'the request'}" if conv.thinking else ""
    text = ""
    calls: tuple[ToolCall, ...] = ()
    if d.finish == "blocked":
        return Reply(
            text="", tool_calls=(), finish="blocked", usage=Usage(conv.prompt_tokens, estimate_tokens(REFUSAL))
        )
    if _wants_tool_call(conv, d):
        calls = _tool_calls(conv, d)
        finish = "tool_calls"
    else:
        text = _text(conv, d, tag)
        finish = "stop"
        limit = conv.max_output_tokens
        if limit is not None and estimate_tokens(text) > limit:
            text, finish = text[: max(limit, 0) * 4], "length"
    if d.finish is not None:
        finish = d.finish
    content_tokens = estimate_tokens(text) + sum(estimate_tokens(c.name + c.arguments_json) for c in calls)
    reasoning = d.reasoning_tokens if d.reasoning_tokens is not None else estimate_tokens(thinking)
    cached = min(d.cached_tokens or 0, conv.prompt_tokens)
    cache_write = min(d.cache_write_tokens or 0, conv.prompt_tokens - cached)
    usage = Usage(
        prompt=conv.prompt_tokens,
        completion=max(content_tokens, 1) + reasoning,
        cached=cached,
        cache_write=cache_write,
        reasoning=reasoning,
    )
    return Reply(text=text, tool_calls=calls, finish=finish, usage=usage, thinking=thinking)
