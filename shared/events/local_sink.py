"""The embedded events adapter: usage events appended in background batches to per-process segment files.

DuckDB allows one writer per file, so each process writes its own files under the events directory
(`GATEWAY_DATA_DIR/events/`) and embedded analytics read them all with the glob `SEGMENT_GLOB`
(architecture, Usage events and analytics). One event per line, JSON (orjson), UTF-8.

Decisions:
- **Readers never see a half line.** A segment is written under a hidden name,
  `events-<pid>-<start>-<seq>.jsonl.partial` (which the glob does not match), by appending whole lines,
  and becomes visible under `events-<pid>-<start>-<seq>.jsonl` only when sealed (fsync, then a
  no-overwrite link and unlink). Sealed files never change. A segment is sealed at `segment_bytes`
  (8 MB), when older than `segment_max_age` (10 s: how stale embedded analytics may be), and by
  `flush()`/`close()`. Appending under the visible name would not do: a concurrent reader can observe a
  multi-page write half done.
- **Crash recovery.** The writer holds an exclusive `flock` on its open segment. Starting a segment, a
  sink seals every `.partial` whose lock is free (its writer died), trimmed to its last complete line.
- **Nothing is lost.** A failed write leaves the segment as it was (truncated back) and keeps its events
  in memory; the next tick or `flush()` retries. Errors are logged (throttled) without event contents.
  Delivery is at-least-once: after a double fault (write and truncate both failing) a batch may be
  written twice, so readers dedupe on `event_id`.
- **Bounded buffer, no silent drop.** At `max_buffer` pending events, `publish` first writes the buffer
  out itself (backpressure; there is no separate spill file because a segment *is* the local disk),
  and if that fails raises `EventBufferFull`: the caller knows that event was not recorded.
- **Lazy.** Construction does no I/O and starts no task; the first `publish` starts the writer task
  on the running loop. Writes run off the loop (`asyncio.to_thread`), serialized by one lock; a write
  pops its events itself once they are in the file, so cancelling the coroutine that awaits it loses
  nothing and writes nothing twice. `close()` writes the remainder synchronously (see there).
- The directory is created owner-only (0o700), files 0o600: events name tenants and users.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from shared.clock import Clock, SystemClock
from shared.events.port import EventBufferFull, EventSinkError
from shared.events.schema import UsageEvent

__all__ = ["OPEN_SUFFIX", "SEGMENT_GLOB", "LocalSegmentSink", "SegmentFiles", "events_dir"]

SEGMENT_GLOB = "events-*.jsonl"
OPEN_SUFFIX = ".partial"
_LOG_EVERY = 30.0  # seconds between repeated "write failed" log lines during one outage
_STALE_EMPTY = 3600.0  # an empty unlocked .partial older than this is a crash leftover, not a writer starting

_log = logging.getLogger(__name__)


def events_dir(data_dir: Path) -> Path:
    """Where the embedded sink of GATEWAY_DATA_DIR writes its segments (and embedded analytics read them)."""
    return data_dir / "events"


class SegmentFiles:
    """One writer's segment files. Blocking I/O: the sink calls it from a worker thread, one call at a time."""

    def __init__(
        self,
        directory: Path,
        *,
        pid: int,
        start: str,
        segment_bytes: int,
        segment_max_age: float,
        monotonic: Callable[[], float],
    ) -> None:
        self.directory = directory
        self._prefix = f"events-{pid}-{start}-"
        self._segment_bytes = segment_bytes
        self._segment_max_age = segment_max_age
        self._monotonic = monotonic
        self._seq = 0
        self._fd: int | None = None
        self._path: Path | None = None
        self._opened_at = 0.0
        self._size = 0

    @property
    def active(self) -> bool:
        return self._fd is not None

    def due(self) -> bool:
        """Whether the open segment should be sealed now (size or age)."""
        if self._fd is None:
            return False
        return self._size >= self._segment_bytes or self._monotonic() - self._opened_at >= self._segment_max_age

    def write(self, fd: int, data: memoryview) -> int:
        """The one write syscall (tests override it to inject faults)."""
        return os.write(fd, data)

    def append(self, data: bytes) -> None:
        """Append complete lines. On failure the segment is restored to its previous length and the error raised."""
        fd = self._fd if self._fd is not None else self._open()
        offset = self._size
        view = memoryview(data)
        try:
            while view:
                view = view[self.write(fd, view) :]
        except BaseException:
            try:
                os.ftruncate(fd, offset)
            except OSError:
                # Cannot restore: give the file up; recovery trims it to its last complete line and seals it.
                self._forget()
                os.close(fd)
            raise
        self._size += len(data)

    def seal(self) -> None:
        """Make the open segment visible under its final name (an empty one is removed)."""
        if self._fd is None or self._path is None:
            return
        fd, path = self._fd, self._path
        if self._size == 0:
            path.unlink(missing_ok=True)
        else:
            os.fsync(fd)
            _link_visible(path)
        self._forget()
        os.close(fd)

    def recover(self) -> int:
        """Seal the `.partial` segments whose writers died (lock free). Returns how many were sealed."""
        sealed = 0
        for path in sorted(self.directory.glob(SEGMENT_GLOB + OPEN_SUFFIX)):
            if path == self._path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            except OSError as exc:
                _skip_recovery(path, exc)
                continue
            try:
                sealed += _recover_one(path, fd)
            except OSError as exc:
                _skip_recovery(path, exc)
            finally:
                os.close(fd)
        return sealed

    def _open(self) -> int:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.directory.stat().st_mode & 0o077:
            os.chmod(self.directory, 0o700)  # mkdir's mode is masked by umask and ignored for an existing dir
        self.recover()
        while True:
            path = self.directory / f"{self._prefix}{self._seq:06d}.jsonl{OPEN_SUFFIX}"
            self._seq += 1
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            except FileExistsError:
                continue  # another sink with the same pid and start (tests, pid reuse): next number
            break
        # Until this lock is held the file is empty, and recovery leaves empty files alone.
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd, self._path, self._size, self._opened_at = fd, path, 0, self._monotonic()
        return fd

    def _forget(self) -> None:
        self._fd, self._path, self._size = None, None, 0


