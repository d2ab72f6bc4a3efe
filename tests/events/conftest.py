"""The Pub/Sub emulator for the events tests: PUBSUB_EMULATOR_HOST when it answers, else cloudbox started for
the session from `.venv-pubsub` (built by `make tools`); a missing emulator fails the tests, never skips them.
Tests that stop and restart the emulator get one of their own. Each test gets its own topic and subscription."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests import pubsub_emulator
from tests.pubsub_emulator import PubSubEmulator

PROJECT = "demo-gateway-test"


def _started(context: contextlib.AbstractContextManager[Any]) -> Iterator[Any]:
    """Enter `context` for a fixture, turning a missing or broken emulator into a failure (not a skip)."""
    stack = contextlib.ExitStack()
    try:
        value = stack.enter_context(context)
    except RuntimeError as error:
        failure = str(error)
    else:
        with stack:
            yield value
        return
    pytest.fail(failure, pytrace=False)


@pytest.fixture(scope="session")
def pubsub_host() -> Iterator[str]:
    yield from _started(pubsub_emulator.pubsub_host())


@pytest.fixture
def own_pubsub_emulator() -> Iterator[PubSubEmulator]:
    """An emulator only this test uses, so it may stop and restart it."""
    yield from _started(pubsub_emulator.run_pubsub_emulator())


@dataclass(frozen=True, slots=True)
class Channel:
    """A topic with one pull subscription on an emulator, and the official clients to reach them."""

    topic: str
    subscription: str
    publisher: Any  # google.cloud.pubsub_v1.PublisherClient (untyped)
    subscriber: Any  # google.cloud.pubsub_v1.SubscriberClient

    def create(self) -> None:
        """Create the topic and the subscription (again, after an emulator restart: it keeps them in memory)."""
        self.publisher.create_topic(name=self.topic)
        self.subscriber.create_subscription(name=self.subscription, topic=self.topic, ack_deadline_seconds=60)


def open_channel(host: str, monkeypatch: pytest.MonkeyPatch) -> Channel:
    """A fresh channel on `host`. The Google clients (the sink's too) read PUBSUB_EMULATOR_HOST when built."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined, import-untyped, unused-ignore]

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
    name = uuid.uuid4().hex[:12]
    channel = Channel(
        topic=f"projects/{PROJECT}/topics/usage-{name}",
        subscription=f"projects/{PROJECT}/subscriptions/usage-{name}",
        publisher=pubsub_v1.PublisherClient(),
        subscriber=pubsub_v1.SubscriberClient(),
    )
    channel.create()
    return channel


@pytest.fixture
def channel(pubsub_host: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Channel]:
    opened = open_channel(pubsub_host, monkeypatch)
    yield opened
    opened.subscriber.close()
