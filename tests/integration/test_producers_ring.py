"""The buses of `lrs serve` ring the doorbell once per publish, when the broker has
acknowledged the records (docs/decisions/0021, item 8): the event bus (the API's, the clocks',
the replay's), the erasure's (the republish's too) and a replay of dead letters, on the real
broker. Without a ring the
consumers that read those records would go on dozing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lrs import topics
from lrs.adapters.kafka_bus import KafkaEventBus, ensure_topics
from lrs.adapters.kafka_dead_letters import KafkaDeadLetters
from lrs.adapters.kafka_erasure_bus import KafkaErasureBus
from lrs.ports.dead_letters import DeadLetter
from lrs.ports.events import OutgoingMessage
from lrs.topics import TopicSpec
from tests.conftest import Infra, unique_name

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(infra: Infra) -> str:
    name = unique_name("rings")
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(name, 1)], 1)
    return name


async def test_the_event_bus_rings_after_each_acknowledged_publish(
    infra: Infra, topic: str
) -> None:
    rings: list[str] = []
    bus = KafkaEventBus(
        infra.kafka_bootstrap,
        linger_ms=0,
        timeout_seconds=30,
        on_published=lambda: rings.append("rung"),
    )
    await bus.start()
    try:
        await bus.publish(topic, [OutgoingMessage(key=b"k", value=b"{}")] * 2)
        assert rings == ["rung"]
        await bus.publish(topic, [OutgoingMessage(key=b"k", value=b"{}")])
        assert rings == ["rung", "rung"]
    finally:
        await bus.stop()


async def test_the_erasure_bus_rings_after_records_and_after_tombstones(
    infra: Infra, topic: str
) -> None:
    rings: list[str] = []
    bus = KafkaErasureBus(infra.kafka_bootstrap, 30, on_published=lambda: rings.append("rung"))
    await bus.start()
    try:
        await bus.publish(topic, [OutgoingMessage(key=b"k", value=b"{}")])
        assert rings == ["rung"]
        await bus.tombstones(topic, [b"k"])
        assert rings == ["rung", "rung"]
    finally:
        await bus.stop()


async def test_a_replay_of_dead_letters_rings_once_they_are_produced(
    infra: Infra, topic: str
) -> None:
    rings: list[str] = []
    letters = KafkaDeadLetters(infra.kafka_bootstrap, "", on_published=lambda: rings.append("rung"))
    letter = DeadLetter(
        topic=topics.dlq(topic),
        partition=0,
        offset=0,
        time=datetime.now(UTC),
        key=b"k",
        value=b"{}",
        headers=((topics.HEADER_ORIGINAL_TOPIC, topic.encode()),),
    )
    assert await letters.replay([]) == 0
    assert rings == []  # nothing produced, nothing to wake anyone for
    assert await letters.replay([letter]) == 1
    assert rings == ["rung"]
