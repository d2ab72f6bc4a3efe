"""The service core's own logic with a scripted provider (httpx2.MockTransport) and a fake sleep:
retries and when they stop, the failure status, streams before and after their first chunk, cost,
Gemini signatures, and exactly one usage event per request. End-to-end behaviour over real HTTP is
in tests/api and tests/conformance."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2
import orjson
import pytest

from shared.catalog import default_catalog
from shared.credentials import PlatformCredentials
from shared.errors import NoRouteError, ProviderError, RequestError, UpstreamFailure
from shared.events.port import MemorySink
from shared.identity import Identity
from shared.providers.signatures import InMemorySignatureStore
from shared.retry import RetryPolicy
from shared.service import AIService
from shared.transport import HttpxUpstream
from shared.unified import ChatRequest, Message
from tests.service_parts import memory_breakers, pinned_router

IDENTITY = Identity(tenant="app-1", key_id="key-1", user="u-1", scopes=frozenset({"chat"}))
BASES = {"openai": "http://openai.test/v1", "anthropic": "http://anthropic.test", "gemini": "http://gemini.test/v1beta"}


def openai_reply(text: str = "Hi!") -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
        }
    )


def openai_error(status: int, code: str = "x", type_: str = "server_error") -> bytes:
    return orjson.dumps({"error": {"message": f"status {status}", "type": type_, "param": None, "code": code}})


def sse(*events: dict[str, object], done: bool = True) -> bytes:
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    return body + (b"data: [DONE]\n\n" if done else b"")


def streamed(body: bytes) -> httpx2.Response:
    """A 200 event stream as the transport delivers it: not yet read."""
    return httpx2.Response(200, stream=httpx2.ByteStream(body), headers={"content-type": "text/event-stream"})


def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


USAGE_CHUNK = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}


@dataclass
class Script:
    """Queued upstream answers; each is a Response or an exception to raise."""

    answers: list[httpx2.Response | Exception]
    seen: list[httpx2.Request] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Harness:
    service: AIService
    events: MemorySink
    sleeps: list[float]
    script: Script


def harness(*answers: httpx2.Response | Exception, keys: dict[str, tuple[str, ...]] | None = None) -> Harness:
    script = Script(list(answers))
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    events = MemorySink()
    service = AIService(
        catalog=default_catalog(),
        upstream=HttpxUpstream(httpx2.AsyncClient(transport=httpx2.MockTransport(script))),
        credentials=PlatformCredentials(
            keys if keys is not None else {"openai": ("sk-o",), "anthropic": ("sk-a",), "gemini": ("sk-g",)}
        ),
        base_urls=BASES,
        events=events,
        signatures=InMemorySignatureStore(),
        router=pinned_router(),
        breakers=memory_breakers(),
        retry=RetryPolicy(max_retries=3),
        sleep=sleep,
        random=lambda: 0.5,
    )
    return Harness(service, events, sleeps, script)


def ask(model: str = "gpt-4o-mini", **settings: object) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message(role="user", content="hello"),), **settings)  # type: ignore[arg-type]


def only_event(h: Harness) -> dict[str, object]:
    assert len(h.events.events) == 1
    return h.events.events[0].model_dump()


async def test_success_is_priced_and_recorded() -> None:
    h = harness(httpx2.Response(200, content=openai_reply()))
    result = await h.service.chat(ask(), IDENTITY, route="openai")
    assert result.response.choices[0].message.content == "Hi!"
    assert (result.provider, result.model, result.attempts) == ("openai", "gpt-4o-mini", 1)
    # gpt-4o-mini: 1000 * 0.15 + 100 * 0.60 = 210 micro-USD
    assert result.cost.micros == 210
    event = only_event(h)
    assert event["status"] == "ok"
    assert (event["tenant"], event["user"], event["key_id"], event["route"]) == ("app-1", "u-1", "key-1", "openai")
    assert (event["provider"], event["cost_micros"], event["input_tokens"]) == ("OPENAI", 210, 1000)
    assert h.script.seen[0].headers["authorization"] == "Bearer sk-o"


async def test_retryable_errors_are_retried_with_full_jitter_then_succeed() -> None:
    h = harness(
        httpx2.Response(503, content=openai_error(503)),
        httpx2.Response(500, content=openai_error(500)),
        httpx2.Response(200, content=openai_reply()),
    )
    result = await h.service.chat(ask(), IDENTITY)
    assert result.attempts == 3
    assert h.sleeps == [0.5 * 0.25, 0.5 * 0.5]  # random() * min(cap, base * 2**(n-1))
    assert only_event(h)["attempts"] == 3


async def test_caller_errors_are_returned_at_once() -> None:
    h = harness(httpx2.Response(400, content=openai_error(400, "context_length_exceeded", "invalid_request_error")))
    with pytest.raises(UpstreamFailure) as caught:
        await h.service.chat(ask(), IDENTITY)
    assert (caught.value.status, caught.value.kind, caught.value.retried) == (400, "context_length", False)
    assert h.sleeps == []
    event = only_event(h)
    assert (event["status"], event["http_status"], event["error_kind"], event["cost_micros"]) == (
        "error",
        400,
        "context_length",
        0,
    )


async def test_a_long_retry_after_is_not_waited_for() -> None:
    h = harness(httpx2.Response(429, content=openai_error(429, "rate_limit_exceeded"), headers={"retry-after": "30"}))
    with pytest.raises(UpstreamFailure) as caught:
        await h.service.chat(ask(), IDENTITY)
    assert (caught.value.status, caught.value.retry_after) == (429, 30.0)
    assert h.sleeps == []


async def test_a_short_retry_after_is_honoured_and_all_rate_limited_is_429() -> None:
    limited = [httpx2.Response(429, content=openai_error(429), headers={"retry-after": "1"}) for _ in range(4)]
    h = harness(*limited)
    with pytest.raises(UpstreamFailure) as caught:
        await h.service.chat(ask(), IDENTITY)
    assert h.sleeps == [1.0, 1.0, 1.0]
    assert (caught.value.status, caught.value.retried, len(caught.value.attempts)) == (429, True, 4)


async def test_network_errors_end_as_502_after_the_retries() -> None:
    h = harness(*[httpx2.ConnectError("refused") for _ in range(4)])
    with pytest.raises(UpstreamFailure) as caught:
        await h.service.chat(ask(), IDENTITY)
    assert (caught.value.status, caught.value.kind) == (502, "network_error")
    assert len(h.script.seen) == 4


async def test_platform_key_rejected_upstream_is_a_502_not_the_callers_401() -> None:
    h = harness(httpx2.Response(401, content=openai_error(401, "invalid_api_key", "invalid_request_error")))
    with pytest.raises(UpstreamFailure) as caught:
        await h.service.chat(ask(), IDENTITY)
    assert (caught.value.status, caught.value.kind) == (502, "authentication")


async def test_no_key_for_the_provider_is_a_clear_503_and_recorded() -> None:
    h = harness(keys={"openai": ("sk-o",)})
    with pytest.raises(NoRouteError) as caught:
        await h.service.chat(ask("claude-haiku-4-5"), IDENTITY)
    assert caught.value.status == 503
    assert caught.value.retry_after is None
    assert "no usable API key" in caught.value.message
    assert "anthropic" in caught.value.message
    event = only_event(h)
    assert (event["attempts"], event["provider"], event["error_kind"]) == (0, None, "api_error")


async def test_unknown_model_is_a_400_naming_the_field() -> None:
    h = harness()
    with pytest.raises(RequestError) as caught:
        await h.service.chat(ask("llama-9"), IDENTITY)
    assert caught.value.field == "model"
    assert only_event(h)["error_kind"] == "invalid_request"


async def test_aliases_go_upstream_as_the_catalog_id_and_anthropic_replies_get_a_created_stamp() -> None:
    reply = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-haiku-20240307",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    h = harness(httpx2.Response(200, content=orjson.dumps(reply)))
    result = await h.service.chat(ask("claude-3-haiku"), IDENTITY)
    assert orjson.loads(h.script.seen[0].content)["model"] == "claude-3-haiku-20240307"
    assert result.response.created > 1_700_000_000
    assert result.model == "claude-3-haiku-20240307"


async def test_stream_yields_chunks_then_records_usage_and_cost() -> None:
    body = sse(chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}), chunk({"content": "lo"}))
    body = body.replace(
        b"data: [DONE]",
        b"data: " + orjson.dumps(chunk({}, "stop")) + b"\n\ndata: " + orjson.dumps(USAGE_CHUNK) + b"\n\ndata: [DONE]",
    )
    h = harness(streamed(body))
    stream = await h.service.chat_stream(ask(), IDENTITY, route="seed")
    texts = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert texts == ["Hel", "lo"]
    assert stream.usage is not None
    assert stream.usage.input_tokens == 10
    assert stream.cost.micros == 3  # 10 * 0.15 + 2 * 0.60 = 2.7 -> 3
    event = only_event(h)
    assert (event["stream"], event["status"], event["cost_micros"]) == (True, "ok", 3)
    assert event["ttft_ms"] is not None
    assert orjson.loads(h.script.seen[0].content)["stream_options"] == {"include_usage": True}


async def test_stream_failing_before_its_first_chunk_is_retried() -> None:
    good = sse(chunk({"role": "assistant"}), chunk({"content": "ok"}), chunk({}, "stop"), USAGE_CHUNK)
    h = harness(httpx2.Response(500, content=openai_error(500)), streamed(good))
    stream = await h.service.chat_stream(ask(), IDENTITY)
    assert stream.attempts == 2
    assert [c async for c in stream]
    assert only_event(h)["attempts"] == 2


async def test_error_event_after_the_first_chunk_is_raised_in_stream_and_recorded() -> None:
    body = sse(
        chunk({"role": "assistant"}),
        chunk({"content": "par"}),
        {"error": {"message": "boom", "type": "server_error"}},
        done=False,
    )
    h = harness(streamed(body))
    stream = await h.service.chat_stream(ask(), IDENTITY)
    seen: list[object] = []

    async def consume() -> None:
        async for c in stream:
            seen.append(c)

    with pytest.raises(ProviderError) as caught:
        await consume()
    assert caught.value.in_stream
    assert seen  # what arrived before the error was forwarded, never restarted
    assert len(h.script.seen) == 1
    event = only_event(h)
    assert (event["status"], event["http_status"], event["error_kind"]) == ("error", 200, "api_error")


async def test_gemini_thought_signatures_survive_to_the_next_turn_for_that_tenant_only() -> None:
    first = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"functionCall": {"name": "w", "args": {}}, "thoughtSignature": "SIG"}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "totalTokenCount": 6},
    }
    h = harness(
        httpx2.Response(200, content=orjson.dumps(first)),
        httpx2.Response(200, content=orjson.dumps(first)),
        httpx2.Response(200, content=orjson.dumps(first)),
    )
    result = await h.service.chat(ask("gemini-2.5-flash"), IDENTITY)
    call = result.response.choices[0].message.tool_calls[0]

    def follow_up() -> ChatRequest:
        return ChatRequest(
            model="gemini-2.5-flash",
            messages=(
                Message(role="user", content="weather?"),
                Message(role="assistant", tool_calls=(type(call)(call.id, call.name, call.arguments),)),
                Message(role="tool", tool_call_id=call.id, content="sunny"),
            ),
        )

    def sent_signature(index: int) -> object:
        contents = orjson.loads(h.script.seen[index].content)["contents"]
        return contents[1]["parts"][0]["thoughtSignature"]

    await h.service.chat(follow_up(), IDENTITY)
    assert sent_signature(1) == "SIG"
    other_tenant = Identity(tenant="app-2", key_id="key-2")
    await h.service.chat(follow_up(), other_tenant)
    assert sent_signature(2) == "skip_thought_signature_validator"


@pytest.mark.parametrize("make_error", [lambda: httpx2.ReadTimeout("slow"), lambda: httpx2.ConnectTimeout("slow")])
async def test_timeouts_are_retried_and_end_as_504(make_error: Callable[[], Exception]) -> None:
    h = harness(*[make_error() for _ in range(4)])
    with pytest.raises(UpstreamFailure) as caught:
        await h.service.chat(ask(), IDENTITY)
    assert (caught.value.status, caught.value.kind) == (504, "timeout")


async def test_a_gzipped_event_stream_is_decoded_before_parsing() -> None:
    body = sse(chunk({"role": "assistant"}), chunk({"content": "zipped"}), chunk({}, "stop"), USAGE_CHUNK)
    reply = httpx2.Response(
        200,
        stream=httpx2.ByteStream(gzip.compress(body)),
        headers={"content-type": "text/event-stream", "content-encoding": "gzip"},
    )
    h = harness(reply)
    stream = await h.service.chat_stream(ask(), IDENTITY)
    assert [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content] == ["zipped"]


async def test_responses_only_models_are_refused_on_chat_naming_the_model() -> None:
    h = harness()
    with pytest.raises(RequestError) as caught:
        await h.service.chat(ask("gpt-5-pro"), IDENTITY)
    assert caught.value.field == "model"
    assert h.script.seen == []


async def test_waiting_is_bounded_per_request_not_only_per_retry() -> None:
    # Each hint (6 s) is under the 10 s per-wait limit, but two of them would exceed the 10 s budget.
    limited = [httpx2.Response(429, content=openai_error(429), headers={"retry-after": "6"}) for _ in range(4)]
    h = harness(*limited)
    with pytest.raises(UpstreamFailure) as caught:
        await h.service.chat(ask(), IDENTITY)
    assert h.sleeps == [6.0]
    assert len(caught.value.attempts) == 2


async def test_failures_carry_the_request_id_of_their_usage_event() -> None:
    h = harness(httpx2.Response(400, content=openai_error(400, "bad", "invalid_request_error")))
    with pytest.raises(UpstreamFailure) as caught:
        await h.service.chat(ask(), IDENTITY)
    assert caught.value.request_id == only_event(h)["request_id"]


async def test_a_stream_abandoned_by_its_consumer_is_recorded_as_an_error() -> None:
    body = sse(chunk({"role": "assistant"}), chunk({"content": "a"}), chunk({"content": "b"}), chunk({}, "stop"))
    h = harness(streamed(body))
    stream = await h.service.chat_stream(ask(), IDENTITY)
    iterator = aiter(stream)
    await anext(iterator)
    await iterator.aclose()  # type: ignore[attr-defined]
    event = only_event(h)
    assert (event["status"], event["http_status"], event["error_kind"]) == ("error", 200, "network_error")


async def test_rejected_requests_get_a_request_id_matching_their_event() -> None:
    h = harness()
    error = RequestError("messages must not be empty", field="messages")
    await h.service.reject(IDENTITY, "openai", error)
    event = only_event(h)
    assert error.request_id == event["request_id"]
    assert (event["status"], event["http_status"], event["error_kind"], event["attempts"]) == (
        "error",
        400,
        "invalid_request",
        0,
    )


async def test_the_whole_request_timeout_ends_as_a_recorded_504() -> None:
    async def slow(request: httpx2.Request) -> httpx2.Response:
        await asyncio.sleep(5)
        return httpx2.Response(200, content=openai_reply())

    events = MemorySink()
    service = AIService(
        catalog=default_catalog(),
        upstream=HttpxUpstream(httpx2.AsyncClient(transport=httpx2.MockTransport(slow))),
        credentials=PlatformCredentials({"openai": ("sk-o",)}),
        base_urls=BASES,
        events=events,
        signatures=InMemorySignatureStore(),
        router=pinned_router(),
        breakers=memory_breakers(),
        request_timeout=0.05,
    )
    for start in (service.chat, service.chat_stream):
        with pytest.raises(UpstreamFailure) as caught:
            await start(ask(), IDENTITY)
        assert (caught.value.status, caught.value.kind) == (504, "timeout")
        assert caught.value.request_id == events.events[-1].request_id
    assert [(e.stream, e.http_status, e.error_kind) for e in events.events] == [
        (False, 504, "timeout"),
        (True, 504, "timeout"),
    ]


def test_analyze_costs_prices_the_named_model_and_cheaper_equivalents_without_calling_anyone() -> None:
    h = harness()
    h.service.router = pinned_router(cost_optimization=True, fallback_enabled=True)
    analysis = h.service.analyze_costs(ask("gpt-4", max_tokens=500))
    assert (analysis.model, analysis.provider) == ("gpt-4", "openai")
    assert analysis.max_output_tokens == 500
    cheapest = analysis.candidates[0]
    assert (cheapest.provider, cheapest.model) == (analysis.cheapest_provider, analysis.cheapest_model)
    assert cheapest.estimated.micros is not None
    assert analysis.estimated_cost.micros is not None
    assert cheapest.estimated.micros < analysis.estimated_cost.micros
    assert any(analysis.cheapest_model in line for line in analysis.recommendations)
    assert h.script.seen == []
    assert h.events.events == []


def test_analyze_costs_of_an_unknown_model_is_a_400_naming_the_field() -> None:
    with pytest.raises(RequestError) as caught:
        harness().service.analyze_costs(ask("llama-9"))
    assert caught.value.field == "model"
