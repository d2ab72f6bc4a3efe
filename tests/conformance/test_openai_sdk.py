"""The official `openai` SDK against the running gateway (`python -m local`, the simulator behind it).

One model of each provider through `/v1/chat/completions`: JSON and streamed replies with usage and the
gateway's `cost`, tool calls (forced, then the result sent back), image input, upstream errors (429, 500,
a stream cut or failing mid-way) as the SDK's own exceptions, the gateway's own 401/400/413, the model
list, the `x-gateway-*` and `Server-Timing` headers, and one usage event per request in the data dir.
Upstream behaviour is steered by `[sim ...]` tags in the user text (local/simulator/__init__.py).
"""

from __future__ import annotations

import base64
import json
import signal
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionMessageFunctionToolCall

from shared.catalog import default_catalog
from tests.conformance.conftest import MAX_BODY_BYTES, Gateway, launch_gateway, read_events, sse_data

MODELS = [("gpt-4o-mini", "OPENAI"), ("claude-haiku-4-5", "ANTHROPIC"), ("gemini-2.5-flash", "GOOGLE")]
IDS = [model for model, _ in MODELS]
WEATHER: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
                "required": ["city"],
            },
        },
    }
]
FORCED: Any = {"type": "function", "function": {"name": "get_weather"}}


