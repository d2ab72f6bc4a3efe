"""The Pub/Sub events adapter (shared/events/pubsub_sink.py) against the Pub/Sub emulator, read back with the
official client: concurrent publishing arrives exactly once with its attributes; events produced while the
emulator is down are buffered, spilled to owner-only files and all delivered after it is back; close flushes."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.events.local_sink import SEGMENT_GLOB
from shared.events.port import EventBufferFull, EventSinkError
from shared.events.pubsub_sink import USAGE, Publisher, PubSubSink, event_attributes
from shared.events.schema import UsageEvent
from tests.events.conftest import Channel, open_channel
from tests.pubsub_emulator import PubSubEmulator


def make_event(i: int, *, tenant: str = "app-1", failed: bool = False) -> UsageEvent:
    return UsageEvent(
        ts=datetime(2025, 3, 1, 10, 15, tzinfo=UTC),
        request_id=f"req_{i}",
        tenant=tenant,
        key_id="key-1",
        route="openai",
        provider="ANTHROPIC" if failed else "OPENAI",
        model_requested="gpt-4o",
        model="gpt-4o",
        status="error" if failed else "ok",
        http_status=502 if failed else 200,
        error_kind="api_error" if failed else None,
        attempts=1,
        input_tokens=i,
        output_tokens=10,
        cost_micros=100 + i,
        unpriced=False,
        latency_ms=5,
    )


def pull(
    channel: Channel, expected: int, within: float = 30.0, parse: Callable[[bytes], Any] = UsageEvent.from_json_bytes
) -> list[Any]:
    """Pull and acknowledge until `expected` distinct events arrived; returns every message received."""
    received: list[Any] = []
    seen: set[str] = set()
    deadline = time.monotonic() + within
    while len(seen) < expected:
        assert time.monotonic() < deadline, f"{len(seen)} of {expected} events arrived"
        response = channel.subscriber.pull(
            request={"subscription": channel.subscription, "max_messages": 1000}, timeout=5.0
        )
        if not response.received_messages:
            continue
        channel.subscriber.acknowledge(
            request={"subscription": channel.subscription, "ack_ids": [m.ack_id for m in response.received_messages]}
        )
        for message in response.received_messages:
            received.append(message.message)
            seen.add(parse(message.message.data).event_id)
    return received


def spill_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(SEGMENT_GLOB)) if directory.is_dir() else []


async def eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------------------------------ emulator


async def test_5000_concurrent_events_arrive_exactly_once_with_their_attributes(
    channel: Channel, tmp_path: Path
) -> None:
    sink = PubSubSink(channel.topic, tmp_path / "spill", USAGE)
    events = [make_event(i, tenant=f"app-{i % 7}", failed=i % 5 == 0) for i in range(5000)]

    await asyncio.gather(*(sink.publish(event) for event in events))
    await sink.flush()
    assert sink.backlog == 0

    messages = await asyncio.to_thread(pull, channel, len(events))
    by_id = {event.event_id: event for event in events}
    counts = Counter(UsageEvent.from_json_bytes(m.data).event_id for m in messages)
    assert set(counts) == set(by_id)
    assert [event_id for event_id, n in counts.items() if n > 1] == []
    for message in messages:
        event = UsageEvent.from_json_bytes(message.data)
        assert event == by_id[event.event_id]
        assert dict(message.attributes) == {
            "event_type": "usage",
            "tenant": event.tenant,
            "provider": event.provider,
            "status": event.status,
        }
    assert spill_files(tmp_path / "spill") == []
    await sink.close()


async def test_events_produced_while_the_emulator_is_down_all_arrive_after_it_is_back(
    own_pubsub_emulator: PubSubEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    channel = open_channel(own_pubsub_emulator.host, monkeypatch)
    gate = asyncio.Event()  # the backoff waits until the test lets it go: no send races the re-creation below

    async def gated_sleep(seconds: float) -> None:
        await gate.wait()

    spill = tmp_path / "spill"
    sink = PubSubSink(
        channel.topic, spill, USAGE, max_buffer=20, max_in_flight=10, publish_timeout=0.5, sleep=gated_sleep
    )
    await sink.publish(make_event(1000))
    await sink.flush()  # the channel is up and the sink healthy before the outage
    await asyncio.to_thread(pull, channel, 1)

    own_pubsub_emulator.stop()
    events = [make_event(i) for i in range(100)]
    await asyncio.gather(*(sink.publish(event) for event in events))  # nothing raises
    await eventually(lambda: sink.in_flight == 0)  # every send of the outage has failed back into the buffer

    assert sink.backlog == len(events)
    files = spill_files(spill)
    assert files, "a full buffer spills to disk"
    assert stat.S_IMODE(os.stat(spill).st_mode) == 0o700
    assert {stat.S_IMODE(os.stat(path).st_mode) for path in files} == {0o600}
    spilled = {UsageEvent.from_json_bytes(line).event_id for path in files for line in path.read_bytes().splitlines()}
    assert spilled < {event.event_id for event in events}

    own_pubsub_emulator.start()
    channel.create()  # the emulator keeps topics in memory: a restart loses them
    gate.set()
    await sink.flush()

    messages = await asyncio.to_thread(pull, channel, len(events))
    assert {UsageEvent.from_json_bytes(m.data).event_id for m in messages} == {e.event_id for e in events}
    assert sink.backlog == 0
    assert spill_files(spill) == []
    await sink.close()
    channel.subscriber.close()


async def test_close_flushes_and_a_closed_sink_refuses_events(channel: Channel, tmp_path: Path) -> None:
    sink = PubSubSink(channel.topic, tmp_path / "spill", USAGE)
    events = [make_event(i) for i in range(50)]
    for event in events:
        await sink.publish(event)

    await sink.close()
    await sink.close()  # harmless

    messages = await asyncio.to_thread(pull, channel, len(events))
    assert {UsageEvent.from_json_bytes(m.data).event_id for m in messages} == {e.event_id for e in events}
    with pytest.raises(EventSinkError, match="closed"):
        await sink.publish(make_event(99))


async def test_spill_files_left_by_another_instance_are_sent_by_flush(channel: Channel, tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    gone = PubSubSink(channel.topic, spill, USAGE, flush_timeout=0.2, publisher=failing_publisher, pid=1)
    leftover = [make_event(i) for i in range(30)]
    for event in leftover:
        await gone.publish(event)
    with pytest.raises(EventSinkError):
        await gone.close()  # Pub/Sub unreachable: close spills what it holds
    assert len(spill_files(spill)) == 1

    sink = PubSubSink(channel.topic, spill, USAGE)
    await sink.flush()

    messages = await asyncio.to_thread(pull, channel, len(leftover))
    assert {UsageEvent.from_json_bytes(m.data).event_id for m in messages} == {e.event_id for e in leftover}
    assert spill_files(spill) == []
    await sink.close()


# ------------------------------------------------------------------------------- without a Pub/Sub


class FailingPublisher:
    """Every message fails at once, as when the topic is missing."""

    def publish(self, topic: str, data: bytes, *, retry: Any, timeout: float, **attrs: str) -> Future[str]:
        future: Future[str] = Future()
        future.set_exception(ConnectionError("unreachable"))
        return future

    def stop(self) -> None:
        pass


def failing_publisher(publish_timeout: float) -> tuple[Publisher, Any]:
    return FailingPublisher(), None


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


async def test_a_full_buffer_that_cannot_spill_refuses_the_event(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    sink = PubSubSink(
        "projects/p/topics/t", blocker / "spill", USAGE, max_buffer=5, flush_timeout=0.2, publisher=failing_publisher
    )
    for i in range(5):
        await sink.publish(make_event(i))
    with pytest.raises(EventBufferFull, match="spilling"):
        await sink.publish(make_event(5))
    assert sink.backlog == 5  # the refused event is not counted; none of the others is lost
    with pytest.raises(EventSinkError):
        await sink.close()


async def test_flush_gives_up_within_its_bound_and_reports_the_backlog(tmp_path: Path) -> None:
    sink = PubSubSink(
        "projects/p/topics/t", tmp_path / "spill", USAGE, flush_timeout=0.3, publisher=failing_publisher, sleep=no_sleep
    )
    await sink.publish(make_event(1))
    with pytest.raises(EventSinkError, match="1 not yet published"):
        await sink.flush()
    assert sink.backlog == 1
    with pytest.raises(EventSinkError):
        await sink.close()
    assert sink.backlog == 1  # on disk now, for a later instance
    assert len(spill_files(tmp_path / "spill")) == 1


def test_attributes_leave_out_empty_values() -> None:
    event = UsageEvent(
        ts=datetime(2025, 3, 1, tzinfo=UTC),
        request_id="req_1",
        tenant="",
        key_id="",
        route="seed",
        model_requested="",
        status="error",
        http_status=401,
        error_kind="authentication",
        attempts=0,
        cost_micros=0,
        unpriced=False,
        latency_ms=1,
    )
    assert event_attributes(event) == {"event_type": "usage", "status": "error"}


@pytest.mark.parametrize("topic", ["usage-events", "projects/p/subscriptions/s"])
def test_the_topic_must_be_a_full_name(topic: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="full name"):
        PubSubSink(topic, tmp_path, USAGE)
