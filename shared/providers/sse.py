"""Incremental Server-Sent Events decoding, shared by the three provider stream parsers.

Follows the WHATWG event-stream rules the providers rely on: lines end in CRLF, LF or CR
(Gemini sends CRLF, the others LF), a blank line dispatches the event, `data:` lines are joined
with newlines, one leading space after the colon is dropped, lines starting with `:` are
comments. Input may be split anywhere, including inside a multi-byte UTF-8 character or between
the CR and LF of one line ending.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str | None
    data: str


class SSEDecoder:
    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._skip_lf = False
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, data: bytes) -> list[SSEEvent]:
        return self._consume(self._utf8.decode(data))

    def flush(self) -> list[SSEEvent]:
        """End of input: a last event without its closing blank line is still delivered."""
        events = self._consume(self._utf8.decode(b"", final=True))
        if self._buffer:
            line, self._buffer = self._buffer, ""
            self._line(line, events)
        self._dispatch(events)
        return events

    def _consume(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if not text:
            return events
        if self._skip_lf:
            self._skip_lf = False
            if text.startswith("\n"):
                text = text[1:]
        buffer = self._buffer + text
        start = 0
        length = len(buffer)
        while True:
            cr = buffer.find("\r", start)
            lf = buffer.find("\n", start)
            if cr == -1 and lf == -1:
                break
            if cr == -1 or (lf != -1 and lf < cr):
                self._line(buffer[start:lf], events)
                start = lf + 1
                continue
            self._line(buffer[start:cr], events)
            if cr + 1 < length:
                start = cr + 2 if buffer[cr + 1] == "\n" else cr + 1
            else:
                # A CR at the very end: its LF may arrive in the next piece.
                self._skip_lf = True
                start = cr + 1
        self._buffer = buffer[start:]
        return events

    def _line(self, line: str, events: list[SSEEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._data:
            events.append(SSEEvent(self._event, "\n".join(self._data)))
        self._data = []
        self._event = None
