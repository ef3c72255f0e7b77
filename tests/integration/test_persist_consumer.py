"""The persist consumer on the real broker and store: poison records are dead-lettered without
blocking their partition, redelivery is idempotent, and a kill -9 in the middle of a stream
loses and duplicates nothing that was acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from lrs import topics
from lrs.adapters.mongo_store import connect
from lrs.codec import encode_accepted
from lrs.ports.statements import AcceptedStatement
from lrs.settings import LrsSettings
from lrs.xapi.ifi import actor_ifi
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.processes import consumer_process, reaped
from tests.support.stack import (
    api_client,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration


def accepted(doc: dict[str, object], tenant: str = "default") -> AcceptedStatement:
    now = datetime.now(UTC)
    full = {
        **doc,
        "stored": now.isoformat(),
        "version": "1.0.0",
        "authority": {"mbox": "mailto:a@b.c"},
    }
    return AcceptedStatement(tenant, full, now, actor_ifi(full["actor"]))  # type: ignore[arg-type]


@pytest.fixture
async def settings(infra: Infra) -> LrsSettings:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("p"))
    await prepare_infra(settings)
    return settings


@contextlib.asynccontextmanager
async def producer(settings: LrsSettings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def stored_count(settings: LrsSettings, **flt: object) -> int:
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        return await client[settings.mongodb_database]["statements"].count_documents(flt)
    finally:
        await client.close()


async def wait_for_count(settings: LrsSettings, expected: int, within: float = 30) -> int:
    deadline = asyncio.get_running_loop().time() + within
    count = -1
    while asyncio.get_running_loop().time() < deadline:
        count = await stored_count(settings)
        if count >= expected:
            return count
        await asyncio.sleep(0.2)
    return count


async def read_dlq(
    settings: LrsSettings, expected: int
) -> list[tuple[bytes | None, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        topics.dlq(settings.topic(topics.STATEMENTS)),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=unique_name("dlq-reader"),
    )
    await consumer.start()
    found: list[tuple[bytes | None, dict[str, bytes]]] = []
    try:
        deadline = asyncio.get_running_loop().time() + 20
        while len(found) < expected and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                found += [(r.value, dict(r.headers)) for r in batch]
    finally:
        await consumer.stop()
    return found


async def test_poison_records_go_to_dlq_and_partition_keeps_moving(settings: LrsSettings) -> None:
    topic = settings.topic(topics.STATEMENTS)
    key = topics.statement_key("default", "mbox:mailto:poison@example.org")
    good = [accepted(statement()) for _ in range(3)]
    async with producer(settings) as p:
        await p.send_and_wait(topic, b"{not json", key=key, partition=0)
        await p.send_and_wait(topic, orjson.dumps({"tenant": "x"}), key=key, partition=0)
        for record in good:
            message = encode_accepted(record, source="test")
            await p.send_and_wait(
                topic, message.value, key=key, partition=0, headers=list(message.headers)
            )
    async with running_persister(settings):
        assert await wait_for_count(settings, 3) == 3
        dead = await read_dlq(settings, 2)
    assert [value for value, _ in dead] == [b"{not json", orjson.dumps({"tenant": "x"})]
    for _, headers in dead:
        assert headers[topics.HEADER_ERROR_CLASS] == b"UnusableMessage"
        assert headers[topics.HEADER_ORIGINAL_TOPIC] == topic.encode()
        assert headers[topics.HEADER_ORIGINAL_PARTITION] == b"0"
    assert sorted(h[topics.HEADER_ORIGINAL_OFFSET] for _, h in dead) == [b"0", b"1"]


async def test_redelivered_and_conflicting_records(settings: LrsSettings) -> None:
    topic = settings.topic(topics.STATEMENTS)
    original = accepted(statement())
    conflicting_doc = dict(original.statement)
    conflicting_doc["verb"] = {"id": "http://adlnet.gov/expapi/verbs/failed"}
    conflicting = AcceptedStatement("default", conflicting_doc, original.stored, original.actor_ifi)
    async with producer(settings) as p:
        for record in (original, original, conflicting):
            message = encode_accepted(record, source="test")
            await p.send_and_wait(topic, message.value, key=message.key)
    async with running_persister(settings):
        dead = await read_dlq(settings, 1)
        assert await stored_count(settings) == 1
    assert len(dead) == 1
    assert dead[0][1][topics.HEADER_ERROR_CLASS] == b"StatementConflict"


def persist_process(settings: LrsSettings) -> subprocess.Popen[bytes]:
    return consumer_process(settings, "persist", persist_batch_max="20")


async def test_kill_9_mid_stream_loses_and_duplicates_nothing(infra: Infra) -> None:
    """Acknowledged = in Kafka (ack_mode=kafka), so acks go on while the persister is dead."""
    settings = make_settings(
        infra.kafka_bootstrap, infra.mongodb_uri, unique_name("k"), ack_mode="kafka"
    )
    await prepare_infra(settings)
    acknowledged: list[str] = []
    headers = xapi_headers()

    async def stream(client: httpx.AsyncClient, batches: int) -> None:
        for n in range(batches):
            batch = [statement(learner=f"{n}-{i}") for i in range(10)]
            response = await client.post("/xapi/statements", json=batch, headers=headers)
            assert response.status_code == 200
            acknowledged.extend(response.json())

    async with api_client(settings) as client:
        with reaped(persist_process(settings)) as first:
            writer = asyncio.create_task(stream(client, 60))
            await wait_for_count(settings, 100)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            killed_at = await stored_count(settings)
            await asyncio.sleep(0.5)
            with reaped(persist_process(settings)):
                await writer
                final = await wait_for_count(settings, len(acknowledged), within=60)
    assert len(acknowledged) == 600
    assert 0 < killed_at < 600, "the kill should land mid-stream"
    assert final == len(acknowledged)
    stored_ids = await _stored_ids(settings)
    assert sorted(stored_ids) == sorted(acknowledged)


async def _stored_ids(settings: LrsSettings) -> list[str]:
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        cursor = client[settings.mongodb_database]["statements"].find({}, {"id": 1})
        return [d["id"] async for d in cursor]
    finally:
        await client.close()
