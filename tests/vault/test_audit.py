"""The audit event schema: strict, UTC, round trip through JSON, no unknown fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.vault.audit import AuditEvent, MemoryAuditSink

TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def event(**changes: object) -> AuditEvent:
    fields: dict[str, object] = {
        "ts": TS,
        "tenant": "app1",
        "user": "alice",
        "actor": "gk_1",
        "action": "store",
        "key_id": "pk_a",
        "provider": "OPENAI",
        "fingerprint": "0123456789abcdef",
        "outcome": "ok",
    }
    return AuditEvent.model_validate({**fields, **changes})


def test_round_trip_in_utc() -> None:
    e = event(ts=datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))))
    assert e.ts == TS
    assert e.ts.tzinfo == UTC
    assert b'"ts":"2026-01-02T03:04:05Z"' in e.to_json_bytes()
    assert AuditEvent.from_json_bytes(e.to_json_bytes()) == e


@pytest.mark.parametrize(
    "change",
    [
        {"action": "read"},
        {"outcome": "maybe"},
        {"provider": "openai"},
        {"ts": datetime(2026, 1, 1)},
        {"secret": "x"},
        {"user": ""},
        {"detail": "x" * 201},
    ],
)
def test_invalid_events_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        event(**change)


async def test_memory_sink() -> None:
    sink = MemoryAuditSink()
    await sink.publish(event())
    sink.error = OSError("disk")
    with pytest.raises(OSError, match="disk"):
        await sink.publish(event())
    await sink.close()
    assert sink.actions() == ["store"]
    assert sink.closed
