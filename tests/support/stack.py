"""An LRS running in the test process on the real broker and store: the API app (driven
through httpx's ASGI transport) and the persist consumer as an asyncio task."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo.asynchronous.database import AsyncDatabase

from consumers.persist import PersistHandler
from consumers.runner import Handler, Runner, RunnerConfig
from lrs import topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.mongo_erasure import MongoErasedAgents
from lrs.adapters.mongo_store import MongoCredentialStore, MongoStatementStore, connect
from lrs.fetch_pacing import Bell
from lrs.services.auth import ensure_bootstrap_credential
from lrs.settings import LrsSettings
from lrs.wiring.api import create_connected_app
from lrs.wiring.consumers import persisted_definitions
from tests.conftest import Infra

KEY, SECRET = "test-key", "test-secret"


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def xapi_headers(version: str = "1.0.3", key: str = KEY, secret: str = SECRET) -> dict[str, str]:
    return {"X-Experience-API-Version": version, "Authorization": basic(key, secret)}


def make_settings(kafka: str, mongo: str, namespace: str, **overrides: Any) -> LrsSettings:
    return LrsSettings(
        kafka_bootstrap=kafka,
        mongodb_uri=mongo,
        mongodb_database=f"lrs_{namespace}",
        topic_prefix=f"{namespace}.",
        statement_partitions=4,
        consumer_group_prefix=namespace,
        consumer_session_timeout_ms=6000,
        **overrides,
    )


async def prepared_settings(
    infra: Infra, namespace: str, tenant: str = "default", **overrides: Any
) -> LrsSettings:
    """A module's settings (make_settings) with its topics, indexes and credential ready."""
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, namespace, **overrides)
    await prepare_infra(settings, tenant)
    return settings


async def prepare_infra(settings: LrsSettings, tenant: str = "default") -> None:
    """Topics, indexes and the test credential."""
    assert settings.kafka_bootstrap
    assert settings.mongodb_uri
    specs = topics.topic_specs(settings.topic_prefix, settings.statement_partitions)
    await ensure_topics(settings.kafka_bootstrap, specs, 1)
    client = connect(settings.mongodb_uri)
    try:
        db = client[settings.mongodb_database]
        await MongoStatementStore(db).create_indexes()
        await ensure_bootstrap_credential(
            MongoCredentialStore(db),
            tenant=tenant,
            base_url="http://testserver",
            now=datetime.now(UTC),
            key=KEY,
            secret=SECRET,
            only_if_empty=False,
        )
    finally:
        await client.close()


@dataclass
class Persister:
    """The persist consumer as a task of this event loop."""

    runner: Runner
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.runner.stop_event.set()
        await asyncio.wait_for(self.task, 15)


@contextlib.asynccontextmanager
async def database(settings: LrsSettings) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """The LRS's database, on a client of its own, closed afterwards."""
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        yield client[settings.mongodb_database]
    finally:
        await client.close()


def persist_handler(settings: LrsSettings, db: Any) -> PersistHandler:
    """The persist handler as `lrs.consumers` builds it: the configured topic prefix (its
    forwards go to this LRS's topics), definition bounds, and the memory of the Agents (and,
    reading every partition, the Activities) it read or merged (docs/decisions/0030)."""
    activities, agents = persisted_definitions(db, settings)
    return PersistHandler(
        MongoStatementStore(db),
        activities,
        agents,
        prefix=settings.topic_prefix,
        erased=MongoErasedAgents(db),
    )


@contextlib.asynccontextmanager
async def running_persister(settings: LrsSettings, **config: Any) -> AsyncIterator[Persister]:
    """The persister; `config`: RunnerConfig fields, and `bell` (Runner.bell)."""
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    db = client[settings.mongodb_database]
    handler = persist_handler(settings, db)
    try:
        async with running_consumer(settings, handler, **config) as persister:
            yield persister
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def running_consumer(
    settings: LrsSettings,
    handler: Handler,
    topic: str = topics.STATEMENTS,
    bell: Bell | None = None,
    **config: Any,
) -> AsyncIterator[Persister]:
    """Any handler on the shared runner, as a task of this event loop (group named after the
    handler, as `lrs consume` names it)."""
    assert settings.kafka_bootstrap
    runner = Runner(
        RunnerConfig(
            bootstrap=settings.kafka_bootstrap,
            topic=settings.topic(topic),
            group_id=f"{settings.consumer_group_prefix}-{handler.name}",
            session_timeout_ms=settings.consumer_session_timeout_ms,
            **config,
        ),
        handler,
        bell=bell,
    )
    persister = Persister(runner, asyncio.create_task(runner.run()))
    try:
        yield persister
    finally:
        if not persister.task.done():
            await persister.stop()


@contextlib.asynccontextmanager
async def running(runners: Sequence[Runner]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Each runner as a task; at the end each is asked to stop and awaited."""
    tasks = [asyncio.create_task(r.run()) for r in runners]
    try:
        yield tasks
    finally:
        for r in runners:
            r.stop_event.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


@contextlib.asynccontextmanager
async def api_client(settings: LrsSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_connected_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def commit_as(settings: LrsSettings, consumer: str, topic: str, ends: dict[int, int]) -> None:
    """Commit the group of `consumer` (lrs/wiring/consumers.py) at `ends` (partition: offset) on
    `topic` (full name), as the consumers under `lrs serve` commit: assigned, not subscribed."""
    group = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"{settings.consumer_group_prefix}-{consumer}",
        enable_auto_commit=False,
    )
    await group.start()
    try:
        partitions = [TopicPartition(topic, p) for p in ends]
        group.assign(partitions)
        await group.commit({tp: ends[tp.partition] for tp in partitions})
    finally:
        await group.stop()
