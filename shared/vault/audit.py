"""Audit events of the BYOK vault: who did what to which provider key, when, and how it went.

One `AuditEvent` per store, rotate, delete, failed decrypt, first use per cache fill (the first
decrypt after the cache had no entry), and re-wrap under the KMS primary version (shared.vault.rewrap).
The schema follows `shared.events.schema.UsageEvent`'s rules (strict pydantic, extra fields forbidden,
UTC `ts`, types BigQuery can say plainly) so the analytics issue can land these in BigQuery the same
way. It never holds a key: `detail` is a fixed phrase or an error's class name, and `fingerprint` is
the one name for the key itself.

`AuditSink` is the port; `MemoryAuditSink` keeps events for tests; the embedded adapter writes segment
files (shared.vault.audit_sink).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, Protocol
from uuid import uuid4

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.events.schema import SeedProvider
from shared.vault.records import KeyMetadata
from shared.vault.validation import seed_name

__all__ = ["AuditAction", "AuditEvent", "AuditOutcome", "AuditSink", "MemoryAuditSink", "SeedProvider"]

AuditAction = Literal["store", "rotate", "delete", "first_use", "decrypt_failed", "rewrap"]
AuditOutcome = Literal["ok", "error"]


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    event_id: str = Field(default_factory=lambda: uuid4().hex, pattern=r"^[0-9a-f]{32}$", description="dedupe key")
    ts: datetime = Field(description="when it happened, UTC")
    tenant: str = Field(min_length=1, description="the key owner's tenant")
    user: str | None = Field(default=None, min_length=1, description="the key owner; null for a tenant-level key")
    actor: str | None = Field(default=None, description="gateway key id of the caller; null for the gateway itself")
    action: AuditAction
    key_id: str = Field(min_length=1, description="provider key id (never the key)")
    provider: SeedProvider = Field(description="seed spelling")
    fingerprint: str | None = Field(default=None, description="16 hex digits of the key's SHA-256, when known")
    outcome: AuditOutcome
    detail: str = Field(default="", max_length=200, description="why it failed; never a key")

    @classmethod
    def about(
        cls,
        meta: KeyMetadata,
        action: AuditAction,
        outcome: AuditOutcome,
        *,
        ts: datetime,
        actor: str | None = None,
        detail: str = "",
    ) -> AuditEvent:
        """The event for `action` on the key `meta` describes (owner, id, provider, fingerprint from it)."""
        return cls(
            ts=ts,
            tenant=meta.tenant,
            user=meta.user,
            actor=actor,
            action=action,
            key_id=meta.key_id,
            provider=seed_name(meta.provider),
            fingerprint=meta.fingerprint,
            outcome=outcome,
            detail=detail,
        )

    @field_validator("ts", mode="before")
    @classmethod
    def _parse_ts(cls, value: object) -> object:
        return datetime.fromisoformat(value) if isinstance(value, str) else value

    @field_validator("ts")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("ts must be timezone-aware (UTC)")
        return value.astimezone(UTC)

    def to_json_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(), option=orjson.OPT_UTC_Z)

    @classmethod
    def from_json_bytes(cls, data: bytes | str) -> AuditEvent:
        return cls.model_validate(orjson.loads(data))


class AuditSink(Protocol):
    async def publish(self, event: AuditEvent) -> None:
        """Record the event before returning (audit events are few; none may sit in a buffer)."""
        ...

    async def close(self) -> None: ...


class MemoryAuditSink:
    """Keeps events in a list (tests); `error`, when set, is raised by `publish`."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.error: Exception | None = None
        self.closed = False

    async def publish(self, event: AuditEvent) -> None:
        if self.error is not None:
            raise self.error
        self.events.append(event)

    async def close(self) -> None:
        self.closed = True

    def actions(self) -> list[str]:
        return [e.action for e in self.events]
