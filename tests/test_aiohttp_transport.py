"""`AiohttpUpstream`, the production upstream, against a real HTTP/1.1 server on loopback (a raw asyncio
server, so every byte on the wire is the test's): the request's headers and body, gzip decoded, a stream
read as it arrives, keep-alive, and each failure mapped to the httpx2 error `transport_error` classifies."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx2
import pytest

from shared.aiohttp_transport import AiohttpUpstream
from shared.transport import transport_error

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]


@dataclass
class Server:
    url: str = ""
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    connections: int = 0


async def read_request(reader: asyncio.StreamReader, server: Server) -> bool:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    server.requests.append((lines[0], headers, body))
    return True


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> Server:
        state = Server()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            try:
                await handler(reader, writer, state)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        return state

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def reply(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"content-length: {len(body)}", "content-type: application/json", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
    while await read_request(reader, server):
        writer.write(reply(b'{"ok": true}'))
        await writer.drain()


@pytest.fixture
async def upstream() -> AsyncIterator[AiohttpUpstream]:
    made = AiohttpUpstream()
    yield made
    await made.aclose()


async def test_sends_the_requests_headers_and_body_and_keeps_the_connection(
    serve: Callable[[Handler], Awaitable[Server]], upstream: AiohttpUpstream
) -> None:
    server = await serve(echo_forever)
    for n in range(3):
        status, headers, body = await upstream.request(
            "POST",
            f"{server.url}/v1/chat/completions?x=1",
            {"authorization": "Bearer sk-secret", "content-type": "application/json"},
            b'{"n": %d}' % n,
        )
        assert (status, body, headers["Content-Type"]) == (200, b'{"ok": true}', "application/json")
    assert server.connections == 1  # keep-alive: one connection for the three calls
    line, sent, body = server.requests[2]
    assert line == "POST /v1/chat/completions?x=1 HTTP/1.1"
    assert body == b'{"n": 2}'
    assert sent["authorization"] == "Bearer sk-secret"
    assert sent["host"] == server.url.removeprefix("http://")
    assert "gzip" in sent["accept-encoding"]  # compressed answers are welcome: they are decoded here


async def test_a_gzip_body_is_decoded(serve: Callable[[Handler], Awaitable[Server]], upstream: AiohttpUpstream) -> None:
    async def gzipped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(reply(gzip.compress(b'{"zipped": 1}'), "content-encoding: gzip"))
        await writer.drain()

    server = await serve(gzipped)
    assert (await upstream.request("GET", server.url, {}, b""))[2] == b'{"zipped": 1}'


async def test_a_stream_is_read_as_it_arrives(
    serve: Callable[[Handler], Awaitable[Server]], upstream: AiohttpUpstream
) -> None:
    release = asyncio.Event()

    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for part in (b"data: one\n\n", b"data: two\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await release.wait()  # the next part only once the client has read this one
            release.clear()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    server = await serve(chunked)
    opened = await upstream.open("GET", server.url, {}, b"")
    assert (opened.status, opened.headers["content-type"]) == (200, "text/event-stream")
    seen: list[bytes] = []
    async for piece in opened.pieces():
        seen.append(piece)
        release.set()
    await opened.aclose()
    assert seen == [b"data: one\n\n", b"data: two\n\n"]


async def test_closing_a_stream_early_drops_the_connection(
    serve: Callable[[Handler], Awaitable[Server]], upstream: AiohttpUpstream
) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await read_request(reader, server):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()

    server = await serve(endless)
    for _ in range(2):
        opened = await upstream.open("GET", server.url, {}, b"")
        async for _piece in opened.pieces():
            break
        await opened.aclose()
    assert server.connections == 2  # a half-read connection is never handed to the next request


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_refused_connection_is_a_retryable_network_error(upstream: AiohttpUpstream) -> None:
    with pytest.raises(httpx2.ConnectError) as caught:
        await upstream.request("GET", f"http://127.0.0.1:{_free_port()}/", {}, b"")
    error = transport_error(caught.value, "openai")
    assert (error.kind, error.retryable, error.provider) == ("network_error", True, "openai")


async def test_no_first_byte_in_time_is_a_timeout(serve: Callable[[Handler], Awaitable[Server]]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        await asyncio.sleep(5)

    server = await serve(silent)
    upstream = AiohttpUpstream(read_timeout=0.2)
    try:
        with pytest.raises(httpx2.ReadTimeout) as caught:
            await upstream.request("GET", server.url, {}, b"")
    finally:
        await upstream.aclose()
    assert transport_error(caught.value, "gemini").kind == "timeout"


async def test_an_idle_gap_inside_a_stream_is_a_timeout(serve: Callable[[Handler], Awaitable[Server]]) -> None:
    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    server = await serve(stalls)
    upstream = AiohttpUpstream(read_timeout=0.2)
    try:
        opened = await upstream.open("GET", server.url, {}, b"")
        with pytest.raises(httpx2.ReadTimeout):
            async for _piece in opened.pieces():
                pass
        await opened.aclose()
    finally:
        await upstream.aclose()


async def test_a_connection_cut_mid_body_is_a_network_error(
    serve: Callable[[Handler], Awaitable[Server]], upstream: AiohttpUpstream
) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()

    server = await serve(cut)
    with pytest.raises(httpx2.TransportError) as caught:
        await upstream.request("GET", server.url, {}, b"")
    assert transport_error(caught.value, "anthropic").kind == "network_error"


async def test_a_closed_upstream_opens_a_new_session_when_used_again(
    serve: Callable[[Handler], Awaitable[Server]], upstream: AiohttpUpstream
) -> None:
    # Closing releases the session; used again (also from a new event loop) it opens a new one.
    server = await serve(echo_forever)
    assert (await upstream.request("GET", server.url, {}, b""))[0] == 200
    await upstream.aclose()
    assert (await upstream.request("GET", server.url, {}, b""))[0] == 200