def _skip_recovery(path: Path, exc: OSError) -> None:
    # Best effort: one unreadable leftover must not stop this writer from writing.
    _log.warning("usage events: could not recover %s (%s: %s)", path.name, type(exc).__name__, exc)


def _recover_one(path: Path, fd: int) -> int:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # a live writer holds it
    try:
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            return 0  # sealed and replaced while we waited
    except FileNotFoundError:
        return 0  # another process recovered it first
    info = os.fstat(fd)
    if info.st_size == 0:
        # Wall time on purpose: it is compared with the file system's mtime, not with an injected clock.
        if time.time() - info.st_mtime > _STALE_EMPTY:
            path.unlink(missing_ok=True)
        return 0
    data = os.pread(fd, info.st_size, 0)
    keep = data.rfind(b"\n") + 1
    if keep < info.st_size:
        os.ftruncate(fd, keep)  # drop the half line a crash left
    if keep == 0:
        path.unlink(missing_ok=True)
        return 0
    os.fsync(fd)
    _link_visible(path)
    return 1


def _link_visible(path: Path) -> None:
    """Give `path` (a `.partial`) its visible name without ever replacing a file, then drop the hidden name."""
    stem = path.name.removesuffix(OPEN_SUFFIX).removesuffix(".jsonl")
    for n in range(1_000):
        target = path.with_name(f"{stem}.jsonl" if n == 0 else f"{stem}-{n}.jsonl")
        try:
            os.link(path, target)
        except FileExistsError:
            if os.path.samefile(path, target):
                break  # linked before a crash stopped the unlink
            continue
        break
    else:
        raise FileExistsError(f"no free segment name for {path.name}")
    path.unlink()


def _start_stamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"


