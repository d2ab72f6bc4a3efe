"""The Gemini thoughtSignature store: TTL, bounds, tenant isolation, attach and remember."""

from __future__ import annotations

from shared.providers.signatures import InMemorySignatureStore, attach_signatures, remember_signatures
from shared.unified import ChatRequest, Message, ToolCall
from tests.fakes import FakeClock


def conversation(*calls: ToolCall) -> ChatRequest:
    return ChatRequest(
        model="gemini-2.5-flash",
        messages=(
            Message(role="user", content="weather?"),
            Message(role="assistant", tool_calls=calls),
            Message(role="tool", tool_call_id=calls[0].id, content="18C"),
        ),
    )


async def test_remember_then_attach_round_trip() -> None:
    store = InMemorySignatureStore(clock=FakeClock())
    await remember_signatures(
        [ToolCall("call_1", "w", "{}", "SIG1"), ToolCall("call_2", "w", "{}", None)], store, "tenant-a"
    )
    request = conversation(ToolCall("call_1", "w", "{}"), ToolCall("call_2", "w", "{}"))
    filled = await attach_signatures(request, store, "tenant-a")
    calls = filled.messages[1].tool_calls
    assert [c.thought_signature for c in calls] == ["SIG1", None]
    assert filled.messages[0] is request.messages[0]


async def test_other_tenant_cannot_read_a_signature() -> None:
    store = InMemorySignatureStore(clock=FakeClock())
    await store.put_many("tenant-a", {"call_1": "SIG1"})
    assert await store.get_many("tenant-b", ["call_1"]) == {}
    request = conversation(ToolCall("call_1", "w", "{}"))
    assert await attach_signatures(request, store, "tenant-b") is request


async def test_signatures_expire_after_the_ttl() -> None:
    clock = FakeClock()
    store = InMemorySignatureStore(ttl_seconds=60, clock=clock)
    await store.put_many("t", {"c": "S"})
    clock.now += 59
    assert await store.get_many("t", ["c"]) == {"c": "S"}
    clock.now += 2
    assert await store.get_many("t", ["c"]) == {}


async def test_store_is_bounded_least_recently_used_first() -> None:
    store = InMemorySignatureStore(max_entries=2, clock=FakeClock())
    await store.put_many("t", {"a": "1", "b": "2"})
    assert await store.get_many("t", ["a"]) == {"a": "1"}  # touch a: b is now the oldest
    await store.put_many("t", {"c": "3"})
    assert await store.get_many("t", ["a", "b", "c"]) == {"a": "1", "c": "3"}


async def test_attach_keeps_a_signature_the_client_already_sent() -> None:
    store = InMemorySignatureStore(clock=FakeClock())
    await store.put_many("t", {"call_1": "STORED"})
    request = conversation(ToolCall("call_1", "w", "{}", "GIVEN"))
    assert (await attach_signatures(request, store, "t")).messages[1].tool_calls[0].thought_signature == "GIVEN"
