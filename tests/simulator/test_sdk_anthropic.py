"""The official `anthropic` SDK (no retries) against the running simulator: replies, streams and errors parse."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest

from tests.simulator.helpers import KEY, WEATHER_SCHEMA, collect
from tests.simulator_server import SimulatorAdmin

_MODEL = "claude-sonnet-4-6"
_TOOLS: list[Any] = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]


def _client(sim_url: str, key: str = KEY, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=sim_url, max_retries=0, **options)


@pytest.fixture(scope="module")
def client(sim_url: str) -> Iterator[anthropic.Anthropic]:
    with _client(sim_url) as sdk:
        yield sdk


def _user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def _text(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def test_json_reply(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=_MODEL, max_tokens=256, messages=_user("Hello!"))
    assert message.id.startswith("msg_01")
    assert _text(message).startswith("Echo: Hello! #")
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0


def test_text_stream_assembles_to_the_json_reply(client: anthropic.Anthropic) -> None:
    messages = _user("Two names for a pelican [sim chunks=4]")
    with client.messages.stream(model=_MODEL, max_tokens=256, messages=messages) as stream:
        pieces = list(stream.text_stream)
        streamed = stream.get_final_message()
    final = client.messages.create(model=_MODEL, max_tokens=256, messages=messages)
    assert len(pieces) == 4
    assert "".join(pieces) == _text(final) == _text(streamed)
    assert streamed.usage.output_tokens == final.usage.output_tokens
    assert streamed.usage.input_tokens == final.usage.input_tokens
    assert streamed.stop_reason == "end_turn"


def test_tool_use_stream_assembles_to_the_json_reply(client: anthropic.Anthropic) -> None:
    messages = _user("Weather? [sim calls=2 chunks=3]")
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    kwargs: dict[str, Any] = {
        "model": _MODEL,
        "max_tokens": 2048,
        "messages": messages,
        "tools": _TOOLS,
        "thinking": thinking,
    }
    with client.messages.stream(**kwargs) as stream:
        streamed = stream.get_final_message()
    final = client.messages.create(**kwargs)
    assert [block.type for block in streamed.content] == ["thinking", "tool_use", "tool_use"]
    assert streamed.model_dump()["content"] == final.model_dump()["content"]
    tool_uses = [block for block in streamed.content if block.type == "tool_use"]
    assert all(set(block.input) == {"city", "days"} for block in tool_uses)
    assert streamed.stop_reason == "tool_use"


@pytest.mark.parametrize(
    ("directive", "error_class", "status", "error_type"),
    [
        ("status=429 retry_after=1", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("kind=auth", anthropic.AuthenticationError, 401, "authentication_error"),
        ("kind=permission", anthropic.PermissionDeniedError, 403, "permission_error"),
        ("kind=not_found", anthropic.NotFoundError, 404, "not_found_error"),
        ("kind=context_length", anthropic.BadRequestError, 400, "invalid_request_error"),
        ("kind=server_error", anthropic.InternalServerError, 500, "api_error"),
        ("kind=overloaded", anthropic.APIStatusError, 529, "overloaded_error"),
        ("kind=timeout", anthropic.InternalServerError, 504, "timeout_error"),
    ],
)
def test_errors_raise_the_sdk_classes(
    client: anthropic.Anthropic,
    directive: str,
    error_class: type[anthropic.APIStatusError],
    status: int,
    error_type: str,
) -> None:
    with pytest.raises(error_class) as caught:
        client.messages.create(model=_MODEL, max_tokens=64, messages=_user(f"x [sim {directive}]"))
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == error_type
    assert caught.value.request_id == caught.value.response.headers["request-id"]


def test_per_key_rules(sim_url: str, admin: SimulatorAdmin) -> None:
    admin.add_key_rule("sk-ant-revoked", status=401)
    admin.add_key_rule("sk-ant-busy", kind="overloaded")
    with _client(sim_url, "sk-ant-revoked") as revoked, pytest.raises(anthropic.AuthenticationError):
        revoked.messages.create(model=_MODEL, max_tokens=64, messages=_user("x"))
    with _client(sim_url, "sk-ant-busy") as busy, pytest.raises(anthropic.APIStatusError) as caught:
        busy.messages.create(model=_MODEL, max_tokens=64, messages=_user("x"))
    assert caught.value.status_code == 529
    with _client(sim_url, "sk-ant-good") as good:
        assert good.messages.create(model=_MODEL, max_tokens=64, messages=_user("x")).content


@pytest.mark.parametrize(("kind", "error_type"), [("overloaded", "overloaded_error"), ("server_error", "api_error")])
def test_in_stream_error_event_raises(client: anthropic.Anthropic, kind: str, error_type: str) -> None:
    messages = _user(f"x [sim error_after=4 kind={kind}]")
    with client.messages.stream(model=_MODEL, max_tokens=64, messages=messages) as stream:
        events, error = collect(stream)
    assert isinstance(error, anthropic.APIStatusError)
    assert isinstance(error.body, dict)
    assert error.body["error"]["type"] == error_type
    # Four SSE events (message_start, content_block_start, ping, one delta); the helper adds a "text" event.
    assert [event.type for event in events] == ["message_start", "content_block_start", "content_block_delta", "text"]


def test_cut_stream_raises(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=_MODEL, max_tokens=64, messages=_user("x [sim cut_after=5]")) as stream:
        events, error = collect(stream)
    # The SDK wraps connection errors only before the response; mid-stream the transport's error surfaces.
    assert isinstance(error, httpx2.RemoteProtocolError)
    assert "message_stop" not in [event.type for event in events]


def test_missing_version_header_is_a_bad_request(sim_url: str) -> None:
    with (
        _client(sim_url, default_headers={"anthropic-version": anthropic.Omit()}) as sdk,
        pytest.raises(anthropic.BadRequestError) as caught,
    ):
        sdk.messages.create(model=_MODEL, max_tokens=64, messages=_user("x"))
    assert "anthropic-version" in str(caught.value)


def test_blocked_prompt_parses_as_a_refusal(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=_MODEL, max_tokens=64, messages=_user("x [sim finish=blocked]"))
    assert (message.content, message.stop_reason) == ([], "refusal")
