"""The official `google-genai` SDK (retries off, its default) against the running simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from google import genai
from google.genai import errors, types

from tests.simulator.helpers import KEY, WEATHER_SCHEMA, collect
from tests.simulator_server import SimulatorAdmin

_MODEL = "gemini-2.5-flash"


def _client(sim_url: str, key: str = KEY) -> genai.Client:
    options = types.HttpOptions(base_url=sim_url, api_version="v1beta")
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture(scope="module")
def client(sim_url: str) -> Iterator[genai.Client]:
    sdk = _client(sim_url)
    yield sdk
    sdk.close()


def _tools_config(**extra: Any) -> types.GenerateContentConfig:
    declaration = types.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER_SCHEMA)
    return types.GenerateContentConfig(tools=[types.Tool(function_declarations=[declaration])], **extra)


def test_json_reply(client: genai.Client) -> None:
    response = client.models.generate_content(model=_MODEL, contents="What is 2+2?")
    assert response.text is not None
    assert response.text.startswith("Echo: What is 2+2? #")
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage is not None
    assert usage.total_token_count == (usage.prompt_token_count or 0) + (usage.candidates_token_count or 0)
    assert response.model_version == _MODEL


def test_text_stream_assembles_to_the_json_reply(client: genai.Client) -> None:
    contents = "Count to five [sim chunks=5]"
    chunks = list(client.models.generate_content_stream(model=_MODEL, contents=contents))
    final = client.models.generate_content(model=_MODEL, contents=contents)
    assert len(chunks) == 5
    assert "".join(chunk.text or "" for chunk in chunks) == final.text
    assert chunks[-1].usage_metadata == final.usage_metadata
    assert chunks[-1].candidates is not None
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_function_calls_in_json_and_stream(client: genai.Client) -> None:
    config = _tools_config(thinking_config=types.ThinkingConfig(include_thoughts=True))
    contents = "Weather in two cities? [sim calls=2]"
    final = client.models.generate_content(model=_MODEL, contents=contents, config=config)
    streamed = [
        call
        for chunk in client.models.generate_content_stream(model=_MODEL, contents=contents, config=config)
        for call in chunk.function_calls or []
    ]
    assert final.function_calls is not None
    assert [(c.name, c.args) for c in streamed] == [(c.name, c.args) for c in final.function_calls]
    assert len(streamed) == 2
    assert all(c.name == "get_weather" and set(c.args or {}) == {"city", "days"} for c in streamed)
    assert final.candidates is not None
    assert final.candidates[0].content is not None
    parts = final.candidates[0].content.parts or []
    assert parts[0].thought is True
    assert all(p.thought_signature for p in parts if p.function_call)
    assert final.usage_metadata is not None
    assert (final.usage_metadata.thoughts_token_count or 0) > 0


def test_tool_round_trip_with_the_thought_signature(client: genai.Client) -> None:
    config = _tools_config()
    first = client.models.generate_content(model="gemini-3-pro-preview", contents="Weather in Oslo?", config=config)
    assert first.candidates is not None
    assert first.candidates[0].content is not None
    call = first.function_calls[0] if first.function_calls else None
    assert call is not None
    history = [
        types.Content(role="user", parts=[types.Part.from_text(text="Weather in Oslo?")]),
        first.candidates[0].content,  # echoed back with its thoughtSignature, as Gemini 3 requires
        types.Content(
            role="user", parts=[types.Part.from_function_response(name="get_weather", response={"result": "cold"})]
        ),
    ]
    answer = client.models.generate_content(model="gemini-3-pro-preview", contents=history, config=config)
    assert answer.text is not None
    assert answer.text.startswith("Tool result received: cold #")


@pytest.mark.parametrize(
    ("directive", "error_class", "code", "status"),
    [
        ("status=429 retry_after=2", errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        ("kind=quota", errors.ClientError, 429, "RESOURCE_EXHAUSTED"),
        ("kind=auth", errors.ClientError, 400, "INVALID_ARGUMENT"),
        ("kind=permission", errors.ClientError, 403, "PERMISSION_DENIED"),
        ("kind=not_found", errors.ClientError, 404, "NOT_FOUND"),
        ("kind=server_error", errors.ServerError, 500, "INTERNAL"),
        ("kind=overloaded", errors.ServerError, 503, "UNAVAILABLE"),
        ("kind=timeout", errors.ServerError, 504, "DEADLINE_EXCEEDED"),
    ],
)
def test_errors_raise_the_sdk_classes(
    client: genai.Client, directive: str, error_class: type[errors.APIError], code: int, status: str
) -> None:
    with pytest.raises(error_class) as caught:
        client.models.generate_content(model=_MODEL, contents=f"x [sim {directive}]")
    assert (caught.value.code, caught.value.status) == (code, status)


def test_retry_info_reaches_the_sdk_error(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=_MODEL, contents="x [sim status=429 retry_after=1.5]")
    details = caught.value.details["error"]["details"]
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"} in details


def test_errors_before_the_stream_starts(client: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        list(client.models.generate_content_stream(model=_MODEL, contents="x [sim kind=rate_limit]"))
    assert caught.value.code == 429


def test_per_key_rules_and_the_invalid_key_error(sim_url: str, admin: SimulatorAdmin) -> None:
    admin.add_key_rule("AIza-revoked", kind="auth")
    revoked = _client(sim_url, "AIza-revoked")
    with pytest.raises(errors.ClientError) as caught:
        list(revoked.models.generate_content_stream(model=_MODEL, contents="x"))
    assert (caught.value.code, caught.value.message) == (400, "API key not valid. Please pass a valid API key.")
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    good = _client(sim_url, "AIza-good")
    assert good.models.generate_content(model=_MODEL, contents="x").text
    assert admin.stats()["calls"] == {"gemini.generate": 1, "gemini.stream": 1}


def test_in_stream_error_raises(client: genai.Client) -> None:
    stream = client.models.generate_content_stream(model=_MODEL, contents="x [sim error_after=2 kind=overloaded]")
    received, error = collect(stream)
    assert len(received) == 2
    assert isinstance(error, errors.ServerError)
    assert error.code == 503


def test_cut_stream_raises(client: genai.Client) -> None:
    received, error = collect(
        client.models.generate_content_stream(model=_MODEL, contents="x [sim cut_after=2 chunks=6]")
    )
    assert len(received) == 2
    assert isinstance(error, httpx2.RemoteProtocolError)


def test_blocked_prompt_parses_as_prompt_feedback(client: genai.Client) -> None:
    response = client.models.generate_content(model=_MODEL, contents="x [sim finish=blocked]")
    assert response.candidates is None
    assert response.prompt_feedback is not None
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert response.text is None
