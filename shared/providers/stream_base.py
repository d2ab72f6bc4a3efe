"""The skeleton every SSE-based provider stream parser shares.

A subclass maps one decoded `SSEEvent` to unified chunks (`on_event`) and says what end of input
means (`on_end`: emit the last chunks, or raise if the provider never said the stream was
complete). This class owns the rule for errors inside a 200 stream: the chunks decoded before the
error are returned first and the error is raised by the next call, so nothing already received
is lost and nothing after the error is trusted.
"""

from __future__ import annotations

from shared.errors import ProviderError
from shared.providers.sse import SSEDecoder, SSEEvent
from shared.unified import ChatChunk

__all__ = ["SSEStreamParser"]


class SSEStreamParser:
    def __init__(self) -> None:
        self._sse = SSEDecoder()
        self._error: ProviderError | None = None

    def on_event(self, event: SSEEvent) -> list[ChatChunk]:
        raise NotImplementedError

    def on_end(self) -> list[ChatChunk]:
        raise NotImplementedError

    def feed(self, data: bytes) -> list[ChatChunk]:
        if self._error is not None:
            raise self._error
        return self._run(self._sse.feed(data))

    def close(self) -> list[ChatChunk]:
        if self._error is not None:
            raise self._error
        # The flush holds at most the one last, unterminated event: an error there has no chunks
        # before it in this call, so `_run` raises it directly.
        out = self._run(self._sse.flush())
        out.extend(self.on_end())
        return out

    def _run(self, events: list[SSEEvent]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        for event in events:
            try:
                out.extend(self.on_event(event))
            except ProviderError as error:
                if not out:
                    raise
                self._error = error
                break
        return out
