"""The per-request context shared by the pipeline and the wire modules, and the wire-module protocol.

Each `<provider>_wire` module satisfies `Wire` with module-level functions (mypy checks modules against
protocols), so the pipeline in `pipeline.py` is the same for all three providers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response

from local.simulator.faults import Fault
from local.simulator.generation import Conversation, Reply

__all__ = ["Endpoint", "Exchange", "Wire"]


@dataclass(frozen=True)
class Endpoint:
    """Which API a request hit. Gemini puts the model and the stream switch in the URL."""

    provider: str
    route: str  # statistics name, e.g. "openai.chat", "gemini.stream"
    model: str | None = None
    stream: bool | None = None
    sse: bool = True  # Gemini stream endpoint: alt=sse (else a JSON array)


@dataclass(frozen=True)
class Exchange:
    endpoint: Endpoint
    model: str
    digest: str  # sha256 hex of route, model and body: ids and the reply tag derive from it
    request_id: str  # random per request, like the real request ids
    created: int = field(default_factory=lambda: int(time.time()))
    started: float = field(default_factory=time.monotonic)
    prompt_tokens: int = 0

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


class Wire(Protocol):
    """One provider's wire format. `parse` raises `faults.WireError` where the provider would reject."""

    def api_key(self, request: Request) -> str | None: ...

    def check_headers(self, request: Request, key: str | None) -> Fault | None: ...

    def model_of(self, body: Any, endpoint: Endpoint) -> str: ...

    def parse(self, body: Any, endpoint: Endpoint) -> Conversation: ...

    def error_response(self, fault: Fault, ex: Exchange) -> Response: ...

    def json_reply(self, conv: Conversation, reply: Reply, ex: Exchange) -> tuple[bytes, dict[str, str]]: ...

    def stream_reply(
        self, conv: Conversation, reply: Reply, ex: Exchange, chunks: int
    ) -> tuple[list[bytes], dict[str, str]]: ...

    def stream_error(self, fault: Fault, ex: Exchange, sent: int) -> bytes: ...
