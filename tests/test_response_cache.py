"""The response cache inside the service core, on the in-process port with a scripted provider: hits
call no provider and cost $0 (with the cost saved), scopes never cross, only complete successes are kept,
streams are stored and replayed, Cache-Control is obeyed. Redis itself is tested in tests/cache."""

from __future__ import annotations

from dataclasses import dataclass

import httpx2
import orjson
import pytest

from shared.cache.memory import MemoryCache
from shared.catalog import default_catalog
from shared.chat_types import ChatOptions
from shared.credentials import PlatformCredentials
from shared.errors import ProviderError, UpstreamFailure
from shared.events.port import MemorySink
from shared.identity import Identity
from shared.providers.assembly import assemble
from shared.providers.signatures import InMemorySignatureStore
from shared.response_cache import ResponseCache
from shared.service import AIService
from shared.transport import HttpxUpstream
from shared.unified import ChatRequest, Message
from tests.service_parts import memory_breakers, pinned_router

ALICE = Identity(tenant="app-1", key_id="k1", user="alice")
BOB = Identity(tenant="app-1", key_id="k1", user="bob")
OTHER_APP = Identity(tenant="app-2", key_id="k2", user="alice")


def reply(text: str) -> bytes:
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


def sse_reply(text: str, *, complete: bool = True) -> bytes:
    def event(obj: dict[str, object]) -> bytes:
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    body = event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]})
    if complete:
        body += event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        usage = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
        body += event({**base, "choices": [], "usage": usage}) + b"data: [DONE]\n\n"
    return body


@dataclass
class Upstream:
    answers: list[httpx2.Response]
    calls: int = 0

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.calls += 1
        return self.answers.pop(0)


def service(*answers: httpx2.Response) -> tuple[AIService, Upstream, MemorySink]:
    upstream = Upstream(list(answers))
    events = MemorySink()
    port = MemoryCache(100)

    async def no_sleep(_: float) -> None:
        return None

    core = AIService(
        catalog=default_catalog(),
        upstream=HttpxUpstream(httpx2.AsyncClient(transport=httpx2.MockTransport(upstream))),
        credentials=PlatformCredentials({"openai": ("sk",)}),
        base_urls={"openai": "http://openai.test/v1"},
        events=events,
        signatures=InMemorySignatureStore(),
        router=pinned_router(),
        breakers=memory_breakers(),
        cache=ResponseCache(port, ttl_seconds=60),
        sleep=no_sleep,
    )
    return core, upstream, events


def ask(text: str = "hello", **settings: object) -> ChatRequest:
    return ChatRequest(model="gpt-4o-mini", messages=(Message(role="user", content=text),), **settings)  # type: ignore[arg-type]


def ok(text: str) -> httpx2.Response:
    return httpx2.Response(200, content=reply(text))


def streamed(body: bytes) -> httpx2.Response:
    return httpx2.Response(200, stream=httpx2.ByteStream(body), headers={"content-type": "text/event-stream"})


async def test_a_repeat_is_a_hit_that_costs_nothing_and_reports_the_saving() -> None:
    core, upstream, events = service(ok("first"))
    miss = await core.chat(ask(), ALICE)
    hit = await core.chat(ask(), ALICE)
    assert (miss.cache_status, hit.cache_status) == ("MISS", "HIT")
    assert hit.response.choices[0].message.content == "first"
    assert upstream.calls == 1
    # gpt-4o-mini: 1000 * 0.15 + 100 * 0.60 = 210 micro-USD, saved by the hit
    assert (hit.cost.micros, hit.cost_saved_micros, hit.attempts) == (0, 210, 0)
    event = events.events[1]
    assert (event.cache_hit, event.cost_micros, event.cost_saved_micros, event.provider) == (True, 0, 210, "OPENAI")


async def test_the_same_prompt_from_another_user_or_tenant_never_hits() -> None:
    core, upstream, _ = service(ok("for alice"), ok("for bob"), ok("for the other app"))
    await core.chat(ask(), ALICE)
    bob = await core.chat(ask(), BOB)
    other = await core.chat(ask(), OTHER_APP)
    assert (bob.cache_status, bob.response.choices[0].message.content) == ("MISS", "for bob")
    assert (other.cache_status, other.response.choices[0].message.content) == ("MISS", "for the other app")
    assert upstream.calls == 3


async def test_errors_are_never_cached() -> None:
    error = orjson.dumps({"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}})
    core, upstream, _ = service(httpx2.Response(400, content=error), ok("fine"))
    with pytest.raises(UpstreamFailure):
        await core.chat(ask(), ALICE)
    assert (await core.chat(ask(), ALICE)).cache_status == "MISS"
    assert upstream.calls == 2


async def test_cache_control_no_cache_refreshes_and_no_store_leaves_nothing() -> None:
    core, upstream, _ = service(ok("old"), ok("new"), ok("unstored"))
    await core.chat(ask(), ALICE)
    refresh = core.cache_decision(ask(), {"cache-control": "no-cache"})
    fresh = await core.chat(ask(), ALICE, ChatOptions(cache=refresh))
    assert (fresh.cache_status, fresh.response.choices[0].message.content) == ("MISS", "new")
    assert (await core.chat(ask(), ALICE)).response.choices[0].message.content == "new"
    no_store = core.cache_decision(ask("other"), {"cache-control": "no-store"})
    assert (await core.chat(ask("other"), ALICE, ChatOptions(cache=no_store))).cache_status == "BYPASS"
    assert upstream.calls == 3


async def test_hot_sampling_bypasses_the_cache_unless_forced() -> None:
    core, upstream, _ = service(ok("a"), ok("b"), ok("c"))
    await core.chat(ask(temperature=0.9), ALICE)
    assert (await core.chat(ask(temperature=0.9), ALICE)).cache_status == "BYPASS"
    forced = core.cache_decision(ask(temperature=0.9), {"x-gateway-cache": "force"})
    await core.chat(ask(temperature=0.9), ALICE, ChatOptions(cache=forced))
    assert (await core.chat(ask(temperature=0.9), ALICE, ChatOptions(cache=forced))).cache_status == "HIT"
    assert upstream.calls == 3


async def test_a_stream_is_stored_and_replayed_as_a_stream_and_as_json() -> None:
    core, upstream, events = service(streamed(sse_reply("streamed answer")))
    live = await core.chat_stream(ask(), ALICE)
    assert [c async for c in live]
    replay = await core.chat_stream(ask(), ALICE)
    assert replay.cache_status == "HIT"
    replayed = assemble([c async for c in replay])
    assert replayed.choices[0].message.content == "streamed answer"
    assert replayed.choices[0].finish_reason == "stop"
    assert replayed.usage is not None
    assert replayed.usage.input_tokens == 1000
    as_json = await core.chat(ask(), ALICE)
    assert (as_json.cache_status, as_json.response.choices[0].message.content) == ("HIT", "streamed answer")
    assert upstream.calls == 1
    assert [e.cache_hit for e in events.events] == [False, True, True]


async def test_a_cut_stream_is_not_stored() -> None:
    core, upstream, _ = service(streamed(sse_reply("partial", complete=False)), ok("whole"))
    live = await core.chat_stream(ask(), ALICE)

    async def drain() -> None:
        async for _ in live:
            pass

    with pytest.raises(ProviderError):
        await drain()
    again = await core.chat(ask(), ALICE)
    assert (again.cache_status, again.response.choices[0].message.content) == ("MISS", "whole")
    assert upstream.calls == 2
