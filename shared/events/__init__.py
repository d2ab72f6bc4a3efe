"""Usage events: the schema (one event per request), the events port, and the embedded segment-file sink.

The Pub/Sub adapter joins these in a later issue; everything here is importable without a cloud client.
"""

from __future__ import annotations

from shared.events.local_sink import SEGMENT_GLOB, LocalSegmentSink, SegmentFiles
from shared.events.port import EventBufferFull, EventSink, EventSinkError, MemorySink
from shared.events.schema import TOKEN_FIELDS, Route, SeedProvider, Status, UsageEvent

__all__ = [
    "SEGMENT_GLOB",
    "TOKEN_FIELDS",
    "EventBufferFull",
    "EventSink",
    "EventSinkError",
    "LocalSegmentSink",
    "MemorySink",
    "Route",
    "SeedProvider",
    "SegmentFiles",
    "Status",
    "UsageEvent",
]
