"""The cloud document store: Firestore through `google.cloud.firestore.AsyncClient`.

Each port collection is the Firestore collection `prefix + collection` (tests isolate runs with a unique
prefix). `google.cloud` is imported only when a store is built here, never when `shared.store` is
imported (hot-path rule: Google Cloud clients imported lazily). With `FIRESTORE_EMULATOR_HOST` set, the
Google client itself talks to the emulator, with anonymous credentials and, when no project is given,
`GOOGLE_CLOUD_PROJECT` or its own emulator project id.

Every call is bounded by `timeout` (default 3 s): a Firestore outage must cost a caller a short wait and
a `StoreUnavailable`, after which it keeps its last mirror. The client's own defaults (60 s deadlines,
with retries on UNAVAILABLE) would hold a request for a minute. Idempotent calls (get, list, set,
delete) retry transient errors within the bound; `create` does not (a retried create whose first
attempt landed would report a conflict).

Firestore cannot hold an array directly inside an array, although SQLite and the emulator can: such a
document is refused here with ValueError, so a test fails the way production would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from shared.store.port import EXPIRES_AT, Document, StoreUnavailable

if TYPE_CHECKING:
    from google.cloud.firestore import AsyncClient, AsyncDocumentReference, AsyncTransaction

__all__ = ["FirestoreStore"]

T = TypeVar("T")

_DEFAULT_PREFIX = "gateway_"
_DEFAULT_TIMEOUT = 3.0
# Firestore's optimistic transactions retry on contention (Aborted); a handful is plenty for one document.
_TRANSACTION_ATTEMPTS = 5


def _check_id(kind: str, name: str) -> None:
    """Firestore paths are slash-separated, so '/' would address another collection; '.' and '..' are
    reserved ids. ':' and '.' inside a name are fine."""
    if not name or "/" in name or name in {".", ".."}:
        raise ValueError(f"invalid {kind} {name!r}: must be non-empty, without '/', and not '.' or '..'")


def _check_value(value: Any, *, in_array: bool = False) -> None:
    if isinstance(value, list | tuple):
        if in_array:
            raise ValueError("Firestore cannot store an array directly inside an array")
        for item in value:
            _check_value(item, in_array=True)
    elif isinstance(value, Mapping):
        for item in value.values():
            _check_value(item)


def _outgoing(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document as Firestore keeps it: `expires_at` epoch seconds as a UTC timestamp (the TTL field)."""
    data = dict(doc)
    _check_value(data)
    expires = data.get(EXPIRES_AT)
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        data[EXPIRES_AT] = datetime.fromtimestamp(expires, UTC)
    return data


def _incoming(data: dict[str, Any] | None) -> Document:
    """A stored document as the port returns it: `expires_at` back to epoch seconds."""
    doc = dict(data or {})
    expires = doc.get(EXPIRES_AT)
    if isinstance(expires, datetime):
        doc[EXPIRES_AT] = expires.timestamp()
    return doc


def _version(doc: Mapping[str, Any]) -> int:
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValueError("put_if_newer needs an integer 'version' in the document")
    return version


