"""The embedded audit sink: lines written before publish returns, sealed segments readable by the glob,
owner-only files, and the vault's audit trail landing there."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from shared.events.local_sink import OPEN_SUFFIX, SEGMENT_GLOB
from shared.vault.audit import AuditEvent
from shared.vault.audit_sink import LocalAuditSink, audit_dir
from tests.fakes import FakeClock


def event(action: str = "store") -> AuditEvent:
    return AuditEvent.model_validate(
        {
            "ts": datetime(2026, 1, 2, tzinfo=UTC),
            "tenant": "app1",
            "action": action,
            "key_id": "pk_a",
            "provider": "GOOGLE",
            "outcome": "ok",
        }
    )


def read_all(directory: Path) -> list[AuditEvent]:
    return [
        AuditEvent.from_json_bytes(line)
        for path in sorted(directory.glob(SEGMENT_GLOB))
        for line in path.read_bytes().splitlines()
    ]


async def test_written_before_publish_returns_and_sealed_on_close(tmp_path: Path) -> None:
    directory = audit_dir(tmp_path)
    sink = LocalAuditSink(directory, clock=FakeClock())
    await sink.publish(event("store"))
    (partial,) = directory.glob(SEGMENT_GLOB + OPEN_SUFFIX)
    assert b'"action":"store"' in partial.read_bytes()
    await sink.publish(event("delete"))
    await sink.close()
    assert [e.action for e in read_all(directory)] == ["store", "delete"]
    assert directory.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in directory.iterdir())


async def test_an_old_segment_is_sealed_at_the_next_write(tmp_path: Path) -> None:
    clock = FakeClock()
    sink = LocalAuditSink(tmp_path, clock=clock, segment_max_age=60.0)
    await sink.publish(event("store"))
    assert read_all(tmp_path) == []
    clock.advance(60.0)
    await sink.publish(event("rotate"))
    assert [e.action for e in read_all(tmp_path)] == ["store", "rotate"]
    await sink.publish(event("delete"))
    await sink.flush()
    assert [e.action for e in read_all(tmp_path)] == ["store", "rotate", "delete"]
    await sink.close()
