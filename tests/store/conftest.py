"""The document store under test: the same contract runs against SQLite (a file in tmp_path) and against
the Firestore emulator (FIRESTORE_EMULATOR_HOST when it answers, else one started for the session from
tools/firestore-emulator). Each Firestore store gets a collection prefix of its own, so tests never see
each other's documents on a shared emulator."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from shared.store import DocumentStore, SqliteStore
from shared.store.firestore import FirestoreStore
from tests import firestore_emulator

# The "demo-" prefix is Firebase's convention for a project that exists only in an emulator.
EMULATOR_PROJECT = "demo-gateway-test"

FirestoreFactory = Callable[..., FirestoreStore]


@pytest.fixture(scope="session")
def firestore_host() -> Iterator[str]:
    """Never a skip: without a working emulator the Firestore tests fail, saying what to install."""
    stack = contextlib.ExitStack()
    try:
        host = stack.enter_context(firestore_emulator.firestore_host())
    except RuntimeError as error:
        failure = str(error)
    else:
        with stack:
            yield host
        return
    pytest.fail(failure, pytrace=False)


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}_"


@pytest.fixture
async def firestore_store(firestore_host: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FirestoreFactory]:
    """Build Firestore stores on a host (the emulator by default); all are closed after the test.

    The Google client reads FIRESTORE_EMULATOR_HOST when it is constructed, so the variable is set
    for the test and each store gets a client of its own."""
    stores: list[FirestoreStore] = []

    def build(*, host: str = firestore_host, prefix: str | None = None, timeout: float = 3.0) -> FirestoreStore:
        from google.cloud.firestore import AsyncClient

        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)
        client = AsyncClient(project=EMULATOR_PROJECT)
        store = FirestoreStore(client, prefix=unique_prefix() if prefix is None else prefix, timeout=timeout)
        stores.append(store)
        return store

    yield build
    for store in stores:
        await store.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.sqlite3")
    yield store
    await store.close()


@pytest.fixture(params=["sqlite", "firestore"])
def store(request: pytest.FixtureRequest) -> DocumentStore:
    """One fresh store per test, of each adapter (the Firestore one needs the emulator only when chosen)."""
    if request.param == "sqlite":
        sqlite: SqliteStore = request.getfixturevalue("sqlite_store")
        return sqlite
    build: FirestoreFactory = request.getfixturevalue("firestore_store")
    return build()