class LocalSegmentSink:
    """The embedded `EventSink`: enqueue on publish, write batches in the background (see module docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        batch_size: int = 200,
        flush_interval: float = 0.5,
        max_buffer: int = 100_000,
        segment_bytes: int = 8 * 1024 * 1024,
        segment_max_age: float = 10.0,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        pid: int | None = None,
        files: type[SegmentFiles] = SegmentFiles,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size:
            raise ValueError("batch_size must be >= 1 and max_buffer >= batch_size")
        if flush_interval <= 0 or segment_bytes < 1 or segment_max_age < 0:
            raise ValueError("flush_interval and segment_bytes must be positive, segment_max_age not negative")
        self._clock = clock if clock is not None else SystemClock()
        self._files = files(
            Path(directory),
            pid=os.getpid() if pid is None else pid,
            start=_start_stamp(self._clock.time()),
            segment_bytes=segment_bytes,
            segment_max_age=segment_max_age,
            monotonic=self._clock.monotonic,
        )
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_buffer = max_buffer
        self._sleep = sleep
        # Publishers append on the right (loop thread); the writer pops written events on the left, in its
        # worker thread, so a write whose awaiting coroutine was cancelled still accounts for itself.
        self._pending: deque[UsageEvent] = deque()
        self._popped = 0  # events ever popped: tells a writer how much of its snapshot another one wrote
        self._io = threading.Lock()  # the files and the pops; held by whoever is writing
        self._lock = asyncio.Lock()  # one write coroutine at a time (no pile of worker threads)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_failure: float | None = None
        self._failures = 0
        self._last_log = -math.inf

    @property
    def directory(self) -> Path:
        return self._files.directory

    @property
    def pending(self) -> int:
        """Events accepted and not yet written."""
        return len(self._pending)

    @property
    def backlog(self) -> int:
        """`pending`, under the events port's name."""
        return len(self._pending)

    async def publish(self, event: UsageEvent) -> None:
        if len(self._pending) >= self._max_buffer:
            await self._relieve()
        self._pending.append(event)
        if self._stopping:
            await self.flush()  # closed: no writer task any more, so write it now rather than strand it
            return
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="usage-events-writer")
        if len(self._pending) >= self._batch_size:
            self._wake.set()

    async def flush(self) -> None:
        self._raise_for(await self._write(seal=True))

    async def close(self) -> None:
        self._stopping = True
        self._wake.set()
        # The last write is synchronous, on the calling thread: shutdown paths cancel the coroutine that
        # closes the sink (asyncio.run cancels its main task on SIGINT, which uvicorn re-raises after its
        # graceful shutdown), and the last events must not depend on being allowed to await.
        error = self._write_batches(*self._snapshot(), True)
        self._account(error)
        task, self._task = self._task, None
        if task is not None:
            await task  # it stops at its next wake; nothing is left for it to write
        self._raise_for(error)

    async def _relieve(self) -> None:
        recent = self._last_failure is not None and self._clock.monotonic() - self._last_failure < self._flush_interval
        if not recent:
            await self._write(seal=False)
        if len(self._pending) >= self._max_buffer:
            raise EventBufferFull(
                f"usage event buffer full: {len(self._pending)} events are waiting to be written to {self.directory}; "
                "this event was not recorded"
            )

    async def _run(self) -> None:
        while True:
            await self._wait()
            if self._stopping:
                return
            try:
                await self._write(seal=False)
            except Exception as exc:  # a bug, not an I/O fault (those come back as values): keep the loop alive
                _log.error("usage events: writer loop error (%s)", type(exc).__name__)

    async def _wait(self) -> None:
        """Until `flush_interval` has passed or a full batch (or close) wakes the writer."""
        if not self._wake.is_set():
            sleeper = asyncio.ensure_future(self._sleep(self._flush_interval))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait((sleeper, waker), return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
        self._wake.clear()

    async def _write(self, *, seal: bool) -> BaseException | None:
        """Write what is pending (and seal if asked or due), off the loop. Returns the write error, if any."""
        async with self._lock:
            if not self._pending and not self._files.due() and not (seal and self._files.active):
                return None
            error = await asyncio.to_thread(self._write_batches, *self._snapshot(), seal)
            self._account(error)
            return error

    def _snapshot(self) -> tuple[int, list[UsageEvent]]:
        with self._io:  # consistent with a worker thread left running by a cancelled write
            return self._popped, list(self._pending)

    def _write_batches(self, base: int, events: list[UsageEvent], seal: bool) -> BaseException | None:
        """Append `events` (a snapshot of the buffer's head when `_popped` was `base`) in batch-sized writes.

        Blocking; serialization happens here too. Each batch is popped once it is in the file.
        """
        with self._io:
            del events[: self._popped - base]  # the part another writer already wrote since the snapshot
            try:
                for first in range(0, len(events), self._batch_size):
                    chunk = events[first : first + self._batch_size]
                    self._files.append(b"".join([event.to_json_bytes() + b"\n" for event in chunk]))
                    for _ in chunk:
                        self._pending.popleft()
                    self._popped += len(chunk)
                    if self._files.due():
                        self._files.seal()
                if seal or self._files.due():
                    self._files.seal()
            except Exception as exc:
                return exc
            return None

    def _account(self, error: BaseException | None) -> None:
        if error is not None:
            self._note_failure(error)
        elif self._failures:
            _log.info("usage events: writing to %s works again after %d failures", self.directory, self._failures)
            self._failures, self._last_failure = 0, None

    def _raise_for(self, error: BaseException | None) -> None:
        if error is not None:
            raise EventSinkError(
                f"usage events could not be written to {self.directory} ({type(error).__name__}: {error}); "
                f"{len(self._pending)} still pending, kept for retry"
            ) from error

    def _note_failure(self, error: BaseException) -> None:
        now = self._clock.monotonic()
        self._last_failure = now
        self._failures += 1
        if now - self._last_log >= _LOG_EVERY:
            self._last_log = now
            # The error's type and message (an OSError names the path), never an event's contents.
            _log.warning(
                "usage events: writing to %s failed (%s: %s); %d events kept for retry",
                self.directory,
                type(error).__name__,
                error,
                len(self._pending),
            )
