"""Gemini generateContent over real HTTP: JSON, SSE and JSON-array streams, key handling, faults."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from tests.recordings import load_json
from tests.simulator.helpers import KEY, WEATHER_SCHEMA, gemini_body, gemini_post, read_cut_stream, sse_events

_TOOLS = [
    {"functionDeclarations": [{"name": "get_weather", "description": "", "parametersJsonSchema": WEATHER_SCHEMA}]}
]


def _chunks(response: httpx2.Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"] == "text/event-stream"
    assert response.content.endswith(b"\r\n\r\n")
    assert response.content.count(b"\r\n\r\n") == response.content.count(b"data: ")
    return [data for _, data in sse_events(response.content)]


def test_json_reply_shape(http: httpx2.Client) -> None:
    response = gemini_post(http, gemini_body("What is 2+2?"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    reply = response.json()
    candidate = reply["candidates"][0]
    assert candidate["content"]["role"] == "model"
    assert candidate["content"]["parts"][0]["text"].startswith("Echo: What is 2+2? #")
    assert (candidate["finishReason"], candidate["index"]) == ("STOP", 0)
    usage = reply["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert usage["promptTokensDetails"] == [{"modality": "TEXT", "tokenCount": usage["promptTokenCount"]}]
    assert reply["modelVersion"] == "gemini-2.5-flash"
    assert len(reply["responseId"]) == 23


def test_key_in_query_and_missing_key(http: httpx2.Client) -> None:
    assert gemini_post(http, gemini_body(), key_in_query=True).status_code == 200
    recorded = load_json("gemini/error_400_api_key.json")
    for stream in (False, True):
        response = gemini_post(http, gemini_body(), key=None, stream=stream)
        assert response.status_code == 400
        assert response.json() == recorded
    sse = gemini_post(http, gemini_body(), key=None, stream=True)
    assert sse.headers["content-type"] == "text/event-stream"
    assert sse.text.startswith('{\n  "error": {\n')  # plain pretty JSON, no `data:` framing
    array = gemini_post(http, gemini_body(), key=None, stream=True, sse=False)
    assert json.loads(array.content) == [recorded]


def test_tool_call_reply(http: httpx2.Client) -> None:
    candidate = gemini_post(http, gemini_body("Weather?", tools=_TOOLS)).json()["candidates"][0]
    part = candidate["content"]["parts"][0]
    assert part["functionCall"]["name"] == "get_weather"
    assert set(part["functionCall"]["args"]) == {"city", "days"}
    assert part["thoughtSignature"]
    assert "id" not in part["functionCall"]
    assert candidate["finishReason"] == "STOP"  # STOP on tool calls too
    assert candidate["finishMessage"] == "Model generated function call(s)."


@pytest.mark.parametrize(
    ("tool_config", "expected"),
    [
        ({"functionCallingConfig": {"mode": "NONE"}}, None),
        ({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}}, "lookup"),
        ({"function_calling_config": {"mode": "AUTO"}}, "get_weather"),
    ],
)
def test_tool_config(http: httpx2.Client, tool_config: dict[str, Any], expected: str | None) -> None:
    tools = [
        {
            "functionDeclarations": [
                *_TOOLS[0]["functionDeclarations"],
                {"name": "lookup", "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}}},
            ]
        }
    ]
    parts = gemini_post(http, gemini_body("x", tools=tools, toolConfig=tool_config)).json()["candidates"][0]["content"][
        "parts"
    ]
    assert [p["functionCall"]["name"] for p in parts if "functionCall" in p] == ([expected] if expected else [])


def test_function_response_turn_gets_text(http: httpx2.Client) -> None:
    contents = [
        {"role": "user", "parts": [{"text": "Weather?"}]},
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}, "thoughtSignature": "c2ln"}],
        },
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "cold"}}}]},
    ]
    reply = gemini_post(http, {"contents": contents, "tools": _TOOLS}, model="gemini-3-pro-preview").json()
    assert reply["candidates"][0]["content"]["parts"][0]["text"].startswith("Tool result received: cold #")


def test_gemini_3_requires_the_thought_signature_back(http: httpx2.Client) -> None:
    contents = [
        {"role": "user", "parts": [{"text": "Weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "cold"}}}]},
    ]
    response = gemini_post(http, {"contents": contents}, model="gemini-3-pro-preview")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Function call is missing a thought_signature")
    assert gemini_post(http, {"contents": contents}, model="gemini-2.5-flash").status_code == 200


def test_sse_text_stream(http: httpx2.Client) -> None:
    chunks = _chunks(gemini_post(http, gemini_body("Count [sim chunks=3]"), stream=True))
    assert len(chunks) == 3
    assert len({c["responseId"] for c in chunks}) == 1
    assert ["finishReason" in c["candidates"][0] for c in chunks] == [False, False, True]
    counts = [c["usageMetadata"]["candidatesTokenCount"] for c in chunks]
    assert counts == sorted(counts)
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    final = gemini_post(http, gemini_body("Count [sim chunks=3]")).json()
    assert text == final["candidates"][0]["content"]["parts"][0]["text"]
    assert chunks[-1]["usageMetadata"] == final["usageMetadata"]


def test_sse_tool_call_stream_and_thoughts(http: httpx2.Client) -> None:
    body = gemini_body("Weather?", tools=_TOOLS, generationConfig={"thinkingConfig": {"includeThoughts": True}})
    chunks = _chunks(gemini_post(http, body, stream=True))
    parts = [c["candidates"][0]["content"]["parts"] for c in chunks]
    assert parts[0][0]["thought"] is True
    assert parts[1][0]["functionCall"]["name"] == "get_weather"
    assert parts[2] == [{"text": ""}]  # the final chunk, as in gemini/stream_tool_call.sse
    assert chunks[2]["candidates"][0]["finishReason"] == "STOP"
    assert all(c["usageMetadata"]["thoughtsTokenCount"] > 0 for c in chunks)


def test_json_array_stream(http: httpx2.Client) -> None:
    response = gemini_post(http, gemini_body("Hi [sim chunks=2]"), stream=True, sse=False)
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    assert response.content.startswith(b"[{\n  ")
    assert b"\n,\r\n{" in response.content
    chunks = json.loads(response.content)
    assert len(chunks) == 2
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_candidate_count_and_safety_finish(http: httpx2.Client) -> None:
    reply = gemini_post(http, gemini_body("x", generationConfig={"candidateCount": 2})).json()
    assert [c["index"] for c in reply["candidates"]] == [0, 1]
    blocked = gemini_post(http, gemini_body("x [sim finish=content_filter]")).json()["candidates"][0]
    assert blocked["content"] == {}
    assert blocked["finishReason"] == "SAFETY"


def test_rate_limit_with_and_without_retry_info(http: httpx2.Client) -> None:
    bare = gemini_post(http, gemini_body("x [sim status=429]"))
    assert bare.json() == load_json("gemini/error_429.json")  # the real detail-less 429
    error = gemini_post(http, gemini_body("x [sim kind=rate_limit retry_after=34.4]")).json()["error"]
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    details = {d["@type"].rsplit(".", 1)[-1]: d for d in error["details"]}
    assert details["RetryInfo"]["retryDelay"] == "34.4s"
    assert details["QuotaFailure"]["violations"][0]["quotaId"].startswith("GenerateRequestsPerMinute")
    daily = gemini_post(http, gemini_body("x [sim kind=quota]")).json()["error"]["details"][0]
    assert "PerDay" in daily["violations"][0]["quotaId"]


@pytest.mark.parametrize(
    ("directive", "code", "status"),
    [
        ("kind=overloaded", 503, "UNAVAILABLE"),
        ("kind=server_error", 500, "INTERNAL"),
        ("kind=timeout", 504, "DEADLINE_EXCEEDED"),
        ("kind=permission", 403, "PERMISSION_DENIED"),
        ("kind=not_found", 404, "NOT_FOUND"),
        ("kind=context_length", 400, "INVALID_ARGUMENT"),
        ("status=401", 401, "UNAUTHENTICATED"),
        ("status=502", 502, "INTERNAL"),
    ],
)
def test_error_kinds_in_google_rpc_status(http: httpx2.Client, directive: str, code: int, status: str) -> None:
    response = gemini_post(http, gemini_body(f"x [sim {directive}]"))
    assert response.status_code == code
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    assert response.text.startswith('{\n  "error"')


def test_error_after_and_cut_after_in_streams(http: httpx2.Client) -> None:
    response = gemini_post(http, gemini_body("x [sim error_after=1 kind=overloaded]"), stream=True)
    assert response.status_code == 200
    events = sse_events(response.content)
    assert len(events) == 2
    assert events[1][1] == {
        "error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}
    }
    array = gemini_post(http, gemini_body("x [sim error_after=0]"), stream=True, sse=False)
    assert json.loads(array.content)[0]["error"]["status"] == "INTERNAL"
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    received = read_cut_stream(http, path, gemini_body("x [sim cut_after=99]"), {"x-goog-api-key": KEY})
    assert received.count(b"data: ") == 3  # all chunks but the one with finishReason
    assert b"finishReason" not in received


@pytest.mark.parametrize(
    ("body", "model", "message"),
    [
        (gemini_body(temperature=0.5), "gemini-2.5-flash", 'Unknown name "temperature": Cannot find field.'),
        (
            gemini_body(generationConfig={"max_tokens": 5}),
            "gemini-2.5-flash",
            "Unknown name \"max_tokens\" at 'generation_config'",
        ),
        ({"contents": []}, "gemini-2.5-flash", "contents is not specified"),
        (
            {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
            "gemini-2.5-flash",
            "Please use a valid role: user, model.",
        ),
        ({"contents": [{"role": "user", "parts": []}]}, "gemini-2.5-flash", "contents.parts must not be empty"),
        ({"contents": [{"role": "user", "parts": [{"bogus": 1}]}]}, "gemini-2.5-flash", "required oneof field 'data'"),
        (
            gemini_body(generationConfig={"thinkingConfig": {"thinkingBudget": 1, "thinkingLevel": "LOW"}}),
            "gemini-3-pro-preview",
            "only one of thinking budget",
        ),
        (
            gemini_body(tools=[{"functionDeclarations": [{"name": "1bad"}]}]),
            "gemini-2.5-flash",
            "Invalid function name",
        ),
    ],
)
def test_requests_the_real_api_rejects(http: httpx2.Client, body: dict[str, Any], model: str, message: str) -> None:
    response = gemini_post(http, body, model=model)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]


def test_snake_case_keys_models_and_methods(http: httpx2.Client) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "generation_config": {"max_output_tokens": 50},
    }
    assert gemini_post(http, body).status_code == 200
    assert gemini_post(http, gemini_body(), model="gemma-3-27b-it").status_code == 200
    missing = gemini_post(http, gemini_body(), model="palm-2")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"].startswith("models/palm-2 is not found for API version v1beta")
    unknown = http.post(
        "/v1beta/models/gemini-2.5-flash:countWords", json=gemini_body(), headers={"x-goog-api-key": KEY}
    )
    assert unknown.status_code == 404


def test_blocked_prompt_is_a_200_without_candidates(http: httpx2.Client) -> None:
    response = gemini_post(http, gemini_body("x [sim finish=blocked]"))
    assert response.status_code == 200
    reply = response.json()
    assert "candidates" not in reply
    assert reply["promptFeedback"] == {"blockReason": "PROHIBITED_CONTENT"}
    assert reply["usageMetadata"]["totalTokenCount"] == reply["usageMetadata"]["promptTokenCount"]
    chunks = _chunks(gemini_post(http, gemini_body("x [sim finish=blocked]"), stream=True))
    assert chunks == [reply]
