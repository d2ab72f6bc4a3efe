"""The cloud events adapter: usage (and audit) events published to a Pub/Sub topic by a batching publisher.

One class serves both event kinds through a `Codec` (how a message is read back from a spill file, and
its attributes): `USAGE` for the usage events port, `AUDIT` for the vault's audit sink.

Events are published before the response completes (Cloud Functions throttle the CPU after it), so the
publisher flushes a batch at 100 messages or after 50 ms, whichever comes first (architecture, Usage events).
One message per event: data is the event's JSON (`to_json_bytes`), attributes name the event
type, tenant, provider and status (empty values are left out), so subscriptions can filter without parsing.

Decisions:
- **`publish` only enqueues.** A background task hands buffered events to google-cloud-pubsub's
  `PublisherClient`, which batches and sends them in its own threads; at most `max_in_flight` are handed
  over at once. Each message gets a bounded client-side retry (`publish_timeout`); when that fails the
  event goes back to the front of the buffer and sending pauses for a backoff (`shared.retry.RetryPolicy`,
  full jitter, injected sleep and randomness) before the next try.
- **Bounded buffer, then disk.** At `max_buffer` buffered events, the buffer moves to a spill file under
  `spill_dir` (`GATEWAY_DATA_DIR/spill/`): JSON lines, directory 0o700, files 0o600 (events name tenants
  and users), written with the embedded sink's `SegmentFiles` (a file appears under its final name only
  when complete; a crashed writer's half file is trimmed and sealed by the next one). Only if that write
  fails does `publish` raise `EventBufferFull`: the event is refused, never dropped silently.
- **Spill files are re-sent** after the next successful publish and by `flush()`: a file is locked
  (`flock`, so two instances sharing the directory never both send it), published, and removed once every
  message is acknowledged. A file whose re-send fails part way is kept and sent again later, so delivery is
  at-least-once; readers dedupe on `event_id` (as Pub/Sub itself requires).
- **`flush` is bounded** (`flush_timeout`): it sends at once, ignoring the backoff, waits for every
  message handed over, re-sends spill files, and raises `EventSinkError` with the backlog if anything is
  left. `close` flushes, spills whatever is still in memory if that failed (a later instance re-sends it),
  stops the client and the task; a second `close` does nothing.
- **Lazy.** Construction does no I/O and imports no Google package; the client (which reads
  `PUBSUB_EMULATOR_HOST`) is built on first use and the sending task started on the first `publish`.
- `backlog` (buffered + in flight + spilled) is what the instance reports to the live metrics and health.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import math
import os
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from random import random as _uniform
from typing import Any, Generic, Protocol, TypeVar

from shared.clock import Clock, SystemClock
from shared.events.local_sink import SEGMENT_GLOB, SegmentFiles
from shared.events.port import EventBufferFull, EventSinkError
from shared.events.schema import UsageEvent
from shared.retry import RetryPolicy
from shared.vault.audit import AuditEvent

__all__ = ["AUDIT", "BACKOFF", "USAGE", "Codec", "PubSubSink", "Publisher", "audit_attributes", "event_attributes"]

# Pauses between failed sends: 0.25 s doubling to 8 s, full jitter; never "give up" (events are kept).
BACKOFF = RetryPolicy(max_retries=2**31, base_seconds=0.25, cap_seconds=8.0)
_MAX_STEP = 30  # the backoff reaches its cap long before this; keeps 2**n finite
_MAX_MESSAGES = 100
_MAX_LATENCY = 0.05  # seconds: the "short flush window"
_LOG_EVERY = 30.0  # seconds between repeated "publish failed" log lines during one outage

_log = logging.getLogger(__name__)


class Publisher(Protocol):
    """The part of `google.cloud.pubsub_v1.PublisherClient` the sink uses (its futures are concurrent ones)."""

    def publish(self, topic: str, data: bytes, *, retry: Any, timeout: float, **attrs: str) -> Future[str]: ...

    def stop(self) -> None: ...


class _Message(Protocol):
    def to_json_bytes(self) -> bytes: ...


E = TypeVar("E", bound=_Message)


@dataclass(frozen=True, slots=True)
class Codec(Generic[E]):
    """One event kind on the wire: its name (logs, the `event_type` attribute), how a spilled line is read
    back, and the attributes a message carries."""

    kind: str
    parse: Callable[[bytes], E]
    attributes: Callable[[E], dict[str, str]]


def _present(values: dict[str, str | None]) -> dict[str, str]:
    return {name: value for name, value in values.items() if value}


def event_attributes(event: UsageEvent) -> dict[str, str]:
    """The message attributes of a usage event: type, tenant, provider, status (empty ones left out)."""
    return _present({"event_type": "usage", "tenant": event.tenant, "provider": event.provider, "status": event.status})


def audit_attributes(event: AuditEvent) -> dict[str, str]:
    """The message attributes of an audit event: type, tenant, action, outcome."""
    return _present({"event_type": "audit", "tenant": event.tenant, "action": event.action, "outcome": event.outcome})


USAGE: Codec[UsageEvent] = Codec("usage", UsageEvent.from_json_bytes, event_attributes)
AUDIT: Codec[AuditEvent] = Codec("audit", AuditEvent.from_json_bytes, audit_attributes)


def _publisher_client(publish_timeout: float) -> tuple[Publisher, Any]:
    """A batching `PublisherClient` and the per-message retry to use with it. Imported here: cloud only."""
    from google.api_core import exceptions, retry
    from google.cloud import pubsub_v1  # type: ignore[attr-defined, import-untyped, unused-ignore]

    client: Publisher = pubsub_v1.PublisherClient(
        batch_settings=pubsub_v1.types.BatchSettings(max_messages=_MAX_MESSAGES, max_latency=_MAX_LATENCY)
    )
    # The client's default retry keeps trying for 10 minutes; a shorter one hands failures back to the sink,
    # which buffers, spills and backs off on its own terms.
    transient = retry.if_exception_type(
        exceptions.Aborted,
        exceptions.Cancelled,
        exceptions.DeadlineExceeded,
        exceptions.InternalServerError,
        exceptions.ResourceExhausted,
        exceptions.ServiceUnavailable,
        exceptions.Unknown,
    )
    policy = retry.Retry(predicate=transient, initial=0.1, maximum=1.0, multiplier=2.0, timeout=publish_timeout)
    return client, policy


class PubSubSink(Generic[E]):
    """The cloud `EventSink` (and `AuditSink`): enqueue on publish, batch to Pub/Sub in the background (see
    module docstring). `codec` is the event kind (`USAGE` or `AUDIT`)."""

    def __init__(
        self,
        topic: str,
        spill_dir: Path,
        codec: Codec[E],
        *,
        max_buffer: int = 10_000,
        max_in_flight: int = 1_000,
        publish_timeout: float = 10.0,
        flush_timeout: float = 30.0,
        publisher: Callable[[float], tuple[Publisher, Any]] = _publisher_client,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        random: Callable[[], float] = _uniform,
        pid: int | None = None,
    ) -> None:
        if not topic.startswith("projects/") or "/topics/" not in topic:
            raise ValueError("topic must be a full name: projects/<project>/topics/<topic>")
        if max_buffer < 1 or max_in_flight < 1 or publish_timeout <= 0 or flush_timeout <= 0:
            raise ValueError("max_buffer, max_in_flight, publish_timeout and flush_timeout must be positive")
        self._topic = topic
        self._codec = codec
        self._clock = clock if clock is not None else SystemClock()
        self._files = SegmentFiles(
            Path(spill_dir),
            pid=os.getpid() if pid is None else pid,
            start=f"{int(self._clock.time() * 1000):013d}",
            segment_bytes=2**62,  # one file per spill: sealed right after it is written
            segment_max_age=math.inf,
            monotonic=self._clock.monotonic,
        )
        self._max_buffer = max_buffer
        self._max_in_flight = max_in_flight
        self._publish_timeout = publish_timeout
        self._flush_timeout = flush_timeout
        self._make_publisher = publisher
        self._sleep = sleep
        self._random = random
        self._client: Publisher | None = None
        self._retry: Any = None
        self._buffer: deque[E] = deque()
        self._in_flight = 0
        self._spilling = 0
        self._spilled: int | None = None  # events in spill files; None until the directory was counted
        self._io = threading.Lock()  # the spill files, used from worker threads
        self._disk = asyncio.Lock()  # one spill or re-send at a time
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()  # set whenever a handed-over message is done
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._failures = 0
        self._retry_at = -math.inf
        self._last_log = -math.inf

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def spill_dir(self) -> Path:
        return self._files.directory

    @property
    def in_flight(self) -> int:
        """Messages handed to the client and not yet acknowledged or failed."""
        return self._in_flight

    @property
    def backlog(self) -> int:
        """Events accepted and not yet acknowledged by Pub/Sub: buffered, in flight and spilled to disk."""
        return len(self._buffer) + self._in_flight + self._spilling + (self._spilled or 0)

    async def publish(self, event: E) -> None:
        if self._closed:
            raise EventSinkError(f"{self._codec.kind} events: the Pub/Sub sink is closed")
        if len(self._buffer) >= self._max_buffer:
            error = await self._spill()
            if error is not None and len(self._buffer) >= self._max_buffer:
                raise EventBufferFull(
                    f"{self._codec.kind} events: Pub/Sub is unreachable and spilling to {self.spill_dir} failed "
                    f"({type(error).__name__}: {error}); {self.backlog} events held"
                ) from error
        self._buffer.append(event)
        self._start()
        self._wake.set()

    async def flush(self) -> None:
        deadline = self._clock.monotonic() + self._flush_timeout
        self._start()
        while self._buffer or self._in_flight:
            self._send()  # now, whatever the backoff says
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0 or not await self._wait_settled(remaining):
                break
            if self._buffer and not self._in_flight:
                # All handed-over messages failed: pause as the backoff says, within the deadline.
                await self._sleep(min(self._backoff_delay(), max(0.0, deadline - self._clock.monotonic())))
                if self._clock.monotonic() >= deadline:
                    break
        if not self._buffer and not self._in_flight:
            await self._resend(deadline)
        if self.backlog:
            raise EventSinkError(
                f"{self._codec.kind} events: {self.backlog} not yet published to {self._topic} "
                f"({len(self._buffer)} buffered, {self._in_flight} in flight, {self._spilled or 0} spilled)"
            )

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self.flush()
        finally:
            self._closed = True
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            if self._client is not None:
                # stop() sends what the client still batches; what fails of it comes back to the buffer.
                await asyncio.to_thread(self._client.stop)
                await self._wait_settled(self._publish_timeout)
            if self._buffer:
                await self._spill()  # a later instance re-sends them

    # ----------------------------------------------------------------------------------- sending

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._run(), name="usage-events-pubsub")

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = self._retry_at - self._clock.monotonic()
            if delay > 0:
                await self._sleep(delay)
            self._send()
            if len(self._buffer) > self._max_buffer:
                await self._spill()  # failed messages came back on top of a full buffer
            if self._spilled != 0 and not self._failures and not self._buffer and not self._in_flight:
                await self._resend(self._clock.monotonic() + self._flush_timeout)

    def _send(self) -> None:
        """Hand buffered events to the client, up to `max_in_flight` outstanding."""
        while self._buffer and self._in_flight < self._max_in_flight:
            event = self._buffer.popleft()
            try:
                future = self._publish(event)
            except Exception as exc:  # a stopped or broken client: keep the event, back off
                self._buffer.appendleft(event)
                self._note_failure(exc)
                return
            self._in_flight += 1
            future.add_done_callback(functools.partial(self._from_thread, self._done, event))

    def _publish(self, event: E) -> Future[str]:
        if self._client is None:
            self._client, self._retry = self._make_publisher(self._publish_timeout)
        return self._client.publish(
            self._topic,
            event.to_json_bytes(),
            retry=self._retry,
            timeout=self._publish_timeout,
            **self._codec.attributes(event),
        )

    def _from_thread(self, callback: Callable[[E, Future[str]], None], event: E, done: Future[str]) -> None:
        # Futures complete on the client's threads; the sink's state belongs to the loop's thread.
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is waiting any more
                self._loop.call_soon_threadsafe(callback, event, done)

    def _done(self, event: E, future: Future[str]) -> None:
        self._in_flight -= 1
        error = future.exception()
        if error is None:
            if self._failures:
                _log.info(
                    "%s events: publishing to %s works again after %d failures",
                    self._codec.kind,
                    self._topic,
                    self._failures,
                )
                self._failures, self._retry_at = 0, -math.inf
        else:
            self._buffer.appendleft(event)
            self._note_failure(error)
        self._settled.set()
        self._wake.set()

    async def _wait_settled(self, seconds: float) -> bool:
        """Wait until nothing handed over is outstanding; False when `seconds` passed first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self._in_flight:
                    self._settled.clear()
                    await self._settled.wait()
        return not self._in_flight

    def _backoff_delay(self) -> float:
        delay = BACKOFF.delay(min(max(self._failures, 1), _MAX_STEP), None, self._random)
        return 0.0 if delay is None else delay

    def _note_failure(self, error: BaseException) -> None:
        self._failures += 1
        now = self._clock.monotonic()
        self._retry_at = now + self._backoff_delay()
        if now - self._last_log >= _LOG_EVERY:
            self._last_log = now
            # The error's type and message, never an event's contents.
            _log.warning(
                "%s events: publishing to %s failed (%s: %s); %d events held",
                self._codec.kind,
                self._topic,
                type(error).__name__,
                error,
                self.backlog,
            )

    # ----------------------------------------------------------------------------------- the disk

    async def _spill(self) -> BaseException | None:
        """Move the buffer to a spill file. On failure the events go back to the buffer; returns the error."""
        async with self._disk:
            await self._count_spilled()
            if not self._buffer:
                return None
            events = list(self._buffer)
            self._buffer.clear()
            self._spilling = len(events)
            # Shielded: a cancelled publisher must not leave the events neither in memory nor counted on disk.
            error = await asyncio.shield(asyncio.to_thread(self._write, events))
            self._spilling = 0
            if error is None:
                self._spilled = (self._spilled or 0) + len(events)
            else:
                self._buffer.extendleft(reversed(events))
                _log.warning(
                    "%s events: spilling %d events to %s failed (%s: %s)",
                    self._codec.kind,
                    len(events),
                    self.spill_dir,
                    type(error).__name__,
                    error,
                )
            return error

    def _write(self, events: list[E]) -> BaseException | None:
        with self._io:
            try:
                self._files.append(b"".join([event.to_json_bytes() + b"\n" for event in events]))
                self._files.seal()
            except Exception as exc:
                return exc
            return None

    async def _count_spilled(self) -> None:
        if self._spilled is None:
            self._spilled = await asyncio.to_thread(self._count_files)

    def _count_files(self) -> int:
        """Events in the spill files (after sealing those whose writers died), for `backlog`."""
        with self._io:
            if not self.spill_dir.is_dir():
                return 0
            self._files.recover()
            count = 0
            for path in self.spill_dir.glob(SEGMENT_GLOB):
                with contextlib.suppress(FileNotFoundError):
                    count += path.read_bytes().count(b"\n")
            return count

    async def _resend(self, deadline: float) -> None:
        """Publish the spill files, one at a time; each is removed once all its messages are acknowledged."""
        async with self._disk:
            await self._count_spilled()
            paths = await asyncio.to_thread(lambda: sorted(self.spill_dir.glob(SEGMENT_GLOB)))
            for path in paths:
                claimed = await asyncio.to_thread(_claim, path, self._codec)
                if claimed is None:
                    continue
                fd, events = claimed
                try:
                    if not await self._publish_all(events, deadline):
                        return
                    await asyncio.to_thread(path.unlink, missing_ok=True)
                    self._spilled = max(0, (self._spilled or 0) - len(events))
                finally:
                    os.close(fd)

    async def _publish_all(self, events: list[E], deadline: float) -> bool:
        try:
            futures = [asyncio.wrap_future(self._publish(event)) for event in events]
        except Exception as exc:
            self._note_failure(exc)
            return False
        try:
            async with asyncio.timeout(max(0.0, deadline - self._clock.monotonic())):
                results = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError as exc:
            self._note_failure(exc)
            return False
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            self._note_failure(errors[0])
            return False
        return True


def _claim(path: Path, codec: Codec[E]) -> tuple[int, list[E]] | None:
    """Lock a spill file and read its events, or None when another sender holds it or it is gone.

    The returned descriptor holds the lock until closed. Lines that do not parse as events (a damaged
    file) are logged by position and skipped: they can never be published.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(fd).st_nlink == 0:
            raise FileNotFoundError(path)  # re-sent and removed by another sender while we waited
        with os.fdopen(os.dup(fd), "rb") as file:
            lines = file.read().splitlines()
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    events = []
    for number, line in enumerate(lines, start=1):
        try:
            events.append(codec.parse(line))
        except ValueError as exc:
            _log.error(
                "%s events: %s line %d is not an event (%s); skipped", codec.kind, path.name, number, type(exc).__name__
            )
    return fd, events
