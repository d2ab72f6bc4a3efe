"""The unified chat form: what every provider adapter builds from and parses into.

It is shaped after OpenAI Chat Completions (the gateway's public wire format) but is our own
type, so adapters never hand each other raw provider JSON. Everything is a frozen, slotted
dataclass: cheap to build on the hot path and safe to share between tasks.

Conventions:
- ``Message.content`` is ``None``, a string, or a tuple of parts (text and media).
- Tool-call ``arguments`` are the JSON *string*, as on the OpenAI wire; adapters for providers
  that take objects parse it (an empty string means ``{}``).
- ``Usage.input_tokens`` counts *every* prompt token (uncached, cache reads and cache writes),
  ``Usage.output_tokens`` every generated token including reasoning: OpenAI's meaning, so that
  the same numbers go into the reply and into billing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "ChunkChoice",
    "ContentPart",
    "Delta",
    "FinishReason",
    "ImagePart",
    "Message",
    "ReasoningBlock",
    "ResponseFormat",
    "ResponseMessage",
    "Role",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolChoiceFunction",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image (or other inline media) by URL: a ``data:<mime>;base64,...`` URL or ``https``."""

    url: str
    detail: Literal["auto", "low", "high"] | None = None


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str
    # Gemini's opaque `thoughtSignature` for this call. Never sent to clients; kept in the
    # signature store keyed by (tenant, id) and put back here before the next request is built.
    thought_signature: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningBlock:
    """A reasoning block a provider returned and may need replayed (Anthropic ``thinking``).

    ``redacted`` blocks carry only the encrypted ``data``; ``signature`` authenticates the text.
    """

    text: str = ""
    signature: str | None = None
    redacted: bool = False
    data: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str | tuple[ContentPart, ...] | None = None
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    reasoning: tuple[ReasoningBlock, ...] = ()

    def text(self) -> str:
        """All text of the content joined (media parts skipped)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, object] | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolChoiceFunction:
    name: str


ToolChoice = Literal["auto", "none", "required"] | ToolChoiceFunction


@dataclass(frozen=True, slots=True)
class ResponseFormat:
    type: Literal["text", "json_object", "json_schema"]
    schema: dict[str, object] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    n: int | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_format: ResponseFormat | None = None
    stream: bool = False
    include_usage: bool = False
    user: str | None = None
    # Reasoning controls. `reasoning_effort` is OpenAI's word (minimal|low|medium|high|...);
    # `reasoning_budget` a token budget (Anthropic `budget_tokens`, Gemini `thinkingBudget`;
    # 0 turns thinking off); `include_reasoning` asks for thought summaries in the reply.
    reasoning_effort: str | None = None
    reasoning_budget: int | None = None
    include_reasoning: bool | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class ResponseMessage:
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    refusal: str | None = None
    reasoning: tuple[ReasoningBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class Choice:
    index: int
    message: ResponseMessage
    finish_reason: FinishReason | None


@dataclass(frozen=True, slots=True)
class ChatResponse:
    id: str
    model: str
    # Unix seconds from the provider; 0 when it sends none (Anthropic): the API layer stamps it.
    created: int
    choices: tuple[Choice, ...]
    usage: Usage | None = None
    # The provider's own reason when it differs from the mapped one (e.g. Gemini "RECITATION").
    provider_finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """One streamed piece of a tool call. The first piece of a call has ``id`` and ``name``."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""
    thought_signature: str | None = None


@dataclass(frozen=True, slots=True)
class Delta:
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()
    reasoning: str | None = None
    # Anthropic's `signature_delta` for the thinking block being streamed (needed to replay it).
    reasoning_signature: str | None = None
    # Anthropic `redacted_thinking` block data: opaque, replayed as-is on the next turn.
    reasoning_redacted: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class ChunkChoice:
    index: int
    delta: Delta
    finish_reason: FinishReason | None = None


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One unified stream chunk: OpenAI's ``chat.completion.chunk`` in our own types.

    A chunk with no choices and a ``usage`` is the final usage chunk.
    """

    id: str
    model: str
    created: int
    choices: tuple[ChunkChoice, ...] = ()
    usage: Usage | None = None
