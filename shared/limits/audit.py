"""Audit events of usage limits: who set which scope's limits to what, when (issue 11: "changes to limits
are audited").

Why not the vault's `AuditEvent`: that one is about a provider key (its `key_id`, `provider` and
`fingerprint` are required or meaningful only for one) and its Pub/Sub topic enforces its Avro schema, so
a limits event could not travel on it. `LimitsAuditEvent` follows the same rules (strict pydantic, extra
fields forbidden, UTC `ts`, plain column types) and its schema is generated the same way
(`shared.events.table_schemas`, stem `limits_audit_events`). One event per successful change, carrying the
scope, the caller's gateway key id, the new version and the limits after the change (budgets in
micro-USD); the change before it is the previous version's event.

Sinks: `MemoryLimitsAuditSink` (tests); `LocalAuditSink` (shared.vault.audit_sink), segment files under
`GATEWAY_DATA_DIR/audit-limits/` like the vault's under `audit/`; on `EVENTS_BACKEND=pubsub` the shared
`PubSubSink` with the `LIMITS_AUDIT` codec, to the topic `<PUBSUB_AUDIT_TOPIC>-limits`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol
from uuid import uuid4

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.clock import Clock
from shared.events.port import pubsub_topic
from shared.events.pubsub_sink import Codec, PubSubSink  # imports no Google package until it publishes
from shared.limits.config import LimitRecord, ScopeKind
from shared.settings import Settings
from shared.vault.audit_sink import LocalAuditSink

__all__ = [
    "LIMITS_AUDIT",
    "LimitsAuditEvent",
    "LimitsAuditSink",
    "MemoryLimitsAuditSink",
    "build_limits_audit_sink",
    "limits_audit_dir",
]

LimitsAuditAction = Literal["set"]


class LimitsAuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    event_id: str = Field(default_factory=lambda: uuid4().hex, pattern=r"^[0-9a-f]{32}$", description="dedupe key")
    ts: datetime = Field(description="when it happened, UTC")
    tenant: str = Field(min_length=1, description="the scope's tenant")
    user: str | None = Field(default=None, description="the scope's user; null unless a user scope")
    key_id: str | None = Field(default=None, description="the scope's gateway key id; null unless a key scope")
    scope_kind: ScopeKind = Field(description="tenant, user or key")
    actor: str = Field(min_length=1, description="gateway key id of the admin who made the change")
    action: LimitsAuditAction
    version: int = Field(ge=1, description="the scope's version after the change")
    changed: str = Field(max_length=200, description="the limits the request named, comma-separated (camelCase)")
    requests_per_minute: int | None = Field(default=None, description="after the change; null: unlimited")
    tokens_per_minute: int | None = Field(default=None, description="after the change; null: unlimited")
    daily_budget_micros: int | None = Field(default=None, description="after the change, micro-USD; null: unlimited")
    monthly_budget_micros: int | None = Field(default=None, description="after the change, micro-USD; null: unlimited")

    @classmethod
    def of_change(cls, record: LimitRecord, *, actor: str, changed: list[str], ts: datetime) -> LimitsAuditEvent:
        """The event for the change that produced `record` (the limits as they are now)."""
        limits = record.limits
        return cls(
            ts=ts,
            tenant=record.scope.tenant_id,
            user=record.scope.user_id,
            key_id=record.scope.key_id,
            scope_kind=record.scope.kind,
            actor=actor,
            action="set",
            version=record.version,
            changed=",".join(changed),
            requests_per_minute=limits.requests_per_minute,
            tokens_per_minute=limits.tokens_per_minute,
            daily_budget_micros=limits.daily_budget_micros,
            monthly_budget_micros=limits.monthly_budget_micros,
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
    def from_json_bytes(cls, data: bytes | str) -> LimitsAuditEvent:
        return cls.model_validate(orjson.loads(data))


def _attributes(event: LimitsAuditEvent) -> dict[str, str]:
    return {"event_type": "limits_audit", "tenant": event.tenant, "action": event.action, "scope": event.scope_kind}


LIMITS_AUDIT: Codec[LimitsAuditEvent] = Codec("limits_audit", LimitsAuditEvent.from_json_bytes, _attributes)


class LimitsAuditSink(Protocol):
    async def publish(self, event: LimitsAuditEvent) -> None:
        """Record the event before returning (changes are few; none may sit in a buffer)."""
        ...

    async def close(self) -> None: ...


class MemoryLimitsAuditSink:
    """Keeps events in a list (tests); `error`, when set, is raised by `publish`."""

    def __init__(self) -> None:
        self.events: list[LimitsAuditEvent] = []
        self.error: Exception | None = None
        self.closed = False

    async def publish(self, event: LimitsAuditEvent) -> None:
        if self.error is not None:
            raise self.error
        self.events.append(event)

    async def close(self) -> None:
        self.closed = True


def limits_audit_dir(data_dir: Path) -> Path:
    return data_dir / "audit-limits"


def build_limits_audit_sink(settings: Settings, clock: Clock) -> LimitsAuditSink:
    """Embedded: segment files under GATEWAY_DATA_DIR/audit-limits/; `EVENTS_BACKEND=pubsub`: the topic
    `<PUBSUB_AUDIT_TOPIC>-limits` (spilling under GATEWAY_DATA_DIR/spill-audit-limits/)."""
    if settings.events_backend != "pubsub":
        return LocalAuditSink(limits_audit_dir(settings.data_dir), clock=clock)
    topic = pubsub_topic(settings.google_cloud_project_id, f"{settings.pubsub_audit_topic}-limits")
    return PubSubSink(topic, settings.data_dir / "spill-audit-limits", LIMITS_AUDIT, clock=clock)
