"""The one transport seam: `Upstream`, through which every provider call goes.

One upstream per instance (connection pooling and keep-alive to each provider). Two implementations:
- `AiohttpUpstream` (shared.aiohttp_transport), the production one: aiohttp's C HTTP/1.1 client used
  directly, about a quarter of the CPU per call of httpx2's client on its own stack
  (`bench/results/transport.md`);
- `HttpxUpstream`, the same seam over an `httpx2.AsyncClient`: what tests hand a transport to
  (`httpx2.MockTransport`), and what runs whenever a transport is given.

Timeouts follow the architecture: connect 5 s; a read timeout that is both the time to first byte and the
longest idle gap inside a stream (60 s); the whole request is bounded by the caller. Redirects are not
followed (a provider's redirect is an answer to classify, not a place to send the provider key). Failures
are raised as httpx2's transport errors by both implementations, and `transport_error` turns them into
`ProviderError`s of kind `network_error` or `timeout`, retryable: nothing reached the client yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import httpx2

from shared.errors import ErrorKind, ProviderError

__all__ = ["HttpxUpstream", "Upstream", "UpstreamReply", "make_client", "make_upstream", "transport_error"]

Headers = Mapping[str, str]  # case-insensitive in both implementations


class UpstreamReply(Protocol):
    """An answer whose body is still to be read (streams): status and headers first, then the body."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Headers: ...

    async def read(self) -> bytes:
        """The whole (decoded) body."""
        ...

    def pieces(self) -> AsyncIterator[bytes]:
        """The decoded body as it arrives, one read at a time, never batched."""
        ...

    async def aclose(self) -> None:
        """Done with it: a body not read to the end closes its connection."""
        ...


class Upstream(Protocol):
    async def request(self, method: str, url: str, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        """Send and read the whole answer: status, headers, decoded body."""
        ...

    async def open(self, method: str, url: str, headers: Headers, body: bytes) -> UpstreamReply:
        """Send and return once the status line and headers are in (a stream)."""
        ...

    async def aclose(self) -> None: ...


def make_client(
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    max_connections: int = 512,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> httpx2.AsyncClient:
    timeout = httpx2.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout)
    limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx2.AsyncClient(timeout=timeout, limits=limits, transport=transport, follow_redirects=False)


class _HttpxReply:
    def __init__(self, response: httpx2.Response) -> None:
        self._response = response
        self._pieces: AsyncIterator[bytes] | None = None  # httpx2's aiter_bytes: an async generator

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Headers:
        return self._response.headers

    async def read(self) -> bytes:
        return await self._response.aread()

    def pieces(self) -> AsyncIterator[bytes]:
        if self._pieces is None:
            self._pieces = self._response.aiter_bytes()
        return self._pieces

    async def aclose(self) -> None:
        closing = getattr(self._pieces, "aclose", None)
        if closing is not None:
            await closing()
        await self._response.aclose()


class HttpxUpstream:
    """`Upstream` over an `httpx2.AsyncClient` (which it owns and closes)."""

    def __init__(self, client: httpx2.AsyncClient) -> None:
        self.client = client

    async def request(self, method: str, url: str, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        reply = await self.client.request(method, url, headers=headers, content=body)
        return reply.status_code, reply.headers, reply.content

    async def open(self, method: str, url: str, headers: Headers, body: bytes) -> UpstreamReply:
        outgoing = self.client.build_request(method, url, headers=headers, content=body)
        return _HttpxReply(await self.client.send(outgoing, stream=True))

    async def aclose(self) -> None:
        await self.client.aclose()


def make_upstream(
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
    max_connections: int = 512,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> Upstream:
    """The instance's upstream: aiohttp directly, or httpx2 over `transport` when one is given (tests)."""
    if transport is not None:
        return HttpxUpstream(
            make_client(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_connections=max_connections,
                transport=transport,
            )
        )
    from shared.aiohttp_transport import AiohttpUpstream

    return AiohttpUpstream(connect_timeout=connect_timeout, read_timeout=read_timeout, max_connections=max_connections)


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
