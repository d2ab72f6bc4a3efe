"""An offline prompt-token estimate for routing: no tokenizer download, no provider call.

The router needs a number before the call to price candidates and to check context windows; exact counts
only exist after the provider answers (and differ per provider for the same text). So the estimate uses the
common rule of thumb of about 4 characters per token (OpenAI's "what are tokens" guidance) plus the fixed
per-message and per-request framing OpenAI's cookbook counts for chat models (4 and 3 tokens).

Images: the size is unknown without decoding the image, so each image part counts a fixed allowance.
765 tokens is what OpenAI bills a 1024x1024 image at high detail (85 base + 4 tiles of 170); `detail: low`
is always 85. Anthropic (~(w*h)/750, about 1,400 for 1024x1024) and Gemini (258 per image) land on either
side, so 765 is a middle value, good enough to rank candidates.

Replayed reasoning blocks are not counted: providers strip earlier turns' thinking from the context.
"""

from __future__ import annotations

import math

import orjson

from shared.unified import ChatRequest, ImagePart, Message, Tool

__all__ = [
    "CHARS_PER_TOKEN",
    "IMAGE_TOKENS",
    "IMAGE_TOKENS_LOW",
    "PER_MESSAGE_TOKENS",
    "PER_REQUEST_TOKENS",
    "estimate_prompt_tokens",
]

CHARS_PER_TOKEN = 4
PER_MESSAGE_TOKENS = 4
PER_REQUEST_TOKENS = 3
IMAGE_TOKENS = 765
IMAGE_TOKENS_LOW = 85


def _chars_to_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def _message_tokens(message: Message) -> int:
    # Text (a tool result is the text of a `tool` message), the sender name, and each call's name + arguments.
    chars = len(message.text()) + len(message.name or "")
    chars += sum(len(call.name) + len(call.arguments) for call in message.tool_calls)
    images = 0
    if isinstance(message.content, tuple):
        images = sum(
            IMAGE_TOKENS_LOW if part.detail == "low" else IMAGE_TOKENS
            for part in message.content
            if isinstance(part, ImagePart)
        )
    return PER_MESSAGE_TOKENS + _chars_to_tokens(chars) + images


def _tool_tokens(tool: Tool) -> int:
    # Providers render tool definitions into the prompt; their JSON size is the best offline proxy.
    schema = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return _chars_to_tokens(len(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)))


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """Estimated prompt tokens of `request` (messages, tool definitions, images, a JSON response schema)."""
    total = PER_REQUEST_TOKENS
    total += sum(_message_tokens(message) for message in request.messages)
    total += sum(_tool_tokens(tool) for tool in request.tools)
    response_format = request.response_format
    if response_format is not None and response_format.schema is not None:
        # Structured output schemas are part of the prompt on OpenAI and Gemini.
        total += _chars_to_tokens(len(orjson.dumps(response_format.schema, option=orjson.OPT_SORT_KEYS)))
    return total
