"""Firestore-only behaviour, against the emulator: the collection prefix, the ids Firestore refuses, and
StoreUnavailable (within the store's short timeout) when the host refuses connections or never answers."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.store import StoreUnavailable
from shared.store.firestore import FirestoreStore
from tests.store.conftest import FirestoreFactory, unique_prefix

Call = Callable[[FirestoreStore], Awaitable[object]]

EVERY_CALL: list[Call] = [
    lambda store: store.get("breakers", "a"),
    lambda store: store.list("breakers"),
    lambda store: store.set("breakers", "a", {"n": 1}),
    lambda store: store.create("breakers", "a", {"n": 1}),
    lambda store: store.put_if_newer("breakers", "a", {"version": 1}),
    lambda store: store.delete("breakers", "a"),
]
CALL_NAMES = ["get", "list", "set", "create", "put_if_newer", "delete"]


@pytest.fixture
def refused_host() -> str:
    """A loopback port with nothing listening: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def silent_host() -> Iterator[str]:
    """A loopback port that accepts TCP connections (the kernel's backlog) but never speaks HTTP/2."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def test_the_prefix_isolates_stores_on_one_database(firestore_store: FirestoreFactory) -> None:
    first, second = firestore_store(prefix="first_"), firestore_store(prefix="second_")
    await first.set("breakers", "a", {"owner": "first"})
    assert await second.get("breakers", "a") is None
    assert await second.list("breakers") == {}
    assert await second.create("breakers", "a", {"owner": "second"}) is True
    assert await first.get("breakers", "a") == {"owner": "first"}
    await second.delete("breakers", "a")
    assert await first.list("breakers") == {"a": {"owner": "first"}}


async def test_documents_live_in_the_prefixed_collection(firestore_store: FirestoreFactory) -> None:
    prefix = unique_prefix()
    store, unprefixed = firestore_store(prefix=prefix), firestore_store(prefix="")
    await store.set("breakers", "route:openai:gpt-4.1", {"state": "open"})
    assert await unprefixed.list(f"{prefix}breakers") == {"route:openai:gpt-4.1": {"state": "open"}}


@pytest.mark.parametrize(
    ("collection", "doc_id"), [("breakers", "a/b"), ("a/b", "x"), ("breakers", ""), ("", "x"), ("breakers", "..")]
)
async def test_slashes_empty_and_dot_names_are_refused(
    firestore_store: FirestoreFactory, collection: str, doc_id: str
) -> None:
    store = firestore_store()
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.get(collection, doc_id),
        lambda: store.set(collection, doc_id, {"n": 1}),
        lambda: store.create(collection, doc_id, {"n": 1}),
        lambda: store.put_if_newer(collection, doc_id, {"version": 1}),
        lambda: store.delete(collection, doc_id),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="invalid"):
            await call()


async def test_list_refuses_a_slash_in_the_collection(firestore_store: FirestoreFactory) -> None:
    with pytest.raises(ValueError, match="invalid collection"):
        await firestore_store().list("a/b")


@pytest.mark.parametrize("doc", [{"grid": [[1, 2], [3]]}, {"deep": {"list": [0, ["x"]]}}])
async def test_arrays_inside_arrays_are_refused_as_firestore_would(
    firestore_store: FirestoreFactory, doc: dict[str, Any]
) -> None:
    store = firestore_store()
    with pytest.raises(ValueError, match="array"):
        await store.set("breakers", "a", doc)
    with pytest.raises(ValueError, match="array"):
        await store.create("breakers", "a", doc)
    with pytest.raises(ValueError, match="array"):
        await store.put_if_newer("breakers", "a", {**doc, "version": 1})
    assert await store.get("breakers", "a") is None


@pytest.mark.parametrize("call", EVERY_CALL, ids=CALL_NAMES)
async def test_a_refused_connection_is_store_unavailable(
    firestore_store: FirestoreFactory, refused_host: str, call: Call
) -> None:
    store = firestore_store(host=refused_host, timeout=0.3)
    with pytest.raises(StoreUnavailable, match="firestore"):
        await call(store)


@pytest.mark.parametrize("call", EVERY_CALL, ids=CALL_NAMES)
async def test_a_host_that_never_answers_is_store_unavailable(
    firestore_store: FirestoreFactory, silent_host: str, call: Call
) -> None:
    store = firestore_store(host=silent_host, timeout=0.3)
    with pytest.raises(StoreUnavailable, match="firestore"):
        await call(store)


async def test_close_before_any_call_is_fine(firestore_store: FirestoreFactory) -> None:
    store = firestore_store()
    await store.close()
    await store.close()


async def test_expires_at_is_stored_as_a_timestamp_for_the_ttl_policy(firestore_store: FirestoreFactory) -> None:
    prefix = unique_prefix()
    store = firestore_store(prefix=prefix)
    await store.set("breaker_probes", "lease", {"expires_at": 1_900_000_000.0, "at": 1.5})
    raw = await store._client.collection(f"{prefix}breaker_probes").document("lease").get()
    stored = raw.to_dict()
    assert stored is not None
    assert stored["expires_at"] == datetime(2030, 3, 17, 17, 46, 40, tzinfo=UTC)
    assert stored["at"] == 1.5  # only the expiry field is converted
