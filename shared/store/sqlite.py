"""The embedded document store: one SQLite file, shared by every gateway process on the machine.

WAL mode lets readers proceed while one process writes; `busy_timeout` makes a writer wait for the lock
instead of failing. Conditional writes are single SQL statements, so SQLite's own write lock makes
them atomic across processes: `INSERT ... ON CONFLICT DO NOTHING` (create-if-absent) and
`INSERT ... ON CONFLICT DO UPDATE ... WHERE excluded.version > docs.version` (monotonic writes).
Calls run in a worker thread (sqlite3 blocks); one connection per store, serialized by a lock.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import orjson

from shared.store.port import Document, StoreUnavailable

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    doc BLOB NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID
"""


def _version(doc: Mapping[str, Any]) -> int:
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError("put_if_newer needs an integer 'version' in the document")
    return version


class SqliteStore:
    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self._path, timeout=5.0, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout = 5000")
        if self._path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute(_SCHEMA)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def locked() -> T:
            with self._lock:
                return work(self._conn)

        try:
            return await asyncio.to_thread(locked)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"sqlite store {self._path}: {error}") from error

    async def get(self, collection: str, doc_id: str) -> Document | None:
        def work(conn: sqlite3.Connection) -> Document | None:
            row = conn.execute("SELECT doc FROM docs WHERE collection = ? AND id = ?", (collection, doc_id)).fetchone()
            return None if row is None else dict(orjson.loads(row[0]))

        return await self._run(work)

    async def list(self, collection: str) -> dict[str, Document]:
        def work(conn: sqlite3.Connection) -> dict[str, Document]:
            rows = conn.execute("SELECT id, doc FROM docs WHERE collection = ?", (collection,)).fetchall()
            return {row[0]: dict(orjson.loads(row[1])) for row in rows}

        return await self._run(work)

    async def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        data = orjson.dumps(dict(doc))
        version = doc.get("version") if isinstance(doc.get("version"), int) else 0

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO docs (collection, id, version, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (collection, id) DO UPDATE SET version = excluded.version, doc = excluded.doc",
                (collection, doc_id, version, data),
            )

        await self._run(work)

    async def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> bool:
        data = orjson.dumps(dict(doc))
        version = doc.get("version") if isinstance(doc.get("version"), int) else 0

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT INTO docs (collection, id, version, doc) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (collection, doc_id, version, data),
            )
            return cursor.rowcount == 1

        return await self._run(work)

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
    ) -> bool:
        version = _version(doc)
        data = orjson.dumps(dict(doc))

        def work(conn: sqlite3.Connection) -> bool:
            if must_exist:
                cursor = conn.execute(
                    "UPDATE docs SET version = ?, doc = ? WHERE collection = ? AND id = ? AND version < ?",
                    (version, data, collection, doc_id, version),
                )
            else:
                cursor = conn.execute(
                    "INSERT INTO docs (collection, id, version, doc) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (collection, id) DO UPDATE SET version = excluded.version, doc = excluded.doc "
                    "WHERE excluded.version > docs.version",
                    (collection, doc_id, version, data),
                )
            return cursor.rowcount == 1

        return await self._run(work)

    async def delete(self, collection: str, doc_id: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM docs WHERE collection = ? AND id = ?", (collection, doc_id))

        await self._run(work)

    async def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"
