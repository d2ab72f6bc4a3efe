"""The transport seam: `make_client` (timeouts, no redirects, an injectable transport) and `transport_error`
(httpx2 failures -> retryable `ProviderError`s of kind timeout or network_error), the latter also over real
sockets: a read that outlasts the read timeout (the simulator answering late) and a refused connection."""

from __future__ import annotations

import socket

import httpx2
import pytest

from shared.errors import ProviderError
from shared.transport import make_client, transport_error

SLOW_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi [sim latency_ms=300]"}]}


async def test_default_timeouts_follow_the_architecture() -> None:
    async with make_client() as client:
        assert client.timeout == httpx2.Timeout(connect=5.0, read=60.0, write=60.0, pool=5.0)
        assert client.follow_redirects is False


async def test_timeouts_are_configurable() -> None:
    async with make_client(connect_timeout=1.5, read_timeout=30.0) as client:
        assert client.timeout == httpx2.Timeout(connect=1.5, read=30.0, write=30.0, pool=1.5)


async def test_injected_transport_carries_every_request_and_redirects_are_not_followed() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return httpx2.Response(307, headers={"location": "https://elsewhere.example/"})

    async with make_client(transport=httpx2.MockTransport(handler)) as client:
        reply = await client.post("https://api.openai.com/v1/chat/completions", content=b"{}")
    # A provider's redirect is an answer to classify, not a place to send the provider key.
    assert reply.status_code == 307
    assert seen == ["https://api.openai.com/v1/chat/completions"]


@pytest.mark.parametrize(
    "error",
    [
        httpx2.ConnectTimeout("connect timed out"),
        httpx2.ReadTimeout("read timed out"),
        httpx2.WriteTimeout("write timed out"),
        httpx2.PoolTimeout("pool timed out"),
    ],
)
def test_timeouts_become_retryable_timeout_errors(error: Exception) -> None:
    mapped = transport_error(error, "anthropic")
    assert isinstance(mapped, ProviderError)
    assert (mapped.kind, mapped.provider, mapped.retryable, mapped.in_stream) == ("timeout", "anthropic", True, False)
    assert mapped.retry_after is None
    assert "anthropic" in mapped.message
    assert type(error).__name__ in mapped.message


@pytest.mark.parametrize(
    "error",
    [
        httpx2.ConnectError("connection refused"),
        httpx2.ReadError("connection reset"),
        httpx2.WriteError("broken pipe"),
        httpx2.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx2.LocalProtocolError("bad request line"),
        OSError("anything else"),
    ],
)
def test_other_failures_become_retryable_network_errors(error: Exception) -> None:
    mapped = transport_error(error, "gemini")
    assert (mapped.kind, mapped.provider, mapped.retryable) == ("network_error", "gemini", True)
    assert "gemini" in mapped.message
    assert type(error).__name__ in mapped.message


def test_the_message_does_not_echo_the_exception_text() -> None:
    # httpx2 messages can carry the URL, and Gemini accepts its key as ?key=: only the class is shown.
    mapped = transport_error(httpx2.ConnectError("https://host/v1beta/x?key=AIza-secret"), "gemini")
    assert "AIza-secret" not in mapped.message


async def test_a_late_answer_is_a_timeout(sim_url: str) -> None:
    async with make_client(read_timeout=0.05) as client:
        with pytest.raises(httpx2.TimeoutException) as info:
            await client.post(
                f"{sim_url}/v1/chat/completions", json=SLOW_BODY, headers={"authorization": "Bearer sk-test"}
            )
    assert transport_error(info.value, "openai").kind == "timeout"


async def test_a_refused_connection_is_a_network_error() -> None:
    # A port that was free a moment ago and has no listener: the connection is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with make_client(connect_timeout=2.0) as client:
        with pytest.raises(httpx2.TransportError) as info:
            await client.get(f"http://127.0.0.1:{port}/")
    mapped = transport_error(info.value, "openai")
    assert (mapped.kind, mapped.retryable) == ("network_error", True)
