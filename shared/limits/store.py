"""Usage limits on the document store, and the per-instance cache the hot path reads them from.

`LimitsStore`: collection "limits", one document per scope (`LimitScope.doc_id`: `tenant|<t>`,
`user|<t>|<u>`, `key|<t>|<k>`), holding the scope, its four limits (budgets in micro-USD), a `version`
and who changed it when. An update reads, merges and writes with `put_if_newer` at version + 1: of two
concurrent updates one wins and the other re-reads and merges on top of it, so no change is lost and a
late write never moves a scope backwards. Removing every limit keeps the document (all limits null)
rather than deleting it, so versions only grow.

`LimitsCache`: every request needs its identity's limits, so each instance keeps what the store said
about each scope, found or absent, for `refresh_seconds` (5 s by default):
- fresh: `applicable` answers from memory, no await on the store;
- stale or unknown: the scopes to refresh are read together (one concurrent `get` per scope, at most
  three), then answered from memory; concurrent callers share the reads, and while a known scope is
  being re-read the others answer with what is held (only the caller that started the read waits);
- a change made elsewhere is therefore in force on every instance within `refresh_seconds` (plus one
  store read); made through this instance (`remember`), at once here;
- the store down: a scope read before keeps its last known limits (retried every `retry_seconds`, so a
  dead store costs one failed read per scope per retry interval, not one per request); a scope never
  read cannot be answered and a 503 `GatewayError` (`limits_unavailable`) is raised, as the key ring
  does for keys: the gateway never guesses "unlimited" for a caller it knows nothing about. A damaged
  document is logged and treated the same way;
- a read older than what the cache holds (a lower version) never replaces it; a document deleted by hand
  reads as "no limits" at the next refresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.clock import Clock
from shared.errors import GatewayError, RequestError
from shared.identity import Identity
from shared.limits.config import LimitRecord, Limits, LimitScope, scopes_for
from shared.store.port import DocumentStore, StoreUnavailable

__all__ = [
    "DEFAULT_REFRESH_SECONDS",
    "LIMITS_COLLECTION",
    "UNAVAILABLE_MESSAGE",
    "LimitsCache",
    "LimitsStore",
    "limits_conflict",
    "limits_unavailable",
]

LIMITS_COLLECTION = "limits"
DEFAULT_REFRESH_SECONDS = 5.0
DEFAULT_RETRY_SECONDS = 1.0
_UPDATE_ATTEMPTS = 8

_log = logging.getLogger(__name__)


# Plain GatewayError / RequestError instances rather than classes of their own: their envelopes (503
# api_error, 409 invalid_request) are the existing ones the README's error table lists.
UNAVAILABLE_MESSAGE = "limits store unavailable: the gateway cannot check this caller's limits; retry shortly"


def limits_unavailable() -> GatewayError:
    """The limits of a scope this instance never read could not be read: 503, the caller may retry."""
    return GatewayError(UNAVAILABLE_MESSAGE, status=503)


def limits_conflict() -> RequestError:
    """An update lost the race `_UPDATE_ATTEMPTS` times in a row: 409, the caller may retry."""
    return RequestError("the limits of this scope are being changed concurrently: try again", field="scope", status=409)


def _now(clock: Clock) -> str:
    return datetime.fromtimestamp(clock.time(), UTC).isoformat(timespec="seconds")


class LimitsStore:
    """Limit records on a `DocumentStore`, one document per scope."""

    def __init__(self, store: DocumentStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def get(self, scope: LimitScope) -> LimitRecord | None:
        """The scope's record, or None when no limit was ever set on it."""
        doc = await self._store.get(LIMITS_COLLECTION, scope.doc_id)
        return None if doc is None else LimitRecord.from_document(doc)

    async def get_many(self, scopes: Sequence[LimitScope]) -> list[LimitRecord | None]:
        """The records of several scopes, read concurrently (one round trip of latency), in order."""
        return list(await asyncio.gather(*(self.get(scope) for scope in scopes)))

    async def update(
        self, scope: LimitScope, change: Limits, *, actor: str | None
    ) -> tuple[LimitRecord | None, LimitRecord]:
        """Apply `change` (its sent fields; nulls remove) to the scope's limits. Returns the record before
        (None when there was none) and after. Raises a 409 `RequestError` if other writers kept winning."""
        for _ in range(_UPDATE_ATTEMPTS):
            before = await self.get(scope)
            after = LimitRecord(
                scope=scope,
                limits=(Limits() if before is None else before.limits).merged(change),
                version=1 if before is None else before.version + 1,
                updated_at=_now(self._clock),
                updated_by=actor,
            )
            if await self._store.put_if_newer(LIMITS_COLLECTION, scope.doc_id, after.document()):
                return before, after
        raise limits_conflict()

    def __repr__(self) -> str:
        return f"LimitsStore({self._store!r})"


@dataclass(frozen=True, slots=True)
class _Entry:
    record: LimitRecord | None
    fresh_until: float  # clock.monotonic()
    binds: LimitRecord | None  # the record when it holds at least one limit


