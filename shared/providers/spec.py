"""What a provider module exports: the `ProviderSpec` of pure functions, and the request it builds.

A provider is a module of pure transforms (no I/O): build the HTTP request, parse a JSON
response, parse a stream incrementally, classify an error. The one transport seam (an injected
`httpx2.AsyncClient`) sends what `build_request` returns; nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from shared.errors import ProviderError
from shared.unified import ChatChunk, ChatRequest, ChatResponse

__all__ = ["HttpRequest", "ProviderSpec", "StreamParser"]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    stream: bool = False


class StreamParser(Protocol):
    """Incremental stream parser: bytes in (split anywhere), unified chunks out.

    `feed` raises `ProviderError` (with `in_stream=True`) when the provider sends an error event
    inside a 200 stream; `close` is called at end of input and raises the same when the stream
    ended before the provider said it was complete (a cut connection).
    """

    def feed(self, data: bytes) -> list[ChatChunk]: ...

    def close(self) -> list[ChatChunk]: ...


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    name: str
    default_base_url: str
    build_request: Callable[..., HttpRequest]
    """`build_request(request, *, api_key, base_url) -> HttpRequest`; raises `RequestError`."""
    parse_response: Callable[[bytes], ChatResponse]
    stream_parser: Callable[[ChatRequest], StreamParser]
    classify_error: Callable[[int, bytes, Mapping[str, str]], ProviderError]
    parse_request: Callable[..., ChatRequest]
    """`parse_request(body: dict, *, model: str | None = None) -> ChatRequest`: the provider's
    own request format into the unified form (round-trip tests, provider-native front doors)."""
