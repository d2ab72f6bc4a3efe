"""OpenAI Chat Completions over real HTTP: JSON and SSE shapes, headers, validation, faults."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx2
import pytest

from tests.simulator.helpers import KEY, WEATHER_SCHEMA, openai_body, openai_post, read_cut_stream, sse_events

_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}]
_GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$")


def _chunks(response: httpx2.Response) -> list[dict[str, Any]]:
    events = sse_events(response.content)
    assert events[-1] == (None, "[DONE]")
    return [data for _, data in events[:-1]]


def test_json_reply_shape_headers_and_determinism(http: httpx2.Client) -> None:
    first = openai_post(http, openai_body("What is the capital of France?"))
    again = openai_post(http, openai_body("What is the capital of France?"))
    other = openai_post(http, openai_body("What is the capital of Spain?"))
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    reply = first.json()
    assert reply["object"] == "chat.completion"
    assert reply["id"].startswith("chatcmpl-")
    assert reply["model"] == "gpt-4o-mini"
    message = reply["choices"][0]["message"]
    assert message["role"] == "assistant"
    assert message["content"].startswith("Echo: What is the capital of France? #")
    assert reply["choices"][0]["finish_reason"] == "stop"
    usage = reply["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert set(usage["completion_tokens_details"]) == {
        "reasoning_tokens",
        "audio_tokens",
        "accepted_prediction_tokens",
        "rejected_prediction_tokens",
    }
    assert again.json()["choices"] == reply["choices"]
    assert again.json()["id"] == reply["id"]
    assert other.json()["choices"][0]["message"]["content"] != message["content"]
    assert first.headers["x-request-id"].startswith("req_")
    assert first.headers["x-request-id"] != again.headers["x-request-id"]
    assert first.headers["openai-version"] == "2020-10-01"
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        assert _GO_DURATION.match(first.headers[name])
    assert int(first.headers["x-ratelimit-remaining-requests"]) < int(first.headers["x-ratelimit-limit-requests"])


def test_text_stream_framing_with_usage_chunk(http: httpx2.Client) -> None:
    body = openai_body("Say this is a test [sim chunks=3]", stream=True, stream_options={"include_usage": True})
    response = openai_post(http, body)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert all(line.startswith("data: ") for line in response.text.split("\n\n") if line)
    chunks = _chunks(response)
    assert len({(c["id"], c["created"], c["model"], c["system_fingerprint"]) for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and "usage" in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    contents = [c["choices"][0]["delta"]["content"] for c in chunks[1:4]]
    assert "".join(contents).startswith("Echo: Say this is a test #")
    assert chunks[4]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all(c["usage"] is None for c in chunks[:5])
    assert chunks[5]["choices"] == []
    assert chunks[5]["usage"]["completion_tokens"] > 0


def test_stream_without_include_usage_has_no_usage_at_all(http: httpx2.Client) -> None:
    chunks = _chunks(openai_post(http, openai_body(stream=True)))
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_tool_call_stream_deltas(http: httpx2.Client) -> None:
    body = openai_body("Weather? [sim chunks=4 calls=2]", stream=True, tools=_TOOLS)
    chunks = _chunks(openai_post(http, body))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    assert deltas[0]["content"] is None
    starts = [t for d in deltas for t in d.get("tool_calls", []) if "id" in t]
    assert [s["index"] for s in starts] == [0, 1]
    assert all(s["type"] == "function" and s["function"] == {"name": "get_weather", "arguments": ""} for s in starts)
    assert starts[0]["id"] != starts[1]["id"]
    fragments = [t for d in deltas for t in d.get("tool_calls", []) if "id" not in t]
    assert all(set(f) == {"index", "function"} and set(f["function"]) == {"arguments"} for f in fragments)
    for index in (0, 1):
        arguments = json.loads("".join(f["function"]["arguments"] for f in fragments if f["index"] == index))
        assert isinstance(arguments["city"], str)
        assert 1 <= arguments["days"] <= 7
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("extra", "expect_call"),
    [
        ({"tools": _TOOLS}, "get_weather"),
        ({"tools": _TOOLS, "tool_choice": "required"}, "get_weather"),
        ({"tools": _TOOLS, "tool_choice": "none"}, None),
        (
            {
                "tools": [*_TOOLS, {"type": "function", "function": {"name": "other", "parameters": {}}}],
                "tool_choice": {"type": "function", "function": {"name": "other"}},
            },
            "other",
        ),
    ],
)
def test_tool_choice_decides_between_call_and_text(
    http: httpx2.Client, extra: dict[str, Any], expect_call: str | None
) -> None:
    message = openai_post(http, openai_body("Weather?", **extra)).json()["choices"][0]["message"]
    if expect_call is None:
        assert "tool_calls" not in message
        assert message["content"]
    else:
        assert message["content"] is None
        assert [c["function"]["name"] for c in message["tool_calls"]] == [expect_call]


def test_after_a_tool_result_the_answer_is_text(http: httpx2.Client) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    reply = openai_post(http, {"model": "gpt-4o", "messages": messages, "tools": _TOOLS}).json()
    assert reply["choices"][0]["message"]["content"].startswith("Tool result received: 18C and sunny #")
    assert reply["choices"][0]["finish_reason"] == "stop"


def test_parallel_calls_off_and_n_choices(http: httpx2.Client) -> None:
    single = openai_post(http, openai_body("x [sim calls=3]", tools=_TOOLS, parallel_tool_calls=False)).json()
    assert len(single["choices"][0]["message"]["tool_calls"]) == 1
    two = openai_post(http, openai_body("x", n=2)).json()
    assert [c["index"] for c in two["choices"]] == [0, 1]
    chunks = _chunks(openai_post(http, openai_body("x", n=2, stream=True)))
    assert {c["choices"][0]["index"] for c in chunks} == {0, 1}


def test_usage_directives_and_max_tokens(http: httpx2.Client) -> None:
    usage = openai_post(http, openai_body("x [sim cached_tokens=5 reasoning_tokens=7]")).json()["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 7
    assert usage["completion_tokens"] > 7
    short = openai_post(http, openai_body("a long question that needs a long answer", max_completion_tokens=2)).json()
    assert short["choices"][0]["finish_reason"] == "length"
    assert short["choices"][0]["message"]["content"] == "Echo: a "  # 2 tokens = 8 characters
    assert openai_post(http, openai_body('x [sim text="exact" finish=content_filter]')).json()["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "exact", "refusal": None, "annotations": []},
        "logprobs": None,
        "finish_reason": "content_filter",
    }


def test_json_schema_response_format_gets_matching_json(http: httpx2.Client) -> None:
    schema = {"type": "object", "properties": {"rating": {"type": "integer"}, "joke": {"type": "string"}}}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}}
    content = openai_post(http, openai_body("joke", response_format=response_format)).json()["choices"][0]["message"][
        "content"
    ]
    parsed = json.loads(content)
    assert isinstance(parsed["rating"], int)
    assert isinstance(parsed["joke"], str)


@pytest.mark.parametrize(
    ("directive", "status", "error_type", "code"),
    [
        ("status=429", 429, "requests", "rate_limit_exceeded"),
        ("kind=rate_limit", 429, "requests", "rate_limit_exceeded"),
        ("kind=quota", 429, "insufficient_quota", "insufficient_quota"),
        ("kind=overloaded", 503, "server_error", None),
        ("kind=server_error", 500, "server_error", None),
        ("status=502", 502, "server_error", None),
        ("kind=auth", 401, "invalid_request_error", "invalid_api_key"),
        ("kind=permission", 403, "request_forbidden", "unsupported_country_region_territory"),
        ("kind=not_found", 404, "invalid_request_error", "model_not_found"),
        ("kind=invalid_request", 400, "invalid_request_error", None),
        ("kind=context_length", 400, "invalid_request_error", "context_length_exceeded"),
        ("kind=timeout", 408, "timeout", None),
    ],
)
def test_error_kinds_in_openai_envelope(
    http: httpx2.Client, directive: str, status: int, error_type: str, code: str | None
) -> None:
    response = openai_post(http, openai_body(f"x [sim {directive}]"))
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.text.startswith("{\n  ")  # pretty-printed like the recordings
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == (error_type, code)
    assert error["param"] == ("messages" if code == "context_length_exceeded" else None)
    assert "x-request-id" in response.headers


def test_rate_limit_headers_and_retry_after(http: httpx2.Client) -> None:
    response = openai_post(http, openai_body("x [sim status=429 retry_after=2.5]"))
    assert response.headers["retry-after"] == "3"
    assert response.headers["retry-after-ms"] == "2500"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.headers["x-ratelimit-reset-requests"] == "2.5s"
    assert "Please try again in 2.5s" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (
            {"model": "gpt-4o", "messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
            "missing_required_parameter",
        ),
        ({"model": "gpt-4o", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ({"model": "gpt-4o", "messages": []}, "messages", "empty_array"),
        ({"model": "gpt-4o"}, "messages", "missing_required_parameter"),
        (openai_body(stream_options={"include_usage": True}), "stream_options", None),
        (openai_body(tool_choice="auto"), "tool_choice", None),
        (openai_body(temperature=3), "temperature", "decimal_out_of_range"),
        ({**openai_body(), "model": "o3-mini", "max_tokens": 10}, "max_tokens", "unsupported_parameter"),
        (
            openai_body(tools=[{"type": "function", "function": {"name": "bad name"}}]),
            "tools[0].function.name",
            "invalid_value",
        ),
    ],
)
def test_requests_the_real_api_rejects(http: httpx2.Client, body: dict[str, Any], param: str, code: str | None) -> None:
    response = openai_post(http, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


def test_model_names_auth_and_malformed_input(http: httpx2.Client) -> None:
    for model in ("gpt-4.1", "chatgpt-4o-latest", "o4-mini", "gpt-5-nano"):
        assert openai_post(http, {**openai_body(), "model": model}).status_code == 200
    assert openai_post(http, {**openai_body(), "model": "davinci-002"}).json()["error"]["code"] == "model_not_found"
    missing = openai_post(http, openai_body(), key=None)
    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith("You didn't provide an API key.")
    garbage = http.post("/v1/chat/completions", content=b"{not json", headers={"authorization": f"Bearer {KEY}"})
    assert garbage.status_code == 400
    assert garbage.json()["error"]["message"].startswith("We could not parse the JSON body")
    bad_tag = openai_post(http, openai_body("x [sim chunks=zero]"))
    assert bad_tag.status_code == 400
    assert "chunks" in bad_tag.json()["error"]["message"]


def test_error_after_sends_an_error_event_and_no_done(http: httpx2.Client) -> None:
    response = openai_post(http, openai_body("x [sim error_after=2]", stream=True))
    assert response.status_code == 200
    events = sse_events(response.content)
    assert len(events) == 3
    assert events[-1][1] == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
        }
    }


def test_cut_after_drops_the_connection_mid_stream(http: httpx2.Client) -> None:
    body = openai_body("x [sim cut_after=2]", stream=True)
    received = read_cut_stream(http, "/v1/chat/completions", body, {"authorization": f"Bearer {KEY}"})
    assert received.count(b"data: ") == 2
    assert b"[DONE]" not in received


def test_cut_after_on_a_json_reply_drops_it_half_way(http: httpx2.Client) -> None:
    with pytest.raises(httpx2.RemoteProtocolError):
        openai_post(http, openai_body("x [sim cut_after=0]"))


def test_latency_and_time_to_first_token(http: httpx2.Client) -> None:
    started = time.monotonic()
    assert openai_post(http, openai_body("x [sim latency_ms=150]")).status_code == 200
    assert time.monotonic() - started >= 0.15
    body = openai_body("x [sim ttft_ms=150 chunk_gap_ms=20 chunks=3]", stream=True)
    # Measured from the request, not from the headers: when the status line goes out relative to the
    # first event is the server's business, so only lower bounds from the request start are asserted.
    opened_at = time.monotonic()
    with http.stream("POST", "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}) as response:
        chunks = response.iter_bytes()
        next(chunks)
        first_at = time.monotonic()
        rest = b"".join(chunks)
        done_at = time.monotonic()
    assert first_at - opened_at >= 0.15
    assert done_at - first_at >= 0.1  # 6 more events, 20 ms apart
    assert rest.endswith(b"data: [DONE]\n\n")


def test_blocked_prompt_is_a_refusal(http: httpx2.Client) -> None:
    reply = openai_post(http, openai_body("x [sim finish=blocked]")).json()["choices"][0]
    assert reply["message"]["content"] is None
    assert reply["message"]["refusal"] == "I'm very sorry, but I can't assist with that request."
    assert reply["finish_reason"] == "stop"  # as on openai/refusal.json
    chunks = _chunks(openai_post(http, openai_body("x [sim finish=blocked]", stream=True)))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": None, "refusal": ""}
    assert "".join(d.get("refusal") or "" for d in deltas) == reply["message"]["refusal"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