def _entry(record: LimitRecord | None, fresh_until: float) -> _Entry:
    return _Entry(record, fresh_until, None if record is None or record.limits.empty else record)


class LimitsCache:
    """The hot path's view of the limits: `applicable(identity)` (see the module docstring)."""

    def __init__(
        self,
        store: LimitsStore,
        *,
        clock: Clock,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        max_entries: int = 100_000,
    ) -> None:
        if refresh_seconds <= 0 or retry_seconds <= 0 or max_entries < 3:
            raise ValueError("the limits cache needs positive intervals and room for one identity's scopes")
        self.store = store
        self._clock = clock
        self._refresh = refresh_seconds
        self._retry = retry_seconds
        self._max = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._reads: dict[str, asyncio.Task[None]] = {}
        self._identities: dict[tuple[str, str | None, str], tuple[tuple[LimitScope, ...], tuple[str, ...]]] = {}

    async def applicable(self, identity: Identity) -> tuple[LimitRecord, ...]:
        """The records that bind `identity` (tenant, user, key: those with at least one limit), each to be
        enforced on its own. Empty: unlimited. From memory when fresh; raises a 503 `GatewayError` when
        a scope was never read and the store cannot be reached."""
        scopes, doc_ids = self._scopes_of(identity)
        now = self._clock.monotonic()
        binding: list[LimitRecord] = []
        for doc_id in doc_ids:
            entry = self._entries.get(doc_id)
            if entry is None or entry.fresh_until <= now:
                break
            if entry.binds is not None:
                binding.append(entry.binds)
        else:
            return tuple(binding)  # the hot path: a few dict lookups, no await on the store
        return tuple(r for r in await self.records(scopes) if r is not None and not r.limits.empty)

    async def records(self, scopes: Sequence[LimitScope]) -> list[LimitRecord | None]:
        """Each scope's record (None: never set), through the cache."""
        now = self._clock.monotonic()
        stale = [scope for scope in scopes if not self._fresh(scope.doc_id, now)]
        if stale:
            await self._refresh_scopes(stale)
        out: list[LimitRecord | None] = []
        for scope in scopes:
            entry = self._entries.get(scope.doc_id)
            if entry is None:
                raise limits_unavailable()
            out.append(entry.record)
        return out

    def _scopes_of(self, identity: Identity) -> tuple[tuple[LimitScope, ...], tuple[str, ...]]:
        # Memoized: building the scopes and their ids costs more than the lookups themselves.
        key = (identity.tenant, identity.user, identity.key_id)
        known = self._identities.get(key)
        if known is None:
            if len(self._identities) >= self._max:
                self._identities.clear()
            scopes = scopes_for(identity)
            known = self._identities[key] = (scopes, tuple(scope.doc_id for scope in scopes))
        return known

    def remember(self, record: LimitRecord) -> None:
        """Take a record this instance just wrote: in force here at once (unless a newer one is held)."""
        self._keep(record.scope.doc_id, record, self._clock.monotonic() + self._refresh)

    def _fresh(self, doc_id: str, now: float) -> bool:
        entry = self._entries.get(doc_id)
        return entry is not None and entry.fresh_until > now

    async def _refresh_scopes(self, scopes: Iterable[LimitScope]) -> None:
        waits = []
        for scope in scopes:
            read = self._reads.get(scope.doc_id)
            if read is None:
                read = asyncio.ensure_future(self._read(scope))
                self._reads[scope.doc_id] = read
                waits.append(read)
            elif scope.doc_id not in self._entries:
                waits.append(read)
            # else: another caller is refreshing a scope we know; answer with what we hold meanwhile, so a
            # slow or hanging store delays one request per scope and refresh, not every request.
        # Shielded: a caller that gives up must not cancel a read other callers wait for.
        await asyncio.gather(*(asyncio.shield(read) for read in waits))

    async def _read(self, scope: LimitScope) -> None:
        try:
            record = await self.store.get(scope)
        except (StoreUnavailable, ValueError) as error:  # ValueError: a damaged document
            entry = self._entries.get(scope.doc_id)
            _log.warning("limits: cannot read %s (%s); %s", scope.doc_id, error, "last known kept" if entry else "503")
            if entry is not None:
                self._entries[scope.doc_id] = _entry(entry.record, self._clock.monotonic() + self._retry)
            # Unknown scope: no entry, and `records` answers 503.
        else:
            self._keep(scope.doc_id, record, self._clock.monotonic() + self._refresh)
        finally:
            self._reads.pop(scope.doc_id, None)

    def _keep(self, doc_id: str, record: LimitRecord | None, fresh_until: float) -> None:
        held = self._entries.get(doc_id)
        if held is not None and held.record is not None and record is not None and record.version < held.record.version:
            record = held.record  # a read older than what we hold moves nothing back
        self._entries[doc_id] = _entry(record, fresh_until)
        self._entries.move_to_end(doc_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"LimitsCache({len(self._entries)} scopes, refresh {self._refresh} s)"
