"""The embedded rollup writer: the daily rollups in a DuckDB file of their own, over the local event segments.

The rollup tables live in `GATEWAY_DATA_DIR/analytics/rollups.duckdb` (`rollups_path`); the events stay
a view over the segment files (shared.analytics.duckdb_adapter.events_view). DuckDB allows one process to
open a file for writing and then no other process may open it at all, so the writer never writes the live
file: under an exclusive lock (`rollups.lock`, one writer at a time, the next one waits) it copies the file
(when there is one) to a private work file, rolls the days there (shared.analytics.rollup: the same
statements BigQuery runs, translated), checkpoints, closes, and renames the work file over the live one.
Readers attach the live file READ_ONLY per query; one that opened the previous file keeps reading it, and
the next one sees the new file whole: never a day half-rolled. A failure leaves the live file as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb

from shared.analytics.duckdb_adapter import events_view, naive_utc
from shared.analytics.port import AnalyticsUnavailable
from shared.analytics.rollup import ROLLED_DAY, ROLLUP_MARK, ROLLUP_ROWS, RolledDay, day_window
from shared.analytics.rollup_tables import ROLLUP_TABLES, duckdb_ddl
from shared.analytics.translate import DuckDbQuery, to_duckdb

__all__ = ["DuckDbRollups", "rollups_path"]


def rollups_path(data_dir: Path) -> Path:
    """The embedded rollup database of a data dir."""
    return Path(data_dir) / "analytics" / "rollups.duckdb"


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


class DuckDbRollups:
    """`RollupPort` over the segments in `events` (the events directory), writing the database `database`."""

    def __init__(self, events: Path, database: Path) -> None:
        self._events = Path(events)
        self._database = Path(database)
        self._statements: tuple[DuckDbQuery, ...] = tuple(to_duckdb(sql) for sql in (ROLLUP_ROWS, ROLLUP_MARK))
        self._rolled = to_duckdb(ROLLED_DAY)

    def roll(self, days: Sequence[date], rolled_at: datetime) -> list[RolledDay]:
        try:
            self._database.parent.mkdir(parents=True, exist_ok=True)
            with _exclusive(self._database.with_name(self._database.name + ".lock")):
                return self._roll_locked(days, rolled_at)
        except (duckdb.Error, OSError) as exc:
            raise AnalyticsUnavailable(f"rolling up usage events into {self._database} failed: {exc}") from exc

    def _roll_locked(self, days: Sequence[date], rolled_at: datetime) -> list[RolledDay]:
        work = self._database.with_name(f".{self._database.name}.{os.getpid()}.tmp")
        work.unlink(missing_ok=True)  # a crashed writer's leftover (the lock makes it ours)
        try:
            if self._database.exists():
                shutil.copyfile(self._database, work)
            with duckdb.connect(str(work)) as connection:
                for table in ROLLUP_TABLES:
                    connection.execute(duckdb_ddl(table))
                connection.execute(events_view(self._events))
                rolled = [self._roll_day(connection, day, rolled_at) for day in days]
                connection.execute("CHECKPOINT")
            os.replace(work, self._database)
            return rolled
        finally:
            work.unlink(missing_ok=True)
            Path(f"{work}.wal").unlink(missing_ok=True)

    def _roll_day(self, connection: duckdb.DuckDBPyConnection, day: date, rolled_at: datetime) -> RolledDay:
        since, until = day_window(day)
        values = {"day": day, "since": naive_utc(since), "until": naive_utc(until), "rolled_at": naive_utc(rolled_at)}
        for statement in self._statements:
            connection.execute(statement.sql, {k: v for k, v in values.items() if k in statement.parameters})
        row = connection.execute(self._rolled.sql, {"day": day}).fetchone()
        if row is None:
            raise AnalyticsUnavailable(f"the rollup of {day} left no marker")
        return RolledDay(day=day, events=int(row[2]), rolled_at=rolled_at)
