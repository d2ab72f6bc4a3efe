"""Folding a unified chunk stream back into one `ChatResponse`.

Used wherever a streamed answer must be known whole: the response cache, usage events, and the
tests that prove a stream parser yields the same message as the provider's JSON reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.unified import (
    ChatChunk,
    ChatResponse,
    Choice,
    FinishReason,
    ReasoningBlock,
    ResponseMessage,
    ToolCall,
    Usage,
)

__all__ = ["StreamAssembler", "assemble"]


@dataclass(slots=True)
class _Call:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)
    thought_signature: str | None = None


@dataclass(slots=True)
class _ChoiceState:
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    # Reasoning blocks in arrival order. A signature closes the open thinking block (Anthropic
    # sends `signature_delta` last in each block); a redacted block is whole on arrival.
    blocks: list[ReasoningBlock] = field(default_factory=list)
    open_text: list[str] | None = None
    calls: dict[int, _Call] = field(default_factory=dict)
    finish_reason: FinishReason | None = None


class StreamAssembler:
    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.usage: Usage | None = None
        self._choices: dict[int, _ChoiceState] = {}

    def add(self, chunk: ChatChunk) -> None:
        self.id = self.id or chunk.id
        self.model = self.model or chunk.model
        self.created = self.created or chunk.created
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            state = self._choices.setdefault(choice.index, _ChoiceState())
            delta = choice.delta
            if delta.content:
                state.content.append(delta.content)
            if delta.refusal:
                state.refusal.append(delta.refusal)
            if delta.reasoning:
                if state.open_text is None:
                    state.open_text = []
                state.open_text.append(delta.reasoning)
            if delta.reasoning_signature:
                state.blocks.append(
                    ReasoningBlock(text="".join(state.open_text or ()), signature=delta.reasoning_signature)
                )
                state.open_text = None
            if delta.reasoning_redacted:
                _close_thinking(state)
                state.blocks.append(ReasoningBlock(redacted=True, data=delta.reasoning_redacted))
            for piece in delta.tool_calls:
                call = state.calls.setdefault(piece.index, _Call())
                if piece.id:
                    call.id = piece.id
                if piece.name:
                    call.name = piece.name
                if piece.arguments:
                    call.arguments.append(piece.arguments)
                if piece.thought_signature:
                    call.thought_signature = piece.thought_signature
            if choice.finish_reason is not None:
                state.finish_reason = choice.finish_reason

    def result(self) -> ChatResponse:
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            calls = tuple(
                ToolCall(id=c.id, name=c.name, arguments="".join(c.arguments), thought_signature=c.thought_signature)
                for _, c in sorted(state.calls.items())
            )
            _close_thinking(state)
            message = ResponseMessage(
                content="".join(state.content) if state.content else None,
                tool_calls=calls,
                refusal="".join(state.refusal) if state.refusal else None,
                reasoning=tuple(state.blocks),
            )
            choices.append(Choice(index=index, message=message, finish_reason=state.finish_reason))
        return ChatResponse(
            id=self.id, model=self.model, created=self.created, choices=tuple(choices), usage=self.usage
        )


def _close_thinking(state: _ChoiceState) -> None:
    """Thinking text with no signature yet (Gemini thought summaries, a cut stream) ends here."""
    if state.open_text is not None:
        state.blocks.append(ReasoningBlock(text="".join(state.open_text)))
        state.open_text = None


def assemble(chunks: list[ChatChunk]) -> ChatResponse:
    assembler = StreamAssembler()
    for chunk in chunks:
        assembler.add(chunk)
    return assembler.result()
