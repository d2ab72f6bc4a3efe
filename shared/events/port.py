"""The events port: where the service core hands its one usage event per request (architecture, Ports).

`EventSink` is the Protocol every adapter meets: the embedded `LocalSegmentSink` (shared.events.local_sink)
and, later, the batching Pub/Sub publisher. `MemorySink` keeps events in a list for unit tests of the
service core.

The contract, whatever the backend:
- `publish` is on the request's hot path, so it only enqueues; writing happens in the background.
- Nothing is dropped silently. An event a sink cannot accept makes `publish` raise `EventSinkError`
  (the caller decides what the request does about it); a batch that fails to write is kept and retried.
- `flush` writes (and makes visible) everything accepted so far, or raises `EventSinkError` with the
  events still held. `close` flushes and stops the background work; calling it again is harmless.
"""

from __future__ import annotations

from typing import Protocol

from shared.errors import GatewayError
from shared.events.schema import UsageEvent

__all__ = ["EventBufferFull", "EventSink", "EventSinkError", "JsonEvent", "MemorySink", "pubsub_topic"]


class EventSinkError(GatewayError):
    """Usage events could not be written (or accepted). 503: recording, not the caller, is at fault."""

    status = 503


class EventBufferFull(EventSinkError):
    """The sink's bounded buffer is full and writing it out failed: the event was not accepted."""


class JsonEvent(Protocol):
    """An event that writes itself as one compact JSON object (usage and audit events)."""

    def to_json_bytes(self) -> bytes: ...


def pubsub_topic(project: str | None, topic_id: str) -> str:
    """The full name of topic `topic_id` for EVENTS_BACKEND=pubsub; a missing project is a SettingsError."""
    from shared.settings import SettingsError

    if not project:
        raise SettingsError("GOOGLE_CLOUD_PROJECT_ID", "EVENTS_BACKEND=pubsub needs the project of the topics")
    return f"projects/{project}/topics/{topic_id}"


class EventSink(Protocol):
    @property
    def backlog(self) -> int:
        """Events accepted and not yet written (or acknowledged): reported to the live metrics."""
        ...

    async def publish(self, event: UsageEvent) -> None:
        """Accept one event. Must be fast (enqueue only); raises `EventSinkError` rather than drop it."""
        ...

    async def flush(self) -> None:
        """Write everything accepted so far, now."""
        ...

    async def close(self) -> None:
        """Flush and stop background work. Idempotent."""
        ...


class MemorySink:
    """Collects published events in `events`, in order. Set `error` to make the next publishes raise it."""

    def __init__(self) -> None:
        self.events: list[UsageEvent] = []
        self.flushes = 0
        self.closed = False
        self.error: EventSinkError | None = None

    @property
    def backlog(self) -> int:
        return 0

    async def publish(self, event: UsageEvent) -> None:
        if self.error is not None:
            raise self.error
        self.events.append(event)

    async def flush(self) -> None:
        self.flushes += 1

    async def close(self) -> None:
        self.closed = True