def _user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def _png() -> bytes:
    """A valid 1x1 RGB PNG, built here so the suite ships no binary file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _cost(usage: Any) -> float:
    assert usage is not None
    extra = usage.model_extra or {}
    assert "cost" in extra, "usage.cost (the gateway's extra field) is missing"
    cost = extra["cost"]
    assert isinstance(cost, float | int)
    return float(cost)


def _tool_call(message: Any) -> ChatCompletionMessageFunctionToolCall:
    calls = message.tool_calls or []
    assert len(calls) == 1
    call = calls[0]
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    return call


# --- replies -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "provider"), MODELS, ids=IDS)
def test_json_completion_with_cost_and_headers(client: openai.OpenAI, model: str, provider: str) -> None:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=_user("Hello there"))
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model.startswith(model)
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert (choice.message.content or "").startswith("Echo: Hello there #")
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    cost = _cost(usage)
    assert cost > 0
    # The header and the body say the same amount (the header in fixed 6-decimal USD).
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(cost, abs=1e-9)
    assert raw.headers["x-gateway-provider"] == provider
    assert raw.headers["x-gateway-attempts"] == "1"
    assert raw.headers["x-request-id"]
    timing = raw.headers["server-timing"]
    for step in ("auth;dur=", "parse;dur=", "upstream;dur=", "total;dur="):
        assert step in timing


@pytest.mark.parametrize(("model", "provider"), MODELS, ids=IDS)
def test_stream_assembles_text_and_ends_with_usage(client: openai.OpenAI, model: str, provider: str) -> None:
    messages = _user("Tell me something [sim chunks=5]")
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=messages, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["x-gateway-provider"] == provider
    assert "first-chunk;dur=" in raw.headers["server-timing"]
    text, finish, chunks = "", None, list(raw.parse())
    for chunk in chunks[:-1]:
        assert chunk.usage is None
        text += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert _cost(last.usage) > 0
    assert finish == "stop"
    assert len(chunks) >= 5  # streamed in pieces, not one buffered reply
    # The simulator answers a function of the messages: the JSON reply is the same text.
    final = client.chat.completions.create(model=model, messages=messages)
    assert text == final.choices[0].message.content
    assert final.usage is not None
    assert last.usage.completion_tokens == final.usage.completion_tokens


@pytest.mark.parametrize("model", IDS)
def test_stream_raw_ends_with_done(api: httpx2.Client, model: str) -> None:
    body = {"model": model, "messages": _user("Hi [sim chunks=3]"), "stream": True}
    reply = api.post("/v1/chat/completions", json=body)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    data = sse_data(reply.text)
    assert data[-1] == "[DONE]"
    events = [json.loads(d) for d in data[:-1]]
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert len({e["id"] for e in events}) == 1
    # Without include_usage there is no usage chunk (OpenAI's rule).
    assert all(e["choices"] for e in events)


# --- tools and images ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", IDS)
def test_forced_tool_call_then_result(client: openai.OpenAI, model: str) -> None:
    messages = _user("What is the weather in Paris?")
    completion = client.chat.completions.create(model=model, messages=messages, tools=WEATHER, tool_choice=FORCED)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = _tool_call(choice.message)
    assert call.id
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    assert isinstance(arguments["city"], str)
    follow_up = [
        *messages,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature_c": 21}'},
    ]
    answer = client.chat.completions.create(model=model, messages=follow_up, tools=WEATHER)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.tool_calls is None
    assert "temperature_c" in (answer.choices[0].message.content or "")


@pytest.mark.parametrize("model", IDS)
def test_streamed_tool_call_then_result(client: openai.OpenAI, model: str) -> None:
    messages = _user("What is the weather in Lyon? [sim chunks=4]")
    stream = client.chat.completions.create(
        model=model, messages=messages, tools=WEATHER, tool_choice=FORCED, stream=True
    )
    call_id, name, arguments, finish = "", "", "", None
    for chunk in stream:
        for piece in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            assert piece.index == 0
            call_id += piece.id or ""
            if piece.function is not None:
                name += piece.function.name or ""
                arguments += piece.function.arguments or ""
        if chunk.choices:
            finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert call_id
    assert name == "get_weather"
    assert isinstance(json.loads(arguments)["city"], str)
    assistant: Any = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
    }
    tool: Any = {"role": "tool", "tool_call_id": call_id, "content": "sunny"}
    answer = client.chat.completions.create(model=model, messages=[*messages, assistant, tool], tools=WEATHER)
    assert answer.choices[0].finish_reason == "stop"
    assert "sunny" in (answer.choices[0].message.content or "")


@pytest.mark.parametrize("model", IDS)
def test_image_input_reaches_the_provider(client: openai.OpenAI, model: str) -> None:
    url = "data:image/png;base64," + base64.b64encode(_png()).decode()
    parts: Any = [{"type": "text", "text": "What is in this image?"}, {"type": "image_url", "image_url": {"url": url}}]
    with_image = client.chat.completions.create(model=model, messages=[{"role": "user", "content": parts}])
    text_only = client.chat.completions.create(model=model, messages=_user("What is in this image?"))
    assert (with_image.choices[0].message.content or "").startswith("Echo: What is in this image?")
    assert with_image.usage is not None
    assert text_only.usage is not None
    # The simulator counts the image's bytes into the prompt: it was forwarded, not dropped.
    assert with_image.usage.prompt_tokens > text_only.usage.prompt_tokens


# --- upstream errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", IDS)
def test_upstream_429_is_a_rate_limit_error(client: openai.OpenAI, model: str) -> None:
    # retry_after=0: the gateway retries at once (3 times), so the test stays fast.
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model=model, messages=_user("Hi [sim status=429 retry_after=0]"))
    error = caught.value
    assert error.status_code == 429
    assert isinstance(error.body, dict)
    assert set(error.body) == {"message", "type", "param", "code", "failures"}
    # Every attempt listed (the gateway's extra key): the named model, four times rate-limited.
    assert [(f["model"], f["kind"], f["status"]) for f in error.body["failures"]] == [
        (default_catalog()[model].id, "rate_limit", 429)
    ] * 4
    assert error.body["type"] == "rate_limit_error"
    assert error.body["code"] == "rate_limit_exceeded"
    assert error.response.headers["retry-after"] == "0"
    assert error.response.headers["x-should-retry"] == "false"


def test_upstream_retry_after_is_passed_on_rounded_up(client: openai.OpenAI) -> None:
    # OpenAI sends retry-after-ms: 200 -> the gateway waits 0.2 s per retry and tells the caller 1 (whole seconds).
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=_user("Hi [sim status=429 retry_after=0.2]"))
    assert caught.value.response.headers["retry-after"] == "1"


@pytest.mark.parametrize("model", IDS)
def test_upstream_500_is_a_502_after_retries(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=model, messages=_user("Hi [sim kind=server_error]"))
    error = caught.value
    assert error.status_code == 502
    assert error.response.headers["x-should-retry"] == "false"
    assert isinstance(error.body, dict)
    assert error.body["type"] == "api_error"


@pytest.mark.parametrize("model", IDS)
@pytest.mark.parametrize(
    ("directive", "code"), [("[sim cut_after=3 chunks=8]", "network_error"), ("[sim error_after=2]", "upstream_error")]
)
def test_stream_failing_midway(
    client: openai.OpenAI, api: httpx2.Client, model: str, directive: str, code: str
) -> None:
    messages = _user(f"Tell me a long story {directive}")
    stream = client.chat.completions.create(model=model, messages=messages, stream=True)
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == code
    # On the wire: a 200 stream whose last event is the typed error, and no [DONE].
    reply = api.post("/v1/chat/completions", json={"model": model, "messages": messages, "stream": True})
    assert reply.status_code == 200
    data = sse_data(reply.text)
    assert "[DONE]" not in data
    last = json.loads(data[-1])
    assert set(last) == {"error"}
    assert last["error"]["type"] == "api_error"
    assert last["error"]["code"] == code
    assert all("error" not in json.loads(d) for d in data[:-1])


# --- the gateway's own errors --------------------------------------------------------------------


def test_wrong_key_is_401(gateway: Gateway) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="not-the-key", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.chat.completions.create(model="gpt-4o-mini", messages=_user("Hi"))
        assert caught.value.status_code == 401
        assert caught.value.code == "invalid_api_key"
        assert "not-the-key" not in caught.value.response.text  # never echo a key
        with pytest.raises(openai.AuthenticationError):
            wrong.models.list()


def test_bad_body_is_400_naming_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=_user("Hi"), temperature=5)
    error = caught.value
    assert error.status_code == 400
    assert isinstance(error.body, dict)
    assert error.body["param"] == "temperature"
    assert error.body["type"] == "invalid_request_error"
    assert "temperature" in error.body["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", "body"),
        (b'{"model": "gpt-4o-mini", "messages": []}', "messages"),
        (b'{"model": "no-such-model", "messages": [{"role": "user", "content": "Hi"}]}', "model"),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": '
            b'[{"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}]}',
            "messages[0].content[0].image_url.url",
        ),
    ],
    ids=["malformed", "no-messages", "unknown-model", "image-url"],
)
def test_more_bad_bodies(api: httpx2.Client, body: bytes, param: str) -> None:
    reply = api.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param


def test_body_over_the_limit_is_413(client: openai.OpenAI, api: httpx2.Client) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=_user("x" * (MAX_BODY_BYTES + 1)))
    assert caught.value.status_code == 413
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "body"
    # Without a content-length (chunked upload) the limit holds while reading.
    pieces = iter([b"x" * 100_000] * 3)
    reply = api.post("/v1/chat/completions", content=pieces, headers={"content-type": "application/json"})
    assert reply.status_code == 413


# --- models --------------------------------------------------------------------------------------


def test_models_list_is_the_catalog(client: openai.OpenAI) -> None:
    raw = client.models.with_raw_response.list()
    assert "server-timing" in raw.headers
    models = list(raw.parse())
    ids = {m.id for m in models}
    # Every catalog model Chat Completions can serve; Responses-only models are left out on purpose.
    assert ids == {m.id for m in default_catalog() if m.chat_completions}
    assert {"gpt-4o-mini", "claude-haiku-4-5-20251001", "gemini-2.5-flash"} <= ids
    assert all(m.object == "model" for m in models)


# --- usage events and shutdown ------------------------------------------------------------------


def _post(gw: Gateway, path: str, body: dict[str, Any], key: str | None = None) -> httpx2.Response:
    headers = {"authorization": f"Bearer {key or gw.key}"}
    return httpx2.post(f"{gw.url}{path}", json=body, headers=headers, timeout=15.0)


def test_one_usage_event_per_request(tmp_path: Path) -> None:
    """A fresh gateway, a known set of requests, then Ctrl-C at once: the events still in the sink's buffer
    must be written and sealed on the way out (segments are otherwise sealed every 10 s)."""
    with launch_gateway(tmp_path) as gw:
        chat = "/v1/chat/completions"
        ok = _post(gw, chat, {"model": "gpt-4o-mini", "messages": _user("Hi")})
        options = {"stream": True, "stream_options": {"include_usage": True}}
        streamed = _post(gw, chat, {"model": "claude-haiku-4-5", "messages": _user("Hi"), **options})
        seed = _post(gw, "/api/ai/chat", {"model": "gemini-2.5-flash", "messages": _user("Hi")})
        bad = _post(gw, chat, {"model": "gpt-4o-mini", "messages": _user("Hi"), "temperature": 9})
        limited = _post(gw, chat, {"model": "gpt-4o-mini", "messages": _user("Hi [sim status=429 retry_after=0]")})
        cut = _post(gw, chat, {"model": "gpt-4o-mini", "messages": _user("Hi [sim error_after=2]"), "stream": True})
        unauthorized = _post(gw, chat, {"model": "gpt-4o-mini", "messages": _user("Hi")}, key="wrong")
        statuses = [r.status_code for r in (ok, streamed, seed, bad, limited, cut, unauthorized)]
        assert statuses == [200, 200, 200, 400, 429, 200, 401]
    events = read_events(gw)
    assert not list(gw.events_dir.glob("*.partial"))
    # An unauthenticated request names no tenant: it is not a usage event.
    assert len(events) == 6
    assert len({e["event_id"] for e in events}) == 6
    by_id = {e["request_id"]: e for e in events}
    first = by_id[ok.headers["x-request-id"]]
    assert (first["route"], first["provider"], first["status"], first["http_status"]) == ("openai", "OPENAI", "ok", 200)
    assert first["cost_micros"] == round(ok.json()["usage"]["cost"] * 1_000_000)
    stream_event = by_id[streamed.headers["x-request-id"]]
    assert (stream_event["stream"], stream_event["provider"], stream_event["status"]) == (True, "ANTHROPIC", "ok")
    assert stream_event["ttft_ms"] is not None
    usage_chunk = json.loads(sse_data(streamed.text)[-2])
    assert stream_event["cost_micros"] == round(usage_chunk["usage"]["cost"] * 1_000_000)
    seed_event = by_id[seed.headers["x-request-id"]]
    assert (seed_event["route"], seed_event["provider"]) == ("seed", "GOOGLE")
    assert seed_event["cost_micros"] == round(seed.json()["usage"]["cost"] * 1_000_000)
    failures = sorted((e for e in events if e["status"] == "error"), key=lambda e: e["http_status"])
    assert [(e["http_status"], e["error_kind"], e["attempts"]) for e in failures] == [
        (200, "api_error", 1),  # failed mid-stream: its 200 had gone out
        (400, "invalid_request", 0),
        (429, "rate_limit", 4),
    ]
    assert by_id[cut.headers["x-request-id"]]["stream"] is True


# Starlette stops a stream whose client went away by cancelling the task that iterates it: the event must
# still say what happened (shared/service.py handles CancelledError as well as GeneratorExit).
def test_a_stream_the_client_abandons_is_recorded_as_such(gateway: Gateway, api: httpx2.Client) -> None:
    body = {"model": "gpt-4o-mini", "messages": _user("Hi [sim chunks=20 chunk_gap_ms=100]"), "stream": True}
    with api.stream("POST", "/v1/chat/completions", json=body) as reply:
        request_id = reply.headers["x-request-id"]
        next(reply.iter_raw())  # the first chunk, then hang up
    deadline = time.monotonic() + 5.0
    while not (found := [e for e in read_events(gateway, open_segments=True) if e["request_id"] == request_id]):
        assert time.monotonic() < deadline, "no usage event for the abandoned stream"
        time.sleep(0.05)
    (event,) = found
    assert (event["status"], event["http_status"], event["error_kind"]) == ("error", 200, "network_error")


# uvicorn re-raises the signal that stopped it once it has shut down; the dev server handles SIGINT and SIGTERM
# itself so its cleanup (events sealed, client closed, simulator stopped) always runs.
def test_sigterm_stops_the_gateway_and_the_simulator_cleanly(tmp_path: Path) -> None:
    with launch_gateway(tmp_path, stop=signal.SIGTERM) as gw:
        reply = _post(gw, "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": _user("Hi")})
    assert [e["request_id"] for e in read_events(gw)] == [reply.headers["x-request-id"]]
