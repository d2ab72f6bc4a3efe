"""`AiohttpTransport` under `httpx2.AsyncClient`, against a real HTTP/1.1 server on loopback (a raw asyncio
server, so every byte on the wire is the test's): the request's own headers only, bodies and gzip, a stream
read as it arrives, keep-alive, and each failure mapped to the httpx2 error `transport_error` classifies."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx2
import pytest

from shared.aiohttp_transport import AiohttpTransport
from shared.transport import make_client, transport_error

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


async def test_sends_exactly_the_requests_headers_and_body_and_keeps_the_connection(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    server = await serve(echo_forever)
    async with make_client() as client:
        for n in range(3):
            response = await client.post(
                f"{server.url}/v1/chat/completions?x=1",
                content=b'{"n": %d}' % n,
                headers={"authorization": "Bearer sk-secret", "content-type": "application/json"},
            )
            assert (response.status_code, response.json()) == (200, {"ok": True})
    assert server.connections == 1  # keep-alive: one connection for the three calls
    line, headers, body = server.requests[2]
    assert line == "POST /v1/chat/completions?x=1 HTTP/1.1"
    assert body == b'{"n": 2}'
    assert headers["authorization"] == "Bearer sk-secret"
    assert headers["host"] == server.url.removeprefix("http://")
    assert "aiohttp" not in headers.get("user-agent", "")  # httpx2's own headers, none of aiohttp's defaults


async def test_a_gzip_body_is_decoded_once(serve: Callable[[Handler], Awaitable[Server]]) -> None:
    async def gzipped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(reply(gzip.compress(b'{"zipped": 1}'), "content-encoding: gzip"))
        await writer.drain()

    server = await serve(gzipped)
    async with make_client() as client:
        assert (await client.get(server.url)).json() == {"zipped": 1}


async def test_a_stream_is_read_as_it_arrives(serve: Callable[[Handler], Awaitable[Server]]) -> None:
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
    seen: list[bytes] = []
    async with make_client() as client, client.stream("GET", server.url) as response:
        async for piece in response.aiter_raw():
            seen.append(piece)
            release.set()
    assert seen == [b"data: one\n\n", b"data: two\n\n"]


async def test_closing_a_stream_early_drops_the_connection(serve: Callable[[Handler], Awaitable[Server]]) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while await read_request(reader, server):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await writer.drain()

    server = await serve(endless)
    async with make_client() as client:
        for _ in range(2):
            async with client.stream("GET", server.url) as response:
                async for _piece in response.aiter_raw():
                    break
    assert server.connections == 2  # a half-read connection is never handed to the next request


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_refused_connection_is_a_retryable_network_error() -> None:
    async with make_client() as client:
        with pytest.raises(httpx2.ConnectError) as caught:
            await client.get(f"http://127.0.0.1:{_free_port()}/")
    error = transport_error(caught.value, "openai")
    assert (error.kind, error.retryable, error.provider) == ("network_error", True, "openai")


async def test_no_first_byte_in_time_is_a_timeout(serve: Callable[[Handler], Awaitable[Server]]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        await asyncio.sleep(5)

    server = await serve(silent)
    async with make_client(read_timeout=0.2) as client:
        with pytest.raises(httpx2.ReadTimeout) as caught:
            await client.get(server.url)
    assert transport_error(caught.value, "gemini").kind == "timeout"


async def test_an_idle_gap_inside_a_stream_is_a_timeout(serve: Callable[[Handler], Awaitable[Server]]) -> None:
    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    server = await serve(stalls)
    async with make_client(read_timeout=0.2) as client, client.stream("GET", server.url) as response:
        with pytest.raises(httpx2.ReadTimeout):
            async for _piece in response.aiter_raw():
                pass


async def test_a_connection_cut_mid_body_is_a_protocol_error(serve: Callable[[Handler], Awaitable[Server]]) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        await read_request(reader, server)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
        await writer.drain()

    server = await serve(cut)
    async with make_client() as client:
        with pytest.raises(httpx2.TransportError) as caught:
            await client.get(server.url)
    assert transport_error(caught.value, "anthropic").kind == "network_error"


async def test_a_closed_transport_opens_a_new_session_when_used_again(
    serve: Callable[[Handler], Awaitable[Server]],
) -> None:
    # Closing the client closes the session; the transport opens a new one (also on a new event loop).
    server = await serve(echo_forever)
    transport = AiohttpTransport()
    async with httpx2.AsyncClient(transport=transport) as client:
        assert (await client.get(server.url)).status_code == 200
    async with httpx2.AsyncClient(transport=transport) as client:
        assert (await client.get(server.url)).status_code == 200
