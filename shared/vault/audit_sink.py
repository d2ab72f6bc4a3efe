"""The embedded audit sink: audit events appended to segment files under `GATEWAY_DATA_DIR/audit/` (the
vault's) or another directory (`GATEWAY_DATA_DIR/audit-limits/`, changes to usage limits): any event that
writes itself as one JSON object (`to_json_bytes`).

It reuses the usage events' `SegmentFiles` (shared.events.local_sink): one writer per process, lines
written under a hidden `.partial` name and made visible (`events-*.jsonl`, the `SEGMENT_GLOB`, in the
audit directory) when sealed, crash leftovers recovered by the next writer, owner-only files. Unlike
usage events, audit events are few and must not wait in memory, so `publish` writes the line before it
returns (in a worker thread). A segment is sealed when big or old enough at the next write, and by
`flush`/`close`, so readers see a quiet process's last events at its next write or its end.
"""

from __future__ import annotations

import asyncio
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from shared.clock import Clock, SystemClock
from shared.events.local_sink import SegmentFiles
from shared.events.port import JsonEvent

__all__ = ["LocalAuditSink", "audit_dir"]


def audit_dir(data_dir: Path) -> Path:
    return data_dir / "audit"


class LocalAuditSink:
    def __init__(
        self,
        directory: Path,
        *,
        clock: Clock | None = None,
        segment_bytes: int = 1024 * 1024,
        segment_max_age: float = 60.0,
        pid: int | None = None,
    ) -> None:
        clock = clock if clock is not None else SystemClock()
        start = datetime.fromtimestamp(clock.time(), UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self._files = SegmentFiles(
            Path(directory),
            pid=os.getpid() if pid is None else pid,
            start=start,
            segment_bytes=segment_bytes,
            segment_max_age=segment_max_age,
            monotonic=clock.monotonic,
        )
        self._io = threading.Lock()  # a write whose awaiting coroutine was cancelled still holds the files

    @property
    def directory(self) -> Path:
        return self._files.directory

    async def publish(self, event: JsonEvent) -> None:
        await asyncio.to_thread(self._append, event.to_json_bytes() + b"\n")

    async def flush(self) -> None:
        await asyncio.to_thread(self._seal)

    async def close(self) -> None:
        self._seal()  # synchronous: shutdown may cancel whoever awaits this

    def _append(self, line: bytes) -> None:
        with self._io:
            self._files.append(line)
            if self._files.due():
                self._files.seal()

    def _seal(self) -> None:
        with self._io:
            self._files.seal()
