"""ASGI responses that take their time or break on purpose.

`FrameStream` sends a stream's frames on a schedule (time to first frame, gap between frames) and can stop
after N frames to send an error frame and end cleanly (`error_after`), or to drop the connection (`cut_after`).
`CutBody` sends a JSON reply's headers and half its body, then drops the connection.

A drop is the ASGI app returning without the final `more_body=False` message: the server then closes the
connection mid-body (a chunked body lacks its terminating chunk, a sized body its remaining bytes), which
clients report as a protocol error. All waits are `asyncio.sleep`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from starlette.types import Receive, Scope, Send

__all__ = ["CutBody", "FrameStream"]


def _raw(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


async def _pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


class FrameStream:
    def __init__(
        self,
        frames: Sequence[bytes],
        headers: Mapping[str, str],
        *,
        first_delay: float = 0.0,
        gap: float = 0.0,
        stop_after: int | None = None,
        error_frame: bytes | None = None,
        cut: bool = False,
        status: int = 200,
    ) -> None:
        self.frames = frames
        self.headers = headers
        self.first_delay = first_delay
        self.gap = gap
        self.stop_after = len(frames) if stop_after is None else min(stop_after, len(frames))
        self.error_frame = error_frame
        self.cut = cut
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": _raw(self.headers)})
        outgoing = list(self.frames[: self.stop_after])
        if self.error_frame is not None:
            outgoing.append(self.error_frame)
        for n, frame in enumerate(outgoing):
            await _pause(self.first_delay if n == 0 else self.gap)
            await send({"type": "http.response.body", "body": frame, "more_body": True})
        if self.cut:
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class CutBody:
    def __init__(self, body: bytes, headers: Mapping[str, str], *, status: int = 200) -> None:
        self.body = body
        self.headers = dict(headers) | {"content-length": str(len(body))}
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": _raw(self.headers)})
        await send({"type": "http.response.body", "body": self.body[: len(self.body) // 2], "more_body": True})
