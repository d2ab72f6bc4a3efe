"""A gateway instance in an OS process of its own, for the multi-process test in test_board_instances.py.

`python -m tests.breakers.prober DB SCOPE N`: opens the SQLite store at DB, loads a board's mirror, prints
"ready", waits for a line on stdin (so every process races at once), then calls `admit(SCOPE)` N times
concurrently and prints the admissions as a JSON list.
"""

from __future__ import annotations

import asyncio
import json
import sys

from shared.breakers.board import BreakerBoard
from shared.breakers.policy import BreakerPolicy
from shared.clock import SystemClock
from shared.store.sqlite import SqliteStore


async def main(path: str, scope: str, attempts: int) -> None:
    store = SqliteStore(path)
    board = BreakerBoard(store, BreakerPolicy(), SystemClock())
    await board.refresh()
    await board.drain()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    admissions = await asyncio.gather(*(board.admit(scope) for _ in range(attempts)))
    print(json.dumps(admissions), flush=True)
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
