"""Composition of the progress API's parts (registry, progress reads, live stream), kept out
of `lrs.api.app` so the composition root stays short."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from lrs import topics
from lrs.adapters.kafka_progress_feed import KafkaProgressFeed
from lrs.adapters.mongo_goals import MongoGoalProgressReader, MongoGoalStore
from lrs.adapters.mongo_teams import MongoProgressReader, MongoTeamRegistry
from lrs.ports.events import EventBus
from lrs.ports.goals import GoalProgressReader, GoalStore
from lrs.ports.progress import ProgressReader
from lrs.ports.teams import TeamRegistry
from lrs.services.goals import GoalDeps
from lrs.services.progress import ProgressDeps
from lrs.services.progress_hub import Kind, ProgressHub
from lrs.services.teams import TeamDeps
from lrs.settings import LrsSettings


def feed_topics(settings: LrsSettings) -> dict[str, Kind]:
    return {
        settings.topic(topics.LEARNER_PROGRESS): "learner",
        settings.topic(topics.TEAM_PROGRESS): "team",
        settings.topic(topics.TEAMS): "registry",
        settings.topic(topics.GOAL_PROGRESS): "goal",
    }


async def progress_adapters(
    settings: LrsSettings, db: AsyncDatabase[dict[str, Any]], stack: AsyncExitStack
) -> dict[str, Any]:
    """The Mongo registry and progress reader, and the hub fed by a started Kafka feed (the
    feed and the hub's streams are stopped when `stack` closes)."""
    assert settings.kafka_bootstrap
    registry = MongoTeamRegistry(db)
    await registry.create_indexes()
    hub = ProgressHub(settings.stream_queue_size)
    feed = KafkaProgressFeed(settings.kafka_bootstrap, feed_topics(settings), hub)
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
    }


def team_deps(
    settings: LrsSettings, registry: TeamRegistry, bus: EventBus, clock: Callable[[], datetime]
) -> TeamDeps:
    return TeamDeps(registry=registry, bus=bus, clock=clock, topic=settings.topic(topics.TEAMS))


def goal_deps(
    settings: LrsSettings,
    store: GoalStore,
    progress: GoalProgressReader,
    bus: EventBus,
    clock: Callable[[], datetime],
) -> GoalDeps:
    return GoalDeps(
        store=store,
        progress=progress,
        bus=bus,
        clock=clock,
        goals_topic=settings.topic(topics.GOALS),
        changes_topic=settings.topic(topics.GOAL_CHANGES),
    )


def progress_deps(
    settings: LrsSettings,
    progress: ProgressReader,
    registry: TeamRegistry,
    hub: ProgressHub,
    clock: Callable[[], datetime],
) -> ProgressDeps:
    secret = settings.stream_token_secret
    return ProgressDeps(
        progress=progress,
        registry=registry,
        hub=hub,
        clock=clock,
        token_secret=secret.encode() if secret else secrets.token_bytes(32),
        token_ttl=timedelta(seconds=settings.stream_token_ttl_seconds),
        keepalive_seconds=settings.stream_keepalive_seconds,
        retry_ms=settings.stream_retry_ms,
    )
