"""`AiohttpUpstream`: the production `Upstream` (shared.transport), aiohttp's client used directly.

Why: on the gateway's hot path, httpx2's client on its own pure-Python HTTP/1.1 stack (httpcore2's pool,
h11's parser, its request and response models) cost about 0.95 ms of CPU per provider call; aiohttp's
client, whose parser and connection handling are in C, about 0.25 ms (`bench/results/transport.md`).

What it guarantees (the seam's contract, as `HttpxUpstream` gives it too):
- one pooled `aiohttp.ClientSession` per upstream (built lazily inside the running loop; a new loop gets a
  new session), keep-alive, at most `max_connections`; redirects are never followed;
- bodies are decoded (`content-encoding` gzip/deflate) by aiohttp, which asks for them as httpx2 did;
- a streamed body is yielded as it arrives, one read at a time, never batched;
- timeouts: connecting (and waiting for a pooled connection) within `connect_timeout`, then at most
  `read_timeout` between two reads (the time to first byte and the longest idle gap of a stream); the whole
  request is bounded by the caller;
- failures are raised as httpx2's transport errors (`ConnectTimeout`, `ReadTimeout`, `ConnectError`,
  `ReadError`, `RemoteProtocolError`), which `shared.transport.transport_error` classifies;
- closing a reply before its end closes the connection (never handed back to the pool half read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING

import httpx2

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpUpstream"]


def _translated(error: BaseException) -> httpx2.TransportError:
    """An aiohttp (or socket) failure as the httpx2 transport error of the same meaning."""
    import aiohttp

    message = f"{type(error).__name__}: {error}"
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx2.ConnectTimeout(message)
    if isinstance(error, TimeoutError | aiohttp.ServerTimeoutError):
        return httpx2.ReadTimeout(message)
    if isinstance(error, aiohttp.ClientConnectorError):
        return httpx2.ConnectError(message)
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx2.RemoteProtocolError(message)
    return httpx2.ReadError(message)


def _failures() -> tuple[type[BaseException], ...]:
    import aiohttp

    return (aiohttp.ClientError, TimeoutError, OSError)


class _Reply:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._pieces: AsyncGenerator[bytes, None] | None = None

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except _failures() as error:
            raise _translated(error) from error

    def pieces(self) -> AsyncIterator[bytes]:
        if self._pieces is None:
            self._pieces = self._read_pieces()
        return self._pieces

    async def _read_pieces(self) -> AsyncGenerator[bytes, None]:
        content = self._response.content
        while True:
            try:
                chunk = await content.readany()
            except _failures() as error:
                raise _translated(error) from error
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        if self._pieces is not None:
            await self._pieces.aclose()
        response = self._response
        if response.content.at_eof():
            response.release()
        else:
            response.close()


class AiohttpUpstream:
    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 60.0, max_connections: int = 512) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout, sock_read=self.read_timeout),
                raise_for_status=False,
            )
            self._loop = loop
        return self._session

    async def _send(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> aiohttp.ClientResponse:
        session = self._open_session()
        try:
            return await session.request(
                method, url, data=body or None, headers=dict(headers), allow_redirects=False, compress=None
            )
        except _failures() as error:
            raise _translated(error) from error

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        response = await self._send(method, url, headers, body)
        try:
            content = await response.read()
        except _failures() as error:
            response.close()
            raise _translated(error) from error
        response.release()
        return response.status, response.headers, content

    async def open(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        return _Reply(await self._send(method, url, headers, body))

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
