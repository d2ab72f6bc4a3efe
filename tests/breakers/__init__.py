"""Tests of shared.breakers, and the helpers they share: `FakeClock` (wall and monotonic time, driven by
hand) and `FlakyStore` (a document store wrapper that can go down, hold `list` until a gate opens, and
counts the calls that reach it); `MakeBoard` is the type of the `make_board` fixture."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

from shared.breakers.board import BreakerBoard
from shared.store.port import Document, DocumentStore, StoreUnavailable
from tests.fakes import FakeClock

__all__ = ["FakeClock", "FlakyStore", "MakeBoard"]


class FlakyStore:
    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner
        self.down = False
        self.gate: asyncio.Event | None = None  # when set, list() waits for it
        self.calls: list[str] = []

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise StoreUnavailable("store is down (test)")

    async def get(self, collection: str, doc_id: str) -> Document | None:
        self._enter("get")
        return await self.inner.get(collection, doc_id)

    async def list(self, collection: str) -> dict[str, Document]:
        self._enter("list")
        if self.gate is not None:
            await self.gate.wait()
        return await self.inner.list(collection)

    async def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        self._enter("set")
        await self.inner.set(collection, doc_id, doc)

    async def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> bool:
        self._enter("create")
        return await self.inner.create(collection, doc_id, doc)

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
    ) -> bool:
        self._enter("put_if_newer")
        return await self.inner.put_if_newer(collection, doc_id, doc, must_exist=must_exist)

    async def delete(self, collection: str, doc_id: str) -> None:
        self._enter("delete")
        await self.inner.delete(collection, doc_id)

    async def close(self) -> None:
        await self.inner.close()


class MakeBoard(Protocol):
    """A new board ("instance") with its own connection to the test's SQLite file, and that connection."""

    def __call__(self, **policy: Any) -> tuple[BreakerBoard, FlakyStore]: ...
