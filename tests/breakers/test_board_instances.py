"""Several gateway instances sharing breakers through one SQLite file: boards with their own connections in
one process, and boards in separate OS processes."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from shared.breakers.board import BREAKERS, PROBES, BreakerBoard, BreakerView
from shared.breakers.state import BreakerRecord
from shared.store.sqlite import SqliteStore
from tests.breakers import FakeClock, FlakyStore, MakeBoard

ROUTE = "route:openai:gpt-4o"
REPO = Path(__file__).resolve().parents[2]


async def loaded(board: BreakerBoard) -> None:
    await board.refresh()
    await board.drain()


async def stored(store: FlakyStore, scope: str) -> BreakerRecord | None:
    doc = await store.inner.get(BREAKERS, scope)
    return None if doc is None else BreakerRecord.from_doc(doc)


async def test_a_trip_is_seen_by_another_instance_at_its_next_refresh(make_board: MakeBoard, clock: FakeClock) -> None:
    a, _ = make_board()
    b, b_store = make_board()
    await loaded(b)  # never loaded: loads at once
    await a.record(ROUTE, ok=False, definitive=True, reason="overloaded")
    clock.advance(1.9)
    await loaded(b)
    assert not b.is_open(ROUTE)  # its mirror is younger than refresh_seconds: no load, no round trip
    assert b_store.calls == ["list"]
    clock.advance(0.1)
    await loaded(b)
    assert b.is_open(ROUTE)
    assert b.views() == a.views()


async def test_instances_tripping_at_once_make_one_transition(make_board: MakeBoard) -> None:
    a, a_store = make_board()
    b, b_store = make_board()
    for board in (a, b):
        for _ in range(4):
            await board.record(ROUTE, ok=False, reason="overloaded")
    await asyncio.gather(a.record(ROUTE, ok=False, reason="timeout"), b.record(ROUTE, ok=False, reason="api_error"))
    record = await stored(a_store, ROUTE)
    assert record is not None
    assert (record.version, record.trips) == (1, 1)
    assert record.reason in ("timeout", "api_error")
    # The loser re-read the winner's record: both mirrors agree with the store.
    expected = [BreakerView(ROUTE, "open", record.open_until, 1, record.reason)]
    assert a.views() == b.views() == expected
    assert a_store.calls.count("put_if_newer") == b_store.calls.count("put_if_newer") == 1
    assert a_store.calls.count("get") + b_store.calls.count("get") == 1


async def test_only_one_instance_probes(make_board: MakeBoard, clock: FakeClock) -> None:
    boards = [make_board()[0] for _ in range(5)]
    await boards[0].record(ROUTE, ok=False, definitive=True, reason="overloaded")
    clock.advance(30.0)
    for board in boards[1:]:
        await loaded(board)
    admissions = await asyncio.gather(*(board.admit(ROUTE) for board in boards for _ in range(5)))
    assert sorted(admissions) == ["open"] * 24 + ["probe"]


@pytest.mark.parametrize(("probe_ok", "seen"), [(True, "closed"), (False, "open")])
async def test_a_stale_mirror_cannot_probe_a_breaker_that_moved_on(
    make_board: MakeBoard, clock: FakeClock, probe_ok: bool, seen: str
) -> None:
    a, a_store = make_board()
    b, _ = make_board()
    await a.record(ROUTE, ok=False, definitive=True, reason="overloaded")
    await loaded(b)
    clock.advance(30.0)
    assert await a.admit(ROUTE) == "probe"
    await a.record(ROUTE, ok=probe_ok, probe=True, reason="timeout")
    assert await a_store.inner.list(PROBES) == {}  # the settled lease is gone, so b can create it again
    # b still sees version 1 half-open; its lease succeeds, but the re-read shows version 2.
    assert await b.admit(ROUTE) == seen
    assert b.views() == a.views()


async def test_the_probe_outcome_reaches_the_other_instances(make_board: MakeBoard, clock: FakeClock) -> None:
    a, _ = make_board()
    b, _ = make_board()
    await a.record(ROUTE, ok=False, definitive=True, reason="overloaded")
    await loaded(b)
    clock.advance(30.0)
    assert await b.admit(ROUTE) == "probe"
    await b.record(ROUTE, ok=True, probe=True)
    await loaded(a)
    assert await a.admit(ROUTE) == "closed"


async def test_refresh_waits_at_most_max_wait_and_the_load_lands_later(make_board: MakeBoard) -> None:
    a, _ = make_board()
    b, b_store = make_board()
    await a.record(ROUTE, ok=False, definitive=True, reason="overloaded")
    b_store.gate = asyncio.Event()
    # Returns although the load cannot finish (the outer timeout only guards against a hang).
    await asyncio.wait_for(b.refresh(), timeout=30.0)
    assert not b.is_open(ROUTE)
    await asyncio.wait_for(b.refresh(), timeout=30.0)
    assert b_store.calls == ["list"]  # the load in flight is reused, not repeated
    b_store.gate.set()
    await b.drain()
    assert b.is_open(ROUTE)  # the load was not cancelled by the timeout


async def test_one_probe_across_os_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    store = SqliteStore(path)
    now = time.time()
    record = BreakerRecord(ROUTE, "open", 1, now - 1.0, 1, "overloaded", now - 31.0)
    assert await store.put_if_newer(BREAKERS, ROUTE, record.to_doc())
    await store.close()
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.breakers.prober",
            str(path),
            ROUTE,
            "10",
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), timeout=60.0) == b"ready\n"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        admissions: list[str] = []
        for process in processes:
            out, _ = await asyncio.wait_for(process.communicate(), timeout=60.0)
            assert process.returncode == 0
            admissions += json.loads(out)
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert sorted(admissions) == ["open"] * 39 + ["probe"]
