"""The embedded segment-file sink (shared/events/local_sink.py): real files in tmp_path, real asyncio.

A fake clock or sleep appears only where the subject is timing logic itself (segment age, the writer's wait).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.events import (
    SEGMENT_GLOB,
    EventBufferFull,
    EventSink,
    EventSinkError,
    LocalSegmentSink,
    MemorySink,
    SegmentFiles,
    UsageEvent,
)
from shared.events.local_sink import OPEN_SUFFIX

NAME = re.compile(r"events-(\d+)-(\d{8}T\d{9}Z)-(\d{6})(-\d+)?\.jsonl")
START = datetime(2025, 3, 1, 10, 15, 0, 250000, tzinfo=UTC).timestamp()


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now
        self.mono = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono


def make_event(i: int, *, tenant: str = "app-1") -> UsageEvent:
    return UsageEvent(
        ts=datetime(2025, 3, 1, 10, 15, tzinfo=UTC),
        request_id=f"req_{i}",
        tenant=tenant,
        key_id="key-1",
        route="openai",
        provider="OPENAI",
        model_requested="gpt-4o",
        model="gpt-4o",
        status="ok",
        http_status=200,
        attempts=1,
        input_tokens=i,
        output_tokens=10,
        cost_micros=100 + i,
        unpriced=False,
        latency_ms=5,
    )


def sealed(directory: Path) -> list[Path]:
    return sorted(directory.glob(SEGMENT_GLOB))


def open_segments(directory: Path) -> list[Path]:
    return sorted(directory.glob(SEGMENT_GLOB + OPEN_SUFFIX))


def read_file(path: Path) -> list[UsageEvent]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [UsageEvent.from_json_bytes(line) for line in data.splitlines()]


def read_all(directory: Path) -> list[UsageEvent]:
    return [event for path in sealed(directory) for event in read_file(path)]


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def settled(sink: LocalSegmentSink) -> bool:
    """Everything written and sealed (with segment_max_age=0 every write seals; it pops before it seals)."""
    return sink.pending == 0 and not open_segments(sink.directory)


def sink_in(directory: Path, **options: object) -> LocalSegmentSink:
    return LocalSegmentSink(directory, **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- files and naming


async def test_events_round_trip_through_a_sealed_segment(tmp_path: Path) -> None:
    events = [make_event(i) for i in range(5)]
    sink = LocalSegmentSink(tmp_path / "events", pid=4242, clock=FakeClock())
    for event in events:
        await sink.publish(event)
    await sink.flush()
    [path] = sealed(tmp_path / "events")
    assert NAME.fullmatch(path.name)
    assert path.name == "events-4242-20250301T101500250Z-000000.jsonl"
    assert read_file(path) == events
    assert open_segments(tmp_path / "events") == []
    await sink.close()


def test_construction_does_no_io_and_starts_nothing(tmp_path: Path) -> None:
    sink = LocalSegmentSink(tmp_path / "events")  # no running loop here
    assert not (tmp_path / "events").exists()
    assert sink.pending == 0


async def test_the_writer_task_starts_on_first_publish_and_stops_on_close(tmp_path: Path) -> None:
    def writers() -> list[asyncio.Task[object]]:
        return [task for task in asyncio.all_tasks() if task.get_name() == "usage-events-writer"]

    sink = LocalSegmentSink(tmp_path / "events")
    await sink.flush()  # nothing pending: no I/O
    assert writers() == []
    assert not (tmp_path / "events").exists()
    await sink.publish(make_event(1))
    assert len(writers()) == 1
    await sink.close()
    assert writers() == []
    assert [e.input_tokens for e in read_all(tmp_path / "events")] == [1]


async def test_directory_and_files_are_owner_only(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(loose, 0o755)
    for directory in (tmp_path / "a" / "events", loose):
        sink = LocalSegmentSink(directory)
        await sink.publish(make_event(1))
        await sink.close()
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        [path] = sealed(directory)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


# ------------------------------------------------------------------------------------------- batching


async def test_a_full_batch_is_written_without_waiting_for_the_interval(tmp_path: Path) -> None:
    sink = LocalSegmentSink(tmp_path, batch_size=3, flush_interval=3600, segment_max_age=0)
    for i in range(3):
        await sink.publish(make_event(i))
    await eventually(lambda: settled(sink))
    assert [e.request_id for e in read_all(tmp_path)] == ["req_0", "req_1", "req_2"]
    await sink.publish(make_event(3))
    await sink.publish(make_event(4))
    await asyncio.sleep(0.1)
    assert len(sealed(tmp_path)) == 1  # two events: below the batch size, and the interval is an hour
    assert sink.pending == 2
    await sink.close()
    assert [len(read_file(path)) for path in sealed(tmp_path)] == [3, 2]


async def test_a_backlog_is_written_in_batch_sized_writes(tmp_path: Path) -> None:
    sink = LocalSegmentSink(tmp_path, batch_size=3, flush_interval=3600, segment_max_age=0)
    for i in range(7):  # no await yields here, so the writer sees all seven at once
        await sink.publish(make_event(i))
    await eventually(lambda: settled(sink))
    assert [len(read_file(path)) for path in sealed(tmp_path)] == [3, 3, 1]
    assert [e.input_tokens for e in read_all(tmp_path)] == list(range(7))
    await sink.close()


async def test_events_are_written_after_the_flush_interval(tmp_path: Path) -> None:
    sink = LocalSegmentSink(tmp_path, batch_size=1000, flush_interval=0.05, segment_max_age=0)
    await sink.publish(make_event(1))
    assert sealed(tmp_path) == []
    await eventually(lambda: settled(sink), within=2.0)
    assert len(sealed(tmp_path)) == 1
    await sink.close()


async def test_the_writer_sleeps_flush_interval_between_writes(tmp_path: Path) -> None:
    # Timing logic only: a fake sleep the test releases by hand.
    slept: list[float] = []
    release = asyncio.Event()

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await release.wait()

    sink = LocalSegmentSink(tmp_path, batch_size=1000, flush_interval=0.25, sleep=fake_sleep, segment_max_age=0)
    await sink.publish(make_event(1))
    for _ in range(20):
        await asyncio.sleep(0)
    assert slept == [0.25]
    assert sink.pending == 1  # still asleep: nothing written early
    release.set()
    await eventually(lambda: settled(sink))
    assert len(sealed(tmp_path)) == 1
    await sink.close()


async def test_segments_roll_at_the_size_limit(tmp_path: Path) -> None:
    events = [make_event(i) for i in range(20)]
    line = len(events[0].to_json_bytes()) + 1
    sink = LocalSegmentSink(tmp_path, batch_size=2, segment_bytes=4 * line, segment_max_age=3600)
    for event in events:
        await sink.publish(event)
    await sink.flush()
    paths = sealed(tmp_path)
    assert len(paths) == 5
    assert [m.group(3) for m in (NAME.fullmatch(p.name) for p in paths) if m] == [f"{n:06d}" for n in range(5)]
    assert read_all(tmp_path) == events
    await sink.close()


def test_segment_age_and_size_make_a_segment_due(tmp_path: Path) -> None:
    clock = FakeClock()
    files = SegmentFiles(tmp_path, pid=1, start="s", segment_bytes=100, segment_max_age=10.0, monotonic=clock.monotonic)
    assert not files.due()  # nothing open
    files.append(b'{"a":1}\n')
    clock.mono += 9.9
    assert not files.due()
    clock.mono += 0.1
    assert files.due()
    files.seal()
    files.append(b"x" * 99 + b"\n")
    assert files.due()  # 100 bytes: the size limit
    files.seal()
    assert [p.name for p in sealed(tmp_path)] == ["events-1-s-000000.jsonl", "events-1-s-000001.jsonl"]


# -------------------------------------------------------------------------------------- flush and close


async def test_flush_and_close_write_everything_and_close_is_idempotent(tmp_path: Path) -> None:
    sink = LocalSegmentSink(tmp_path, flush_interval=3600, segment_max_age=3600)
    for i in range(3):
        await sink.publish(make_event(i))
    await sink.flush()
    assert len(read_all(tmp_path)) == 3
    await sink.publish(make_event(3))
    await sink.close()
    await sink.close()
    assert [e.input_tokens for e in read_all(tmp_path)] == [0, 1, 2, 3]
    await sink.publish(make_event(4))  # after close: written at once, not stranded in memory
    assert [e.input_tokens for e in read_all(tmp_path)] == [0, 1, 2, 3, 4]
    assert sink.pending == 0
    assert open_segments(tmp_path) == []


async def test_two_processes_write_separate_files(tmp_path: Path) -> None:
    clock = FakeClock()
    first = LocalSegmentSink(tmp_path, pid=101, clock=clock)
    second = LocalSegmentSink(tmp_path, pid=202, clock=clock)
    for i in range(6):
        await (first if i % 2 == 0 else second).publish(make_event(i))
    await asyncio.gather(first.close(), second.close())
    by_pid: dict[str, list[int]] = {}
    for path in sealed(tmp_path):
        match = NAME.fullmatch(path.name)
        assert match
        by_pid.setdefault(match.group(1), []).extend(e.input_tokens for e in read_file(path))
    assert by_pid == {"101": [0, 2, 4], "202": [1, 3, 5]}


async def test_same_pid_and_start_never_overwrite_each_other(tmp_path: Path) -> None:
    # Two sinks in one process with the same name parts: exclusive creates and no-overwrite links keep both.
    clock = FakeClock()
    sinks = [LocalSegmentSink(tmp_path, pid=7, clock=clock) for _ in range(2)]
    for n, sink in enumerate(sinks):
        await sink.publish(make_event(n))
        await sink.flush()
    await sinks[0].publish(make_event(2))
    await asyncio.gather(*(sink.close() for sink in sinks))
    assert sorted(e.input_tokens for e in read_all(tmp_path)) == [0, 1, 2]


# --------------------------------------------------------------------------------------------- faults


async def test_a_failed_write_loses_nothing_and_logs_no_contents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "events"
    target.write_bytes(b"")  # a file where the directory should be: every write fails for real
    sink = LocalSegmentSink(target, batch_size=2, flush_interval=0.01)
    events = [make_event(i, tenant="secret-tenant") for i in range(3)]
    with caplog.at_level(logging.INFO, logger="shared.events.local_sink"):
        for event in events:
            await sink.publish(event)
        with pytest.raises(EventSinkError, match=r"could not be written.*3 still pending") as exc:
            await sink.flush()
        assert exc.value.status == 503
        await asyncio.sleep(0.05)  # the background loop retries and fails too
        assert sink.pending == 3
        target.unlink()
        await sink.flush()
    assert read_all(target) == events
    assert "failed" in caplog.text
    assert "works again" in caplog.text
    assert "secret-tenant" not in caplog.text
    assert "req_" not in caplog.text
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1  # throttled
    await sink.close()


class FailsOnceHalfway(SegmentFiles):
    """Writes half of the second batch, then fails like a full disk, once."""

    calls = 0

    def write(self, fd: int, data: memoryview) -> int:
        type(self).calls += 1
        if type(self).calls == 2:
            os.write(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(fd, data)


async def test_a_half_done_write_is_undone_and_retried(tmp_path: Path) -> None:
    FailsOnceHalfway.calls = 0
    sink = LocalSegmentSink(tmp_path, batch_size=2, flush_interval=3600, segment_max_age=3600, files=FailsOnceHalfway)
    events = [make_event(i) for i in range(4)]
    for event in events:
        await sink.publish(event)
    await eventually(lambda: FailsOnceHalfway.calls >= 2)
    await eventually(lambda: sink.pending == 2)
    [partial] = open_segments(tmp_path)
    assert partial.read_bytes().count(b"\n") == 2  # the first batch only; the half batch was cut away
    assert partial.read_bytes().endswith(b"\n")
    await sink.close()
    assert read_all(tmp_path) == events  # each exactly once


async def test_a_write_that_cannot_be_undone_is_recovered_not_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Double fault: the write fails halfway and the truncate that would undo it fails too. The segment is
    # given up; the next segment's start recovers it (trimmed to whole lines). At-least-once: the whole
    # lines of the failed batch may now appear twice, which is why readers dedupe on event_id.
    def failing_truncate(fd: int, length: int) -> None:
        monkeypatch.undo()  # fails once, for the undo of the failed write only
        raise OSError(errno.EIO, "Input/output error")

    class FailsOnce(SegmentFiles):
        failed = False

        def write(self, fd: int, data: memoryview) -> int:
            if not FailsOnce.failed and self.active and os.fstat(fd).st_size > 0:
                FailsOnce.failed = True
                monkeypatch.setattr(os, "ftruncate", failing_truncate)
                os.write(fd, data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(fd, data)

    sink = LocalSegmentSink(tmp_path, batch_size=4, flush_interval=3600, segment_max_age=3600, files=FailsOnce)
    events = [make_event(i) for i in range(8)]
    for event in events[:4]:
        await sink.publish(event)
    await eventually(lambda: sink.pending == 0)
    for event in events[4:]:
        await sink.publish(event)
    await eventually(lambda: FailsOnce.failed)
    await eventually(lambda: sink._failures > 0)
    assert sink.pending == 4
    await sink.close()
    written = read_all(tmp_path)  # every line of every sealed file parses (read_file checks the newline)
    assert {e.event_id for e in written} == {e.event_id for e in events}
    assert len(written) == 10  # the half-written batch's two whole lines were recovered, and retried
    assert open_segments(tmp_path) == []


async def test_the_buffer_is_bounded_and_full_means_a_clear_error(tmp_path: Path) -> None:
    clock = FakeClock()
    target = tmp_path / "events"
    target.write_bytes(b"")
    sink = LocalSegmentSink(target, batch_size=5, max_buffer=5, flush_interval=3600, clock=clock)
    for i in range(5):
        await sink.publish(make_event(i))
    await eventually(lambda: sink._failures > 0)  # the woken writer tried and failed
    with pytest.raises(EventBufferFull, match="this event was not recorded"):
        await sink.publish(make_event(5))
    assert sink.pending == 5
    target.unlink()
    with pytest.raises(EventBufferFull):
        await sink.publish(make_event(5))  # the last failure is too recent to try the disk again
    clock.mono += 3600
    await sink.publish(make_event(5))  # the disk works again: publish wrote the backlog itself
    await sink.close()
    assert [e.input_tokens for e in read_all(target)] == list(range(6))


async def test_a_full_buffer_on_a_healthy_disk_applies_backpressure(tmp_path: Path) -> None:
    sink = LocalSegmentSink(tmp_path, batch_size=3, max_buffer=3, flush_interval=3600, segment_max_age=3600)
    for i in range(10):
        await sink.publish(make_event(i))
        assert sink.pending <= 3
    await sink.close()
    assert [e.input_tokens for e in read_all(tmp_path)] == list(range(10))


class SlowFiles(SegmentFiles):
    """Each write takes a while (in the worker thread), so a test can cancel what awaits it."""

    def write(self, fd: int, data: memoryview) -> int:
        time.sleep(0.2)
        return super().write(fd, data)


async def test_a_cancelled_flush_neither_loses_nor_repeats_events(tmp_path: Path) -> None:
    sink = LocalSegmentSink(tmp_path, batch_size=100, flush_interval=3600, files=SlowFiles)
    for i in range(3):
        await sink.publish(make_event(i))
    flushing = asyncio.create_task(sink.flush())
    await asyncio.sleep(0.05)  # its worker thread is inside the slow write now
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    await sink.publish(make_event(3))
    await sink.close()
    assert [e.input_tokens for e in read_all(tmp_path)] == [0, 1, 2, 3]


async def test_close_writes_everything_even_when_it_is_cancelled(tmp_path: Path) -> None:
    # Shutdown: asyncio.run cancels its main task on SIGINT, so the coroutine running close() may be cancelled.
    sink = LocalSegmentSink(tmp_path, batch_size=2, flush_interval=3600, files=SlowFiles)
    for i in range(5):
        await sink.publish(make_event(i))
    await asyncio.sleep(0.05)  # the writer task's thread is writing the first batches
    closing = asyncio.create_task(sink.close())
    await asyncio.sleep(0)
    closing.cancel()
    with suppress(asyncio.CancelledError):
        await closing
    assert [e.input_tokens for e in read_all(tmp_path)] == [0, 1, 2, 3, 4]
    assert open_segments(tmp_path) == []


# ------------------------------------------------------------------------------------ readers and crashes


async def test_a_concurrent_reader_only_ever_sees_complete_lines(tmp_path: Path) -> None:
    sink = LocalSegmentSink(tmp_path, batch_size=7, flush_interval=0.002, segment_bytes=4096, segment_max_age=0.01)
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            for path in sealed(tmp_path):
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                reads[0] += 1
                if not data.endswith(b"\n"):
                    problems.append(f"{path.name}: no final newline")
                for line in data.splitlines():
                    try:
                        UsageEvent.from_json_bytes(line)
                    except ValueError as exc:
                        problems.append(f"{path.name}: {exc}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(1500):
            await sink.publish(make_event(i))
            if i % 25 == 0:
                await asyncio.sleep(0.001)
        await sink.close()
    finally:
        stop.set()
        thread.join()
    assert problems == []
    assert reads[0] > 0
    written = read_all(tmp_path)
    assert sorted(e.input_tokens for e in written) == list(range(1500))
    assert len({e.event_id for e in written}) == 1500


async def test_a_dead_writers_segment_is_trimmed_and_sealed(tmp_path: Path) -> None:
    lines = [make_event(i).to_json_bytes() + b"\n" for i in range(3)]
    orphan = tmp_path / f"events-99-20250101T000000000Z-000004.jsonl{OPEN_SUFFIX}"
    orphan.write_bytes(lines[0] + lines[1] + lines[2][:40])  # a crash in the middle of the third line
    sink = LocalSegmentSink(tmp_path, pid=5)
    await sink.publish(make_event(10))
    await sink.close()
    recovered = tmp_path / "events-99-20250101T000000000Z-000004.jsonl"
    assert [e.input_tokens for e in read_file(recovered)] == [0, 1]
    assert open_segments(tmp_path) == []


async def test_a_live_writers_segment_is_left_alone(tmp_path: Path) -> None:
    alive = LocalSegmentSink(tmp_path, pid=1, batch_size=1, flush_interval=3600, segment_max_age=3600)
    await alive.publish(make_event(1))
    await eventually(lambda: alive.pending == 0)
    [partial] = open_segments(tmp_path)
    other = LocalSegmentSink(tmp_path, pid=2)
    await other.publish(make_event(2))
    await other.close()
    assert partial.exists()  # its lock is held: not recovered under the writer's feet
    await alive.close()
    assert sorted(e.input_tokens for e in read_all(tmp_path)) == [1, 2]


def test_empty_open_segments_are_only_removed_when_stale(tmp_path: Path) -> None:
    fresh = tmp_path / f"events-1-s-000000.jsonl{OPEN_SUFFIX}"
    stale = tmp_path / f"events-2-s-000000.jsonl{OPEN_SUFFIX}"
    fresh.touch()
    stale.touch()
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    locked = tmp_path / f"events-3-s-000000.jsonl{OPEN_SUFFIX}"
    locked.write_bytes(b"{}\n")
    with locked.open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        files = SegmentFiles(tmp_path, pid=9, start="s", segment_bytes=10, segment_max_age=1, monotonic=time.monotonic)
        assert files.recover() == 0
    assert fresh.exists()  # may be a writer that has not taken its lock yet
    assert not stale.exists()
    assert locked.exists()


# -------------------------------------------------------------------------------------------- the port


async def test_memory_sink_collects_and_can_fail() -> None:
    sink = MemorySink()
    port: EventSink = sink
    await port.publish(make_event(1))
    await port.flush()
    assert [e.input_tokens for e in sink.events] == [1]
    sink.error = EventSinkError("down")
    with pytest.raises(EventSinkError):
        await port.publish(make_event(2))
    await port.close()
    assert (sink.flushes, sink.closed, len(sink.events)) == (1, True, 1)


def test_local_sink_meets_the_port(tmp_path: Path) -> None:
    port: EventSink = LocalSegmentSink(tmp_path)
    assert port is not None


@pytest.mark.parametrize(
    "options",
    [{"batch_size": 0}, {"batch_size": 10, "max_buffer": 5}, {"flush_interval": 0}, {"segment_max_age": -1}],
)
def test_bad_settings_are_refused(tmp_path: Path, options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        sink_in(tmp_path, **options)
