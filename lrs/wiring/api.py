"""The API process's adapters: MongoDB stores, the Kafka bus, and the live feed into the
progress hub and the acknowledgement wait, connected in the app's lifespan and closed when it
ends. `create_connected_app` is the app `lrs api` serves (tests build `create_app` on
in-memory adapters instead)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from lrs import topics
from lrs.adapters.doorbell import Doorbell
from lrs.adapters.kafka_bus import KafkaEventBus
from lrs.adapters.kafka_dead_letters import KafkaDeadLetters
from lrs.adapters.kafka_progress_feed import KafkaProgressFeed
from lrs.adapters.mongo_attachments import MongoAttachmentStore
from lrs.adapters.mongo_definitions import MongoActivityStore, MongoAgentStore
from lrs.adapters.mongo_documents import MongoDocumentStore
from lrs.adapters.mongo_goals import MongoGoalProgressReader, MongoGoalStore
from lrs.adapters.mongo_organisation import MongoOrganisationReader
from lrs.adapters.mongo_store import (
    MongoCredentialStore,
    MongoStatementStore,
    connect,
    wait_until_reachable,
)
from lrs.adapters.mongo_teams import MongoProgressReader, MongoTeamRegistry
from lrs.adapters.mongo_tenants import MongoTenantStore
from lrs.adapters.mongo_webhooks import MongoWebhookStore
from lrs.adapters.stored_waiters import StoredWaiters
from lrs.api.app import Adapters, create_app, utc_now
from lrs.services.progress_hub import Kind, ProgressHub
from lrs.settings import LrsSettings
from lrs.wiring.doorbell import listening
from lrs.wiring.erasure import connected_erasure, erasure_store
from lrs.wiring.signals import on_feed_rewind


def create_connected_app(
    settings: LrsSettings, *, clock: Callable[[], datetime] = utc_now
) -> FastAPI:
    """The API on the configured Kafka and MongoDB (connected when the app starts)."""
    return create_app(settings, connect=connected_adapters, clock=clock)


def feed_topics(settings: LrsSettings) -> dict[str, Kind]:
    return {
        settings.topic(topics.LEARNER_PROGRESS): "learner",
        settings.topic(topics.TEAM_PROGRESS): "team",
        settings.topic(topics.TEAMS): "registry",
        settings.topic(topics.GOAL_PROGRESS): "goal",
        settings.topic(topics.ORGANISATION_PROGRESS): "organisation",
    }


@asynccontextmanager
async def connected_adapters(settings: LrsSettings) -> AsyncIterator[Adapters]:
    """Real adapters for the configured Kafka and MongoDB, closed on exit."""
    if not settings.kafka_bootstrap or not settings.mongodb_uri:
        raise RuntimeError(
            "`lrs api` needs LRS_KAFKA_BOOTSTRAP and LRS_MONGODB_URI (or `lrs serve`)"
        )
    async with AsyncExitStack() as stack:
        client = connect(settings.mongodb_uri, answer_within=settings.store_timeout_seconds)
        stack.push_async_callback(client.close)
        await wait_until_reachable(client, settings.startup_wait_seconds)
        db = client[settings.mongodb_database]
        waiters = StoredWaiters()  # woken by the feed (progress_adapters)
        store = MongoStatementStore(db, waiters)
        await store.create_indexes()
        document_store = MongoDocumentStore(db)
        await document_store.create_indexes()
        activities, agents = MongoActivityStore(db), MongoAgentStore(db)
        await activities.create_indexes()
        await agents.create_indexes()
        bell = listening(settings, "api")
        if bell is not None:
            stack.callback(bell.close)
        bus = KafkaEventBus(
            settings.kafka_bootstrap,
            linger_ms=settings.producer_linger_ms,
            timeout_seconds=settings.produce_timeout_seconds,
            on_published=bell.ring if bell is not None else None,
        )
        await bus.start()
        stack.push_async_callback(bus.stop)
        yield Adapters(
            store=store,
            bus=bus,
            credentials=MongoCredentialStore(db),
            documents=document_store,
            attachments=MongoAttachmentStore(db),
            activities=activities,
            agents=agents,
            tenants=MongoTenantStore(db),
            webhooks=MongoWebhookStore(db),
            dead_letters=KafkaDeadLetters(
                settings.kafka_bootstrap,
                settings.topic_prefix,
                on_published=bell.ring if bell is not None else None,
            ),
            erasure=connected_erasure,
            erasure_records=erasure_store,
            **await progress_adapters(settings, db, stack, waiters, bell),
        )


async def progress_adapters(
    settings: LrsSettings,
    db: AsyncDatabase[dict[str, Any]],
    stack: AsyncExitStack,
    waiters: StoredWaiters,
    bell: Doorbell | None = None,
) -> dict[str, Any]:
    """The Mongo registry and progress reader, and the hub fed by a started Kafka feed, which
    also wakes the requests waiting in `waiters` (the feed and the hub's streams are stopped
    when `stack` closes)."""
    assert settings.kafka_bootstrap
    registry = MongoTeamRegistry(db)
    await registry.create_indexes()
    hub = ProgressHub(settings.stream_queue_size)
    feed = KafkaProgressFeed(
        settings.kafka_bootstrap,
        feed_topics(settings),
        hub,
        idle_after=settings.consumer_idle_after_seconds,
        busy_wait_ms=settings.consumer_ack_fetch_wait_ms,
        idle_wait_ms=settings.consumer_idle_fetch_wait_ms,
        # with LRS_ACK_MODE=kafka no request waits for its statements to be stored
        stored=(settings.topic(topics.STORED_STATEMENTS), waiters)
        if settings.ack_mode == "stored"
        else None,
        bell=bell,
        doze_seconds=settings.consumer_doze_seconds,
    )
    # before the start: a broker restarted while the feed connects is then read anew
    stack.callback(on_feed_rewind(feed.rewind))
    await feed.start()
    stack.push_async_callback(feed.stop)
    stack.callback(hub.close)  # runs first: every open stream ends
    goals = MongoGoalStore(db)
    await goals.create_indexes()
    return {
        "team_registry": registry,
        "progress": MongoProgressReader(db),
        "hub": hub,
        "goals": goals,
        "goal_progress": MongoGoalProgressReader(db),
        "organisation_progress": MongoOrganisationReader(db),
    }
