"""The breaker board: every breaker of one gateway instance, kept in step with the others through the store.

Counting is local: each instance keeps a sliding window of outcomes per scope, and successes never touch
the store. Transitions are shared: tripping, re-opening and closing write the scope's record (collection
`breakers`) with `put_if_newer`, so when two instances trip at once one write wins and the other re-reads
the winner's record. Each instance reads the shared records into a mirror, refreshed at request start
when older than `refresh_seconds` and waited for at most `max_wait_seconds` (a slow load finishes in
the background and updates the mirror later). There is no background loop: Cloud Functions throttle the
CPU between requests (architecture, Circuit breakers).

Half-open allows exactly one probe across instances: the prober is whoever creates the lease document
`{scope}|{version}|{slot}` in `breaker_probes` (create-if-absent). `slot` counts `probe_timeout_seconds`
periods since `open_until`, so a probe whose outcome never arrives is replaced one period later. The
winner then re-reads the record, so an instance with a stale mirror cannot probe a breaker that has
already moved on; that makes deleting a settled lease safe, which keeps the collection small.

The store failing never fails a request: the board keeps its last mirror, an instance honours its own
transitions locally, and a lease it cannot take means "open" - unless the mirror is older than
`10 * refresh_seconds`, when the store has been gone long enough that waiting for it could keep a
breaker open for the whole outage: then each instance lets one probe per slot through on its own.
Firestore guarantees relied on: create-if-absent and the conditional `put_if_newer` are atomic
(SQLite gives both with single statements; the Firestore adapter with preconditions/transactions).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Literal

from shared.breakers.policy import BreakerPolicy
from shared.breakers.state import (
    BreakerRecord,
    Phase,
    closed_after_probe,
    opened,
    phase,
    reopened,
    should_trip,
)
from shared.breakers.window import OutcomeWindow
from shared.clock import Clock
from shared.store.port import EXPIRES_AT, DocumentStore

__all__ = ["BREAKERS", "PROBES", "Admission", "BreakerBoard", "BreakerView"]

_log = logging.getLogger(__name__)

BREAKERS = "breakers"
PROBES = "breaker_probes"
LEASE_TTL_SECONDS = 86_400.0  # a lease is read within seconds of its creation; a day is far past any use
# A mirror this many refresh periods old means the store is down for good, not blinking.
_STALE_REFRESHES = 10

Admission = Literal["closed", "open", "probe"]


@dataclass(frozen=True, slots=True)
class BreakerView:
    """One breaker as the health endpoint shows it."""

    scope: str
    state: Phase
    open_until: float | None
    trips: int
    reason: str


class BreakerBoard:
    def __init__(
        self, store: DocumentStore, policy: BreakerPolicy, clock: Clock, *, instance_id: str | None = None
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._instance_id = instance_id if instance_id is not None else secrets.token_hex(8)
        self._mirror: dict[str, BreakerRecord] = {}
        self._windows: dict[str, OutcomeWindow] = {}
        self._tried_leases: dict[str, str] = {}  # scope -> the last lease this instance asked for (won or lost)
        self._held_leases: dict[str, str] = {}  # scope -> the lease of this instance's probe in flight
        self._load: asyncio.Task[None] | None = None
        self._attempted_at: float | None = None  # monotonic start of the last load
        self._loaded_at: float | None = None  # monotonic start of the last load that succeeded

    def start_refresh(self) -> asyncio.Task[None] | None:
        """At request start: begin reloading the mirror when it is old. Returns the load in flight (this
        one or an earlier one still running), for the caller to wait on while it does other work."""
        now = self._clock.monotonic()
        due = self._attempted_at is None or now - self._attempted_at >= self._policy.refresh_seconds
        if self._load is None and due:
            self._attempted_at = now
            self._load = asyncio.create_task(self._reload(now), name="breaker-mirror-load")
        return self._load

    async def refresh(self) -> None:
        """`start_refresh`, then wait for the load at most `max_wait_seconds`."""
        load = self.start_refresh()
        if load is not None:
            # Never cancelled on timeout: the load finishes on its own and updates the mirror for later requests.
            await asyncio.wait({load}, timeout=self._policy.max_wait_seconds)

    @property
    def max_wait_seconds(self) -> float:
        return self._policy.max_wait_seconds

    async def drain(self) -> None:
        """Wait for a mirror load in flight, if any (shutdown and tests)."""
        if self._load is not None:
            await asyncio.wait({self._load})

    def is_open(self, scope: str) -> bool:
        """True while the breaker is open; half-open counts as not open (the request may become the probe)."""
        record = self._mirror.get(scope)  # usually none: no clock read then (the router asks per candidate)
        return record is not None and phase(record, self._clock.time()) == "open"

    def open_until(self, scope: str) -> float | None:
        record = self._mirror.get(scope)
        return record.open_until if record is not None and record.state == "open" else None

    async def admit(self, scope: str) -> Admission:
        """May a request go to `scope`? In half-open only the one instance that takes the lease gets "probe"."""
        record = self._mirror.get(scope)
        now = self._clock.time()
        if record is None or record.state == "closed":
            return "closed"
        if now < record.open_until:
            return "open"
        slot = int((now - record.open_until) // self._policy.probe_timeout_seconds)
        lease = f"{scope}|{record.version}|{slot}"
        if self._tried_leases.get(scope) == lease:
            return "open"  # this instance already asked: its own probe or another instance's is in flight
        self._tried_leases[scope] = lease
        lease_doc = {
            "scope": scope,
            "version": record.version,
            "slot": slot,
            "instance": self._instance_id,
            "at": now,
            EXPIRES_AT: now + LEASE_TTL_SECONDS,  # a lease whose release failed: Firestore's TTL removes it
        }
        try:
            won = await self._store.create(PROBES, lease, lease_doc)
        except Exception as error:  # the store is down: see the module docstring
            if not self._mirror_stale():
                return "open"
            _log.warning("breaker %s: probing without a lease, the store is unavailable (%s)", scope, error)
            self._held_leases[scope] = lease
            return "probe"
        if not won:
            return "open"
        moved_on = await self._newer_record(record)
        if moved_on is not None:
            return "closed" if moved_on.state == "closed" else "open"
        self._held_leases[scope] = lease
        return "probe"

    async def forgo(self, scope: str) -> None:
        """Give back a probe `admit` granted that was never sent (say, no usable key): its lease is deleted so
        that another request, here or on another instance, may probe now rather than a slot later."""
        lease = self._held_leases.pop(scope, None)
        if lease is not None:
            self._tried_leases.pop(scope, None)
            await self._release(lease)

    async def record(
        self, scope: str, *, ok: bool, definitive: bool = False, probe: bool = False, reason: str = ""
    ) -> None:
        """Count one outcome for `scope` and make the transition it calls for. Never raises for store errors.

        `probe=True` settles the probe `admit` granted: success closes, failure re-opens for longer.
        Otherwise a failure trips a closed breaker when `definitive`, or when the window holds at least
        `min_requests` outcomes and a failure ratio at or above `failure_ratio`. `reason` is the error kind.
        """
        window = self._windows.get(scope)
        if window is None:
            window = self._windows[scope] = OutcomeWindow(self._policy.window_seconds)
        window.add(self._clock.monotonic(), ok=ok)
        record = self._mirror.get(scope)
        now = self._clock.time()
        if probe:
            lease = self._held_leases.pop(scope, None)
            if record is not None and phase(record, now) == "half_open":
                settled = closed_after_probe(record, now) if ok else reopened(record, now, reason, self._policy)
                await self._write(settled)
                if lease is not None:
                    await self._release(lease)
                return
            # The breaker moved on while the probe ran (closed by another instance, or re-opened): count
            # the outcome like any other.
        if ok or (record is not None and record.state == "open"):
            return
        outcomes, failures = window.counts(self._clock.monotonic())
        if definitive or should_trip(outcomes, failures, self._policy):
            await self._write(opened(record, scope, now, reason, self._policy))

    def views(self) -> list[BreakerView]:
        now = self._clock.time()
        return [
            BreakerView(
                scope=record.scope,
                state=phase(record, now),
                open_until=record.open_until if record.state == "open" else None,
                trips=record.trips,
                reason=record.reason,
            )
            for record in sorted(self._mirror.values(), key=lambda r: r.scope)
        ]

    async def _reload(self, started: float) -> None:
        try:
            docs = await self._store.list(BREAKERS)
        except Exception as error:  # loads are attempted once per refresh period, so this logs at most that often
            _log.warning("breakers: keeping the last mirror, the store is unavailable (%s)", error)
            return
        finally:
            self._load = None
        self._loaded_at = started
        for doc_id, doc in docs.items():
            record = BreakerRecord.from_doc(doc)
            if record is not None and record.scope == doc_id:
                self._merge(record)

    def _merge(self, record: BreakerRecord) -> None:
        """Take `record` unless the mirror already holds a newer version.

        At an equal version the store's record wins: either it is the same transition, or another
        instance made its transition first from the same base (and this instance's write was lost).
        """
        current = self._mirror.get(record.scope)
        if current is not None and current.version > record.version:
            return
        self._mirror[record.scope] = record
        if current is None or record.version > current.version:
            # Outcomes from before a transition never count after it (else a closed breaker re-trips at once).
            self._windows.pop(record.scope, None)

    def _mirror_stale(self) -> bool:
        if self._loaded_at is None:
            return True
        return self._clock.monotonic() - self._loaded_at > _STALE_REFRESHES * self._policy.refresh_seconds

    async def _newer_record(self, seen: BreakerRecord) -> BreakerRecord | None:
        """The stored record when it is newer than `seen` (merged into the mirror), else None."""
        try:
            doc = await self._store.get(BREAKERS, seen.scope)
        except Exception:  # the lease is ours and the mirror is the best knowledge left: go ahead
            return None
        stored = BreakerRecord.from_doc(doc) if doc is not None else None
        if stored is None or stored.version <= seen.version:
            return None
        self._merge(stored)
        return stored

    async def _write(self, record: BreakerRecord) -> None:
        # Local first: this instance honours its own transition even when the store cannot hear of it.
        self._merge(record)
        try:
            written = await self._store.put_if_newer(BREAKERS, record.scope, record.to_doc())
        except Exception as error:
            _log.warning("breaker %s %s here only: store unavailable (%s)", record.scope, record.state, error)
            return
        if written:
            _log_transition(record, self._clock.time())
            return
        # Another instance made a transition from the same base first: its record is the truth.
        try:
            doc = await self._store.get(BREAKERS, record.scope)
        except Exception:
            return
        stored = BreakerRecord.from_doc(doc) if doc is not None else None
        if stored is not None:
            self._merge(stored)

    async def _release(self, lease: str) -> None:
        try:
            await self._store.delete(PROBES, lease)
        except Exception as error:  # a leftover lease only costs a small document; it is never reused
            _log.debug("breakers: could not delete probe lease (%s)", error)


def _log_transition(record: BreakerRecord, now: float) -> None:
    if record.state == "open":
        _log.warning(
            "breaker %s opened for %.1f s (%s; trip %d)",
            record.scope,
            record.open_until - now,
            record.reason,
            record.trips,
        )
    else:
        _log.warning("breaker %s closed: the probe succeeded after %d trip(s)", record.scope, record.trips)
