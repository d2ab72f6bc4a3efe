"""The one transport seam: the pooled `httpx2.AsyncClient` every provider call goes through.

Below the client, the wire is `AiohttpTransport` (shared.aiohttp_transport: aiohttp's C parser, about a
third of the CPU of httpx2's own stack per call); tests hand in their own transport (`httpx2.MockTransport`).

One client per instance (connection pooling and keep-alive to each provider). Timeouts follow the
architecture: connect 5 s; a read timeout that is both the time to first byte and the longest idle gap
inside a stream (60 s); the whole request is bounded by the caller. Transport failures become
`ProviderError`s of kind `network_error` or `timeout`, retryable: nothing reached the client yet.
"""

from __future__ import annotations

import httpx2

from shared.aiohttp_transport import AiohttpTransport
from shared.errors import ErrorKind, ProviderError

__all__ = ["make_client", "transport_error"]


def make_client(
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    max_connections: int = 512,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> httpx2.AsyncClient:
    timeout = httpx2.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout)
    limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    if transport is None:
        transport = AiohttpTransport(
            connect_timeout=connect_timeout, read_timeout=read_timeout, max_connections=max_connections
        )
    return httpx2.AsyncClient(timeout=timeout, limits=limits, transport=transport, follow_redirects=False)


def transport_error(error: Exception, provider: str) -> ProviderError:
    """Map an httpx2 failure to the normalized kinds (providers.md section 4, network_error row)."""
    kind: ErrorKind
    if isinstance(error, httpx2.TimeoutException):
        kind = "timeout"
        message = f"{provider} did not answer in time ({type(error).__name__})"
    else:
        kind = "network_error"
        message = f"could not talk to {provider} ({type(error).__name__})"
    return ProviderError(message, kind=kind, provider=provider, retryable=True)
