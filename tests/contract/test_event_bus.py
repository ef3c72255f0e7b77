"""The event bus contract (lrs.ports.events.EventBus), run against the in-memory fake and the
Kafka bus on the real (embedded) broker: once `publish` returns, every message is on its topic
with its key, value and headers, the messages of one key in the order given."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from lrs.adapters.kafka_bus import KafkaEventBus, ensure_topics
from lrs.adapters.memory import InMemoryEventBus
from lrs.ports.events import EventBus, OutgoingMessage
from lrs.topics import TopicSpec
from tests.conftest import Infra, unique_name
from tests.contract.conftest import read_topic

PARTITIONS = 3
Record = tuple[bytes, bytes, tuple[tuple[str, bytes], ...]]  # key, value, headers


@dataclass
class World:
    bus: EventBus
    topics: tuple[str, str]
    # A topic's messages: at least that many, and all there are.
    published: Callable[[str, int], Awaitable[list[Record]]]


@pytest.fixture(params=["memory", "kafka"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    names = (unique_name("bus-a-"), unique_name("bus-b-"))
    if request.param == "memory":
        bus = InMemoryEventBus()

        async def recorded(topic: str, count: int) -> list[Record]:
            return [(m.key, m.value, tuple(m.headers)) for t, m in bus.published if t == topic]

        yield World(bus, names, recorded)
        return
    infra: Infra = request.getfixturevalue("infra")
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(n, PARTITIONS) for n in names], 1)
    kafka = KafkaEventBus(infra.kafka_bootstrap, linger_ms=5, timeout_seconds=30)
    await kafka.start()

    async def read(topic: str, count: int) -> list[Record]:
        found = await read_topic(infra.kafka_bootstrap, topic, PARTITIONS, count)
        return [(r.key, r.value, tuple(r.headers)) for r in found]

    try:
        yield World(kafka, names, read)
    finally:
        await kafka.stop()


def message(key: str, n: int) -> OutgoingMessage:
    headers = [("ce_id", f"{key}-{n}".encode()), ("lrs_tenant", b"acme")]
    return OutgoingMessage(key.encode(), b'{"n": %d}' % n, headers)


def of_key(records: list[Record], key: str) -> list[Record]:
    return [r for r in records if r[0] == key.encode()]


async def test_published_messages_are_on_their_topic_in_order_per_key(world: World) -> None:
    first, second = world.topics
    batch = [message(key, n) for n in range(4) for key in ("ann", "bob", "cat")]
    await world.bus.publish(first, batch)
    await world.bus.publish(first, [message("ann", 4)])
    await world.bus.publish(second, [message("dan", 0)])
    on_first = await world.published(first, 13)
    assert len(on_first) == 13
    for key, last in (("ann", 4), ("bob", 3), ("cat", 3)):
        wanted = [message(key, n) for n in range(last + 1)]
        assert of_key(on_first, key) == [(m.key, m.value, tuple(m.headers)) for m in wanted]
    assert await world.published(second, 1) == [
        (b"dan", b'{"n": 0}', tuple(message("dan", 0).headers))
    ]


async def test_publishing_nothing_sends_nothing_and_ping_answers(world: World) -> None:
    first, second = world.topics
    await world.bus.publish(first, [])
    await world.bus.ping()
    await world.bus.publish(second, [message("ann", 1)])
    assert len(await world.published(second, 1)) == 1
    assert await world.published(first, 0) == []
