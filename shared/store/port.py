"""The document store port: small JSON documents in named collections, shared by every instance.

Used for circuit breakers (and later key metadata and gateway keys). Two adapters: SQLite (the embedded
default, one file shared by the processes of one machine) and Firestore (the cloud). A contract test
suite runs the same tests against both (`tests/store/`).

Documents are JSON-compatible mappings (str keys; str, int, float, bool, None, lists, nested mappings).
One field name is special: a top-level `expires_at` (`EXPIRES_AT`) holding epoch seconds is the moment the
document may be deleted. Firestore stores it as a timestamp, which its TTL policy (Terraform) acts on;
every adapter reads it back as the same number. Nothing relies on the deletion happening.
The two conditional writes are what concurrent instances need to agree without a lock:
- `create` is create-if-absent: exactly one of several concurrent creators gets True (leases, probes);
- `put_if_newer` writes only when the stored document is absent or has a smaller integer `version`,
  so a late or repeated write can never move state backwards (monotonic transitions); with
  `must_exist=True` an absent document is not written either (an update must not resurrect a delete).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["EXPIRES_AT", "Document", "DocumentStore", "StoreUnavailable"]

Document = dict[str, Any]
EXPIRES_AT = "expires_at"


class StoreUnavailable(Exception):
    """The store could not be reached or answered with an error; callers keep their last mirror."""


class DocumentStore(Protocol):
    async def get(self, collection: str, doc_id: str) -> Document | None:
        """The document, or None when absent."""
        ...

    async def list(self, collection: str) -> dict[str, Document]:
        """Every document of the collection, by id."""
        ...

    async def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        """Create or replace unconditionally."""
        ...

    async def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> bool:
        """Create only if absent. True: this call created it; False: it already existed."""
        ...

    async def put_if_newer(
        self, collection: str, doc_id: str, doc: Mapping[str, Any], *, must_exist: bool = False
    ) -> bool:
        """Write `doc` (which must hold an int `version`) when the stored one is absent (unless
        `must_exist`) or older. True when written; False otherwise (nothing changed)."""
        ...

    async def delete(self, collection: str, doc_id: str) -> None:
        """Remove the document; absent is fine."""
        ...

    async def close(self) -> None: ...