class FirestoreStore:
    """`DocumentStore` on Firestore. Owns its client: `close` closes the client's channel, given or built."""

    def __init__(
        self,
        client: AsyncClient | None = None,
        *,
        project: str | None = None,
        database: str = "(default)",
        prefix: str = _DEFAULT_PREFIX,
        timeout: float = _DEFAULT_TIMEOUT,
    ) -> None:
        from google.api_core.exceptions import GoogleAPIError
        from google.api_core.retry import AsyncRetry, if_transient_error
        from google.auth.exceptions import GoogleAuthError

        if client is None:
            from google.cloud.firestore import AsyncClient

            client = AsyncClient(project=project, database=database)
        self._client = client
        self._prefix = prefix
        self._timeout = timeout
        # Transient errors (UNAVAILABLE, ...) are retried briefly, never past the call's own bound.
        self._retry = AsyncRetry(predicate=if_transient_error, initial=0.05, maximum=0.5, timeout=timeout)
        self._unavailable = (GoogleAPIError, GoogleAuthError, TimeoutError)

    def _document(self, collection: str, doc_id: str) -> AsyncDocumentReference:
        _check_id("collection", collection)
        _check_id("document id", doc_id)
        return self._client.collection(self._prefix + collection).document(doc_id)

    async def _call(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run one store operation within `timeout`, mapping Google and timeout errors to StoreUnavailable.

        The operation runs in its own task that is abandoned (cancelled) at the deadline rather than
        awaited: when cancelled, the client's transaction wrapper awaits a rollback with the client's
        default 60 s deadline, which must not hold the caller."""
        task = asyncio.ensure_future(work())
        try:
            done, _ = await asyncio.wait({task}, timeout=self._timeout)
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(_consume)
        if not done:
            raise StoreUnavailable(f"firestore: no answer within {self._timeout} s")
        try:
            return task.result()
        except self._unavailable as error:
            raise StoreUnavailable(f"firestore: {type(error).__name__}: {error}") from error

    async def get(self, collection: str, doc_id: str) -> Document | None:
        ref = self._document(collection, doc_id)

        async def work() -> Document | None:
            snapshot = await ref.get(retry=self._retry, timeout=self._timeout)
            return _incoming(snapshot.to_dict()) if snapshot.exists else None

        return await self._call(work)

    async def list(self, collection: str) -> dict[str, Document]:
        _check_id("collection", collection)
        ref = self._client.collection(self._prefix + collection)

        async def work() -> dict[str, Document]:
            snapshots = await ref.get(retry=self._retry, timeout=self._timeout)
            return {snapshot.id: _incoming(snapshot.to_dict()) for snapshot in snapshots}

        return await self._call(work)

    async def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        ref = self._document(collection, doc_id)
        data = _outgoing(doc)

        async def work() -> None:
            await ref.set(data, retry=self._retry, timeout=self._timeout)

        await self._call(work)

    async def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> bool:
        from google.api_core.exceptions import AlreadyExists

        ref = self._document(collection, doc_id)
        data = _outgoing(doc)

        async def work() -> bool:
            try:
                await ref.create(data, retry=None, timeout=self._timeout)
            except AlreadyExists:
                return False
            return True

        return await self._call(work)

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
    ) -> bool:
        """Read, compare the integer `version`, write: in one Firestore transaction.

        Production relies on Firestore's optimistic transactions: a concurrent write to the document
        between the read and the commit aborts the commit, and the client re-runs the read and compare.
        The emulator does not isolate transactions (emulators.md, Firestore), so concurrent
        `put_if_newer` calls are only proven on SQLite; against the emulator this is tested one at a time.
        """
        from google.api_core.exceptions import Aborted
        from google.cloud.firestore import async_transactional

        version = _version(doc)
        ref = self._document(collection, doc_id)
        data = _outgoing(doc)

        @async_transactional
        async def compare_and_write(transaction: AsyncTransaction) -> bool:
            snapshot = await ref.get(transaction=transaction, timeout=self._timeout)
            if not snapshot.exists and must_exist:
                return False
            if snapshot.exists:
                # As in SQLite, a stored document without an integer version counts as version 0.
                stored = (snapshot.to_dict() or {}).get("version")
                if version <= (stored if isinstance(stored, int) else 0):
                    return False
            transaction.set(ref, data)
            return True

        async def work() -> bool:
            try:
                return await compare_and_write(self._client.transaction(max_attempts=_TRANSACTION_ATTEMPTS))
            except ValueError as error:
                # The client reports "contention outlasted max_attempts" as ValueError from Aborted.
                if isinstance(error.__cause__, Aborted):
                    raise StoreUnavailable(f"firestore: transaction contention on {doc_id!r}") from error
                raise

        return await self._call(work)

    async def delete(self, collection: str, doc_id: str) -> None:
        ref = self._document(collection, doc_id)

        async def work() -> None:
            await ref.delete(retry=self._retry, timeout=self._timeout)

        await self._call(work)

    async def close(self) -> None:
        # AsyncClient has no close(); its GAPIC client (built on first use) owns the gRPC channel.
        api = getattr(self._client, "_firestore_api_internal", None)
        if api is not None:
            await api.transport.close()

    def __repr__(self) -> str:
        return f"FirestoreStore(project={self._client.project!r}, prefix={self._prefix!r})"


def _consume(task: asyncio.Task[Any]) -> None:
    """Retrieve an abandoned task's outcome so asyncio does not log it as never retrieved."""
    with contextlib.suppress(BaseException):
        task.exception()
