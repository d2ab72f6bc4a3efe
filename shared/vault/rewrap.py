"""The re-wrap job: every provider key sealed under an older KMS key version, sealed again under the primary.

Cloud KMS rotation makes a new primary version but re-encrypts nothing: a ciphertext keeps needing the
version that wrapped its data key, so that version cannot be disabled until every record under it is
re-wrapped (gcp-deploy.md, "Rotation"). `rewrap` opens each such record with its own associated data and
seals it again (a fresh data key, wrapped by the primary), then writes it back with `version + 1` through
`put_if_newer`.

Decisions:
- Resumable by construction: the check is per document (`kek_version` differs from the primary), so a
  re-run after a crash touches only what is still under an old version, and a second run does nothing.
- A concurrent rotation, use or delete wins: the document is read again just before the write and
  skipped unless it still holds the version that was opened, and `put_if_newer` refuses a write over a
  newer one. Either way it counts as a lost race, is never clobbered, and the next run looks again. (The
  store port has no "replace only if present at this version": a delete landing between that last read
  and the write would be undone; the window is one store round trip.)
- A record that does not open (altered, swapped, or its version disabled or destroyed) counts as failed
  and is audited "decrypt_failed"; it is never deleted and the job goes on. A seal that fails (the KMS
  refused) is audited "rewrap" with outcome "error". Re-run once the cause is fixed.
- A local keyset has no versions (`primary_version()` is None): nothing to do, and the report says so.
- Records are handled `batch` at a time concurrently (each KMS call runs in a thread), and progress is
  logged after each batch. A store error stops the job (it is resumable); nothing is logged but key ids.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from shared.clock import Clock
from shared.crypto.port import DecryptError, KeyServiceUnavailable, SecretBox
from shared.store.port import Document, DocumentStore
from shared.vault.aad import AAD_VERSION, associated_data
from shared.vault.audit import AuditAction, AuditEvent, AuditOutcome, AuditSink
from shared.vault.records import KEYS, StoredKey, from_timestamp
from shared.vault.validation import seed_name

__all__ = ["RewrapReport", "rewrap"]

_log = logging.getLogger(__name__)

_Outcome = Literal["rewrapped", "lost_race", "failed"]


@dataclass(frozen=True, slots=True)
class RewrapReport:
    """What one run did. `primary` is the KMS version keys were re-wrapped under (None: a local keyset)."""

    primary: str | None
    examined: int = 0
    rewrapped: int = 0
    skipped_current: int = 0
    lost_races: int = 0
    failed: int = 0

    def summary(self) -> str:
        if self.primary is None:
            return "rewrap: the KEK is a local keyset, which has no KMS versions: nothing to re-wrap"
        return (
            f"rewrap under {self.primary}: examined {self.examined}, rewrapped {self.rewrapped}, "
            f"already current {self.skipped_current}, lost races {self.lost_races}, failed {self.failed}"
        )


async def rewrap(
    store: DocumentStore,
    box: SecretBox,
    salt: str,
    clock: Clock,
    audit: AuditSink,
    *,
    batch: int = 100,
    log: logging.Logger = _log,
) -> RewrapReport:
    """Re-wrap every provider key not under the KMS primary version; `KeyServiceUnavailable` when the
    primary cannot be read, a store error when the store fails (re-run: it resumes)."""
    if not salt:
        raise ValueError("the re-wrap job needs the ENCRYPTION_CONTEXT_SALT")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    primary = await box.primary_version()
    if primary is None:
        report = RewrapReport(primary=None)
        log.info("%s", report.summary())
        return report
    docs = await store.list(KEYS)
    todo = sorted(((k, doc) for k, doc in docs.items() if doc.get("kek_version") != primary), key=lambda kd: kd[0])
    log.info("rewrap: %d of %d provider keys are under an older version than %s", len(todo), len(docs), primary)
    job = _Job(store, box, salt, clock, audit, log)
    counts: Counter[_Outcome] = Counter()
    for start in range(0, len(todo), batch):
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(job.one(key_id, doc)) for key_id, doc in todo[start : start + batch]]
        except ExceptionGroup as errors:  # the store failed (usually seen by several tasks at once)
            raise errors.exceptions[0] from None
        counts.update(task.result() for task in tasks)
        log.info(
            "rewrapped %d/%d (lost races %d, failed %d)",
            counts["rewrapped"],
            len(todo),
            counts["lost_race"],
            counts["failed"],
        )
    report = RewrapReport(
        primary=primary,
        examined=len(docs),
        rewrapped=counts["rewrapped"],
        skipped_current=len(docs) - len(todo),
        lost_races=counts["lost_race"],
        failed=counts["failed"],
    )
    log.info("%s", report.summary())
    return report


class _Job:
    def __init__(
        self, store: DocumentStore, box: SecretBox, salt: str, clock: Clock, audit: AuditSink, log: logging.Logger
    ) -> None:
        self._store = store
        self._box = box
        self._salt = salt
        self._clock = clock
        self._audit = audit
        self._log = log

    async def one(self, key_id: str, doc: Document) -> _Outcome:
        try:
            record = StoredKey.from_doc(key_id, doc)
            seed_name(record.meta.provider)  # an unknown provider makes the record unreadable
        except (KeyError, TypeError, ValueError):
            self._log.warning("rewrap: provider key record %s is not readable; left as it is", key_id)
            return "failed"
        meta = record.meta
        aad = associated_data(self._salt, tenant=meta.tenant, user=meta.user, key_id=key_id, provider=meta.provider)
        try:
            secret = await self._box.open(record.ciphertext, aad)
        except (DecryptError, KeyServiceUnavailable) as error:
            detail = "ciphertext does not open" if isinstance(error, DecryptError) else "key service unavailable"
            await self._record("decrypt_failed", record, "error", detail)
            return "failed"
        try:
            sealed = await self._box.seal(secret, aad)
        except KeyServiceUnavailable:
            await self._record("rewrap", record, "error", "key service unavailable")
            return "failed"
        rewrapped = dataclasses.replace(
            record,
            meta=dataclasses.replace(meta, kek_version=sealed.kek_version),
            ciphertext=sealed.ciphertext,
            aad_version=AAD_VERSION,
            version=record.version + 1,
        )
        if not await self._unchanged(record) or not await self._store.put_if_newer(
            KEYS, key_id, rewrapped.to_doc(), must_exist=True
        ):
            self._log.info("rewrap: %s changed meanwhile (rotated, used or deleted); left to that write", key_id)
            return "lost_race"
        await self._record("rewrap", rewrapped, "ok", "")
        return "rewrapped"

    async def _unchanged(self, record: StoredKey) -> bool:
        current = await self._store.get(KEYS, record.meta.key_id)
        return current is not None and current.get("version") == record.version

    async def _record(self, action: AuditAction, record: StoredKey, outcome: AuditOutcome, detail: str) -> None:
        meta = record.meta
        event = AuditEvent.about(meta, action, outcome, ts=from_timestamp(self._clock.time()), detail=detail)
        try:
            await self._audit.publish(event)
        except Exception as error:  # the re-wrap stands; only its trail is missing
            self._log.error(
                "rewrap: audit event %s of %s was not recorded (%s)", action, meta.key_id, type(error).__name__
            )
