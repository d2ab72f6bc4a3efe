"""`AiohttpTransport`: the production transport under the one `httpx2.AsyncClient` (shared.transport).

Why: on this gateway's hot path the pure-Python HTTP/1.1 stack under httpx2 (httpcore2's pool and h11's
parser) cost about 0.85 ms of CPU per provider call, against about 0.25 ms for aiohttp's client, whose
parser and connection handling are in C (`bench/results/transport.md`). The service core keeps talking to
`httpx2.AsyncClient` (requests, streaming responses, error classes, the tests' `MockTransport`); only the
wire below it changes.

What it keeps from the httpx2 contract:
- one pooled `aiohttp.ClientSession` per transport (built lazily inside the running loop), keep-alive, at
  most `max_connections`; the headers sent are exactly the request's (aiohttp adds none of its own: no
  User-Agent, Accept or Accept-Encoding defaults; Host and Content-Length follow the request);
- bodies are not decompressed here: httpx2 decodes `content-encoding` itself;
- a streaming body is yielded as it arrives, one read at a time, never batched;
- timeouts: connecting (and waiting for a pooled connection) within `connect_timeout`, then at most
  `read_timeout` between two reads (the time to first byte and the longest idle gap of a stream); the whole
  request is bounded by the caller;
- failures are raised as httpx2's transport errors (`ConnectTimeout`, `ReadTimeout`, `ConnectError`,
  `ReadError`, `RemoteProtocolError`), which `shared.transport.transport_error` classifies as before;
- closing a response before its end closes the connection (never returned to the pool half read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx2

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport"]

# aiohttp would add these when absent; the request's own headers are all that is sent.
_NO_AUTO_HEADERS = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})


def _translated(error: BaseException, request: httpx2.Request) -> httpx2.TransportError:
    """An aiohttp (or socket) failure as the httpx2 transport error of the same meaning."""
    import aiohttp

    message = f"{type(error).__name__}: {error}"
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx2.ConnectTimeout(message, request=request)
    if isinstance(error, TimeoutError | aiohttp.ServerTimeoutError):
        return httpx2.ReadTimeout(message, request=request)
    if isinstance(error, aiohttp.ClientConnectorError):
        return httpx2.ConnectError(message, request=request)
    if isinstance(error, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx2.RemoteProtocolError(message, request=request)
    return httpx2.ReadError(message, request=request)


class _Body(httpx2.AsyncByteStream):
    """The response body as aiohttp receives it; closing early drops the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx2.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import aiohttp

        content = self._response.content
        while True:
            try:
                chunk = await content.readany()
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                raise _translated(error, self._request) from error
            if not chunk:
                return
            yield chunk

    async def aclose(self) -> None:
        response = self._response
        if response.content.at_eof():
            response.release()
        else:
            response.close()


class AiohttpTransport(httpx2.AsyncBaseTransport):
    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 60.0, max_connections: int = 512) -> None:
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A new loop (a test, a server restarted in-process) gets a session of its own.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(total=None, connect=self._connect_timeout, sock_read=self._read_timeout),
                auto_decompress=False,
                skip_auto_headers=_NO_AUTO_HEADERS,
                raise_for_status=False,
            )
            self._loop = loop
        return self._session

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        import aiohttp

        session = self._open()
        body = await request.aread()
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw if k.lower() != b"host"]
        try:
            response = await session.request(
                request.method,
                str(request.url),
                data=body or None,
                headers=headers,
                allow_redirects=False,
                compress=None,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise _translated(error, request) from error
        return httpx2.Response(
            response.status,
            headers=[(k, v) for k, v in response.raw_headers],
            stream=_Body(response, request),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
