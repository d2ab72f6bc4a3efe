"""One instance's board against a real SQLite store: counting, tripping, half-open probes, store faults.
Several instances sharing one store are in test_board_instances.py."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.breakers.board import BREAKERS, PROBES, BreakerBoard, BreakerView
from shared.breakers.state import BreakerRecord
from tests.breakers import FakeClock, FlakyStore, MakeBoard

ROUTE = "route:openai:gpt-4o"
OTHER_ROUTE = "route:anthropic:claude-sonnet-4-5"
CRED = "cred:openai:0123456789abcdef"


async def outcomes(board: BreakerBoard, scope: str, *, ok: int = 0, failed: int = 0) -> None:
    for _ in range(ok):
        await board.record(scope, ok=True)
    for _ in range(failed):
        await board.record(scope, ok=False, reason="overloaded")


async def stored(store: FlakyStore, scope: str) -> BreakerRecord | None:
    doc = await store.inner.get(BREAKERS, scope)
    return None if doc is None else BreakerRecord.from_doc(doc)


async def test_a_new_scope_is_closed_and_successes_cost_no_io(make_board: MakeBoard) -> None:
    board, store = make_board()
    await outcomes(board, ROUTE, ok=50)
    assert await board.admit(ROUTE) == "closed"
    assert not board.is_open(ROUTE)
    assert board.open_until(ROUTE) is None
    assert store.calls == []


async def test_trips_at_the_failure_ratio_not_below(make_board: MakeBoard, clock: FakeClock) -> None:
    board, store = make_board()
    await outcomes(board, ROUTE, ok=3, failed=2)  # 5 outcomes, 40 % failed
    assert not board.is_open(ROUTE)
    assert store.calls == []  # failures below the threshold do not touch the store either
    await outcomes(board, ROUTE, failed=1)  # 6 outcomes, 50 %
    assert board.is_open(ROUTE)
    assert board.open_until(ROUTE) == clock.now + 30.0
    record = await stored(store, ROUTE)
    assert record is not None
    assert (record.state, record.version, record.trips, record.reason) == ("open", 1, 1, "overloaded")
    assert await board.admit(ROUTE) == "open"


async def test_needs_the_minimum_volume(make_board: MakeBoard) -> None:
    board, _ = make_board()
    await outcomes(board, ROUTE, failed=4)
    assert not board.is_open(ROUTE)
    await outcomes(board, ROUTE, failed=1)
    assert board.is_open(ROUTE)


async def test_the_window_forgets_old_failures(make_board: MakeBoard, clock: FakeClock) -> None:
    board, _ = make_board()
    await outcomes(board, ROUTE, failed=4)
    clock.advance(61.0)
    await outcomes(board, ROUTE, failed=1)
    assert not board.is_open(ROUTE)
    await outcomes(board, ROUTE, failed=3)
    assert not board.is_open(ROUTE)  # 4 in the window
    await outcomes(board, ROUTE, failed=1)
    assert board.is_open(ROUTE)


async def test_a_definitive_fault_trips_at_once(make_board: MakeBoard) -> None:
    board, store = make_board()
    await board.record(CRED, ok=False, definitive=True, reason="authentication")
    assert board.is_open(CRED)
    record = await stored(store, CRED)
    assert record is not None
    assert (record.state, record.trips, record.reason) == ("open", 1, "authentication")


async def test_scopes_are_independent(make_board: MakeBoard) -> None:
    board, _ = make_board()
    await board.record(CRED, ok=False, definitive=True, reason="authentication")
    await outcomes(board, ROUTE, failed=5)
    assert board.is_open(CRED)
    assert board.is_open(ROUTE)
    assert await board.admit(OTHER_ROUTE) == "closed"
    await outcomes(board, OTHER_ROUTE, ok=10, failed=4)
    assert not board.is_open(OTHER_ROUTE)


async def test_open_period_grows_on_failed_probes_and_is_capped(make_board: MakeBoard, clock: FakeClock) -> None:
    board, store = make_board(open_max_seconds=100.0)
    await outcomes(board, ROUTE, failed=5)
    periods = []
    for _ in range(4):
        until = board.open_until(ROUTE)
        assert until is not None
        periods.append(until - clock.now)
        clock.now = until
        assert await board.admit(ROUTE) == "probe"
        await board.record(ROUTE, ok=False, probe=True, reason="timeout")
    assert periods == [30.0, 60.0, 100.0, 100.0]
    record = await stored(store, ROUTE)
    assert record is not None
    assert (record.version, record.trips, record.reason) == (5, 5, "timeout")


async def test_half_open_admits_one_probe_among_concurrent_requests(make_board: MakeBoard, clock: FakeClock) -> None:
    board, _ = make_board()
    await board.record(ROUTE, ok=False, definitive=True, reason="api_error")
    clock.advance(30.0)
    assert not board.is_open(ROUTE)  # half-open: a request may become the probe
    admissions = await asyncio.gather(*(board.admit(ROUTE) for _ in range(20)))
    assert sorted(admissions) == ["open"] * 19 + ["probe"]


async def test_a_lost_probe_is_replaced_after_the_probe_timeout(make_board: MakeBoard, clock: FakeClock) -> None:
    board, _ = make_board(probe_timeout_seconds=10.0)
    await board.record(ROUTE, ok=False, definitive=True, reason="api_error")
    clock.advance(30.0)
    assert await board.admit(ROUTE) == "probe"  # and its outcome never arrives
    clock.advance(9.9)
    assert await board.admit(ROUTE) == "open"
    clock.advance(0.1)
    assert await board.admit(ROUTE) == "probe"
    assert await board.admit(ROUTE) == "open"


async def test_a_forgone_probe_lets_another_request_probe_at_once(make_board: MakeBoard, clock: FakeClock) -> None:
    first, _ = make_board()
    second, _ = make_board()
    await first.record(ROUTE, ok=False, definitive=True, reason="api_error")
    await second.refresh()
    await second.drain()
    clock.advance(30.0)
    assert await first.admit(ROUTE) == "probe"
    await first.forgo(ROUTE)  # no request was sent after all
    assert await first.admit(ROUTE) == "probe"  # the lease is free again, in the same slot
    await first.forgo(ROUTE)
    await first.forgo(ROUTE)  # nothing held: a no-op
    assert await second.admit(ROUTE) == "probe"  # another instance takes it
    assert await first.admit(ROUTE) == "open"


async def test_probe_success_closes_and_old_failures_do_not_count_after(
    make_board: MakeBoard, clock: FakeClock
) -> None:
    board, store = make_board()
    await outcomes(board, ROUTE, failed=5)
    clock.advance(30.0)
    assert await board.admit(ROUTE) == "probe"
    (lease,) = (await store.inner.list(PROBES)).values()
    assert lease["expires_at"] == clock.time() + 86_400  # Firestore's TTL removes a lease never released
    await board.record(ROUTE, ok=True, probe=True)
    assert await board.admit(ROUTE) == "closed"
    record = await stored(store, ROUTE)
    assert record is not None
    assert (record.state, record.version, record.trips) == ("closed", 2, 1)
    assert await store.inner.list(PROBES) == {}  # the settled lease is deleted
    await outcomes(board, ROUTE, failed=1)  # the 5 failures of before the trip are still within 60 s
    assert not board.is_open(ROUTE)


async def test_a_quick_retrip_after_closing_opens_for_longer(make_board: MakeBoard, clock: FakeClock) -> None:
    board, _ = make_board()
    await board.record(CRED, ok=False, definitive=True, reason="rate_limit")
    clock.advance(30.0)
    assert await board.admit(CRED) == "probe"
    await board.record(CRED, ok=True, probe=True)
    clock.advance(10.0)
    await board.record(CRED, ok=False, definitive=True, reason="rate_limit")
    assert board.open_until(CRED) == clock.now + 60.0
    assert board.views() == [BreakerView(CRED, "open", clock.now + 60.0, 2, "rate_limit")]


async def test_probe_failure_reopens(make_board: MakeBoard, clock: FakeClock) -> None:
    board, _ = make_board()
    await board.record(ROUTE, ok=False, definitive=True, reason="api_error")
    clock.advance(30.0)
    assert await board.admit(ROUTE) == "probe"
    await board.record(ROUTE, ok=False, probe=True, reason="overloaded")
    assert board.is_open(ROUTE)
    assert board.open_until(ROUTE) == clock.now + 60.0
    assert await board.admit(ROUTE) == "open"


async def test_views(make_board: MakeBoard, clock: FakeClock) -> None:
    board, _ = make_board()
    await board.record(CRED, ok=False, definitive=True, reason="permission")
    await board.record(ROUTE, ok=False, definitive=True, reason="timeout")
    clock.advance(30.0)
    await board.record(OTHER_ROUTE, ok=False, definitive=True, reason="overloaded")
    assert board.views() == [
        BreakerView(CRED, "half_open", clock.now, 1, "permission"),
        BreakerView(OTHER_ROUTE, "open", clock.now + 30.0, 1, "overloaded"),
        BreakerView(ROUTE, "half_open", clock.now, 1, "timeout"),
    ]


async def test_store_down_a_trip_is_honoured_here_and_nothing_raises(
    make_board: MakeBoard, caplog: pytest.LogCaptureFixture
) -> None:
    board, store = make_board()
    store.down = True
    with caplog.at_level(logging.WARNING, logger="shared.breakers.board"):
        await outcomes(board, ROUTE, failed=5)
    assert board.is_open(ROUTE)
    assert "here only" in caplog.text
    store.down = False
    assert await stored(store, ROUTE) is None


async def test_store_down_the_last_mirror_is_kept(
    make_board: MakeBoard, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    writer, _ = make_board()
    board, store = make_board()
    await writer.record(ROUTE, ok=False, definitive=True, reason="overloaded")
    await board.refresh()
    await board.drain()
    assert board.is_open(ROUTE)
    store.down = True
    with caplog.at_level(logging.WARNING, logger="shared.breakers.board"):
        for _ in range(10):
            clock.advance(0.5)
            await board.refresh()
            await board.drain()
    assert board.is_open(ROUTE)
    # 10 requests in 5 s: one load per refresh period (at 2 s and 4 s), so two warnings, not ten.
    assert store.calls.count("list") == 3
    assert caplog.text.count("keeping the last mirror") == 2


async def test_store_down_in_half_open_waits_unless_the_mirror_is_stale(
    make_board: MakeBoard, clock: FakeClock
) -> None:
    board, store = make_board(probe_timeout_seconds=5.0, refresh_seconds=5.0)
    await board.refresh()
    await board.drain()
    await board.record(ROUTE, ok=False, definitive=True, reason="overloaded")
    store.down = True
    clock.advance(30.0)
    await board.refresh()
    await board.drain()
    assert await board.admit(ROUTE) == "open"  # the mirror is 30 s old (< 10 refresh periods): wait
    clock.advance(25.0)
    assert await board.admit(ROUTE) == "probe"  # 55 s: the store is gone for good, probe on our own
    assert await board.admit(ROUTE) == "open"  # but only one per slot
    await board.record(ROUTE, ok=True, probe=True)
    assert await board.admit(ROUTE) == "closed"


async def test_malformed_documents_are_ignored(make_board: MakeBoard) -> None:
    board, store = make_board()
    await store.inner.set(BREAKERS, ROUTE, {"scope": ROUTE, "state": "ajar", "version": 1})
    await store.inner.set(BREAKERS, "elsewhere", {**_open_doc(CRED), "scope": CRED})
    await board.refresh()
    await board.drain()
    assert board.views() == []


def _open_doc(scope: str) -> dict[str, object]:
    return {
        "scope": scope,
        "state": "open",
        "version": 1,
        "open_until": 0.0,
        "trips": 1,
        "reason": "",
        "updated_at": 0.0,
    }
