"""SQLite-only behaviour: several stores (processes) on one file agree, since the conditional writes are
single statements under SQLite's write lock. These are the concurrency proofs the Firestore emulator
cannot give (it does not isolate transactions)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from shared.store import SqliteStore, StoreUnavailable

REPO = Path(__file__).resolve().parents[2]

# One racing process: opens the store, waits for "go" on stdin, creates 20 ids in turn, prints who won.
_RACER = """
import asyncio, json, sys
from shared.store.sqlite import SqliteStore

async def main() -> None:
    store = SqliteStore(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    won = [await store.create("leases", f"probe-{i}", {"owner": sys.argv[2]}) for i in range(int(sys.argv[3]))]
    await store.close()
    print(json.dumps(won), flush=True)

asyncio.run(main())
"""


@pytest.fixture
async def two_stores(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    """Two stores on one file, each with its own connection: two processes as far as SQLite can tell."""
    first, second = SqliteStore(tmp_path / "shared.sqlite3"), SqliteStore(tmp_path / "shared.sqlite3")
    yield first, second
    await first.close()
    await second.close()


async def test_two_stores_on_one_file_see_each_others_writes(two_stores: tuple[SqliteStore, SqliteStore]) -> None:
    first, second = two_stores
    await first.set("breakers", "a", {"state": "open"})
    assert await second.get("breakers", "a") == {"state": "open"}
    await second.delete("breakers", "a")
    assert await first.get("breakers", "a") is None
    assert await second.create("leases", "probe", {"owner": "second"}) is True
    assert await first.create("leases", "probe", {"owner": "first"}) is False


async def test_concurrent_put_if_newer_with_one_version_has_one_winner(
    two_stores: tuple[SqliteStore, SqliteStore],
) -> None:
    first, second = two_stores
    for version in range(1, 21):
        results = await asyncio.gather(
            first.put_if_newer("breakers", "a", {"version": version, "by": "first"}),
            second.put_if_newer("breakers", "a", {"version": version, "by": "second"}),
        )
        assert sorted(results) == [False, True], version
        stored = await first.get("breakers", "a")
        assert stored == {"version": version, "by": "first" if results[0] else "second"}


def test_two_processes_racing_create_have_one_winner_per_id(tmp_path: Path) -> None:
    rounds = 20
    path = tmp_path / "race.sqlite3"
    asyncio.run(SqliteStore(path).close())  # schema and WAL mode in place before the race
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(path), owner, str(rounds)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for owner in ("a", "b")
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline().strip() == "ready"
        for racer in racers:
            assert racer.stdin is not None
            racer.stdin.write("go\n")
            racer.stdin.flush()
        outputs = [racer.communicate(timeout=60) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    assert [racer.returncode for racer in racers] == [0, 0], [err for _, err in outputs]
    won_a, won_b = (json.loads(out) for out, _ in outputs)
    assert [a + b for a, b in zip(won_a, won_b, strict=True)] == [1] * rounds
    owners = {row[0]: json.loads(row[1])["owner"] for row in _rows(path)}
    assert owners == {f"probe-{i}": "a" if won_a[i] else "b" for i in range(rounds)}


def _rows(path: Path) -> list[tuple[str, bytes]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT id, doc FROM docs WHERE collection = 'leases'").fetchall()


async def test_an_unusable_file_raises_store_unavailable(tmp_path: Path) -> None:
    """Another process broke the file (here: dropped the table): every call says StoreUnavailable."""
    path = tmp_path / "broken.sqlite3"
    store = SqliteStore(path)
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE docs")
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.get("breakers", "a"),
        lambda: store.list("breakers"),
        lambda: store.set("breakers", "a", {"n": 1}),
        lambda: store.create("breakers", "a", {"n": 1}),
        lambda: store.put_if_newer("breakers", "a", {"version": 1}),
        lambda: store.delete("breakers", "a"),
    ]
    try:
        for call in calls:
            with pytest.raises(StoreUnavailable, match="no such table"):
                await call()
    finally:
        await store.close()
