"""Fixtures for the breaker tests: a fake clock, and a factory of boards ("instances"), each with its own
connection to one real SQLite file, drained and closed afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.breakers.board import BreakerBoard
from shared.breakers.policy import BreakerPolicy
from shared.store.sqlite import SqliteStore
from tests.breakers import FakeClock, FlakyStore, MakeBoard


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=1_800_000_000.0, mono=500.0)  # wall and monotonic apart, as on a real machine


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite"


@pytest.fixture
async def make_board(clock: FakeClock, db_path: Path) -> AsyncIterator[MakeBoard]:
    boards: list[BreakerBoard] = []
    stores: list[FlakyStore] = []

    def make(**policy: Any) -> tuple[BreakerBoard, FlakyStore]:
        store = FlakyStore(SqliteStore(db_path))
        stores.append(store)
        board = BreakerBoard(store, BreakerPolicy(**policy), clock, instance_id=f"test-{len(boards)}")
        boards.append(board)
        return board, store

    yield make
    for store in stores:
        if store.gate is not None:
            store.gate.set()
    for board in boards:
        await board.drain()
    for store in stores:
        await store.close()
