"""What the contract suites share: a fresh database on the session's real (embedded) store,
for the MongoDB side of each `memory`/`mongo` parametrisation, and reading a topic back from
the session's real (embedded) broker, for the Kafka side of a `memory`/`kafka` one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from lrs.adapters.mongo_store import connect
from tests.conftest import Infra

KINDS = ["memory", "mongo"]


@asynccontextmanager
async def fresh_database(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A database of its own on the session's store, dropped afterwards (for use inside a
    parametrised fixture, which cannot ask for an async fixture itself)."""
    infra: Infra = request.getfixturevalue("infra")
    client = connect(infra.mongodb_uri)
    name = f"contract_{uuid.uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


async def read_topic(
    bootstrap: str, topic: str, partitions: int, count: int, within: float = 60
) -> list[Any]:
    """The records of `topic` from its start, partition after partition: once at least `count`
    have come and every partition is read to its end (or `within` seconds passed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: dict[int, list[Any]] = {p: [] for p in range(partitions)}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            for tp, batch in (await consumer.getmany(timeout_ms=200)).items():
                found[tp.partition] += batch
            enough = sum(map(len, found.values())) >= count
            if enough and await _at_end(consumer, tps):
                break
        return [record for p in range(partitions) for record in found[p]]
    finally:
        await consumer.stop()


async def _at_end(consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> bool:
    for tp in tps:
        highwater = consumer.highwater(tp)
        if highwater is None or await consumer.position(tp) < highwater:
            return False
    return True
