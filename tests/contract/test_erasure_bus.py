"""The erasure bus contract (lrs.ports.events.ErasureBus), run against the in-memory bus and
the erasure's Kafka producer on the real (embedded) broker: once `publish` or `tombstones`
returns, its records are on the topic, a tombstone with its key and no value, each key's
records in the order produced."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.kafka_erasure_bus import KafkaErasureBus
from lrs.adapters.memory import InMemoryEventBus
from lrs.ports.events import ErasureBus, OutgoingMessage
from lrs.topics import TopicSpec
from tests.conftest import Infra, unique_name
from tests.contract.conftest import read_topic

PARTITIONS = 2
Record = tuple[bytes, bytes | None]  # key, value (None: a tombstone)


@dataclass
class World:
    bus: ErasureBus
    topic: str
    # The topic's records: at least that many, and all there are.
    records: Callable[[int], Awaitable[list[Record]]]


@pytest.fixture(params=["memory", "kafka"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    topic = unique_name("erasure-bus-")
    if request.param == "memory":
        bus = InMemoryEventBus()

        async def recorded(count: int) -> list[Record]:
            return [(key, value) for t, key, value in bus.records if t == topic]

        yield World(bus, topic, recorded)
        return
    infra: Infra = request.getfixturevalue("infra")
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(topic, PARTITIONS)], 1)
    kafka = KafkaErasureBus(infra.kafka_bootstrap, timeout_seconds=30)
    await kafka.start()

    async def read(count: int) -> list[Record]:
        found = await read_topic(infra.kafka_bootstrap, topic, PARTITIONS, count)
        return [(r.key, r.value) for r in found]

    try:
        yield World(kafka, topic, read)
    finally:
        await kafka.stop()


def of_key(records: list[Record], key: bytes) -> list[bytes | None]:
    return [value for k, value in records if k == key]


async def test_tombstones_follow_the_values_they_erase_key_by_key(world: World) -> None:
    values = [OutgoingMessage(k, b'{"v": 1}') for k in (b"ann", b"bob", b"cat")]
    await world.bus.publish(world.topic, values)
    await world.bus.tombstones(world.topic, [b"ann", b"bob"])
    await world.bus.publish(world.topic, [OutgoingMessage(b"bob", b'{"v": 2}')])
    records = await world.records(6)
    assert len(records) == 6
    assert of_key(records, b"ann") == [b'{"v": 1}', None]
    assert of_key(records, b"bob") == [b'{"v": 1}', None, b'{"v": 2}']
    assert of_key(records, b"cat") == [b'{"v": 1}']


async def test_no_keys_produce_nothing(world: World) -> None:
    await world.bus.tombstones(world.topic, [])
    await world.bus.publish(world.topic, [OutgoingMessage(b"dan", b"{}")])
    assert await world.records(1) == [(b"dan", b"{}")]
