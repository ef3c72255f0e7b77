"""Every consumer the LRS runs: its name, the topic it reads and how to build its handler.

`lrs consume NAME` runs one; `lrs serve` runs all of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase

from consumers.clocked import ClockedOptions
from consumers.goals import (
    GoalProgressHandler,
    GoalTeamTriggersHandler,
    GoalTriggersHandler,
    LazyBus,
)
from consumers.organisation import (
    Naming,
    OrganisationProgressHandler,
    OrganisationTriggersHandler,
)
from consumers.persist import PersistHandler
from consumers.progress.learner import LearnerProgressHandler
from consumers.progress.team import TeamProgressHandler, TeamRegistryHandler
from consumers.runner import Handler
from consumers.webhooks import (
    DeliveryConfig,
    DeliveryPool,
    ProgressWebhookHandler,
    WebhookHandler,
)
from lrs import topics
from lrs.adapters.kafka_bus import KafkaEventBus
from lrs.adapters.mongo_definitions import KnownDigests, MongoActivityStore, MongoAgentStore
from lrs.adapters.mongo_erasure import MongoErasedAgents
from lrs.adapters.mongo_goals import MongoGoalProgress, MongoGoalStore
from lrs.adapters.mongo_organisation import MongoOrganisationProgress
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_store import MongoStatementStore
from lrs.adapters.mongo_webhooks import MongoWebhookStore
from lrs.adapters.state_cache import StateCache
from lrs.settings import LrsSettings
from lrs.wiring.doorbell import ringer

Database = AsyncDatabase[dict[str, Any]]
# A task the consumer's process runs beside its loop until the event is set (the webhooks'
# delivery workers).
Companion = Callable[[Database, LrsSettings, asyncio.Event], Coroutine[Any, Any, None]]
# How long the broker may hold a consumer's empty fetch (lrs.fetch_pacing): `acknowledgement`
# (a POST waits for it), `live` (a person watching a stream waits for it), `background`.
Pace = Literal["acknowledgement", "live", "background"]


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topic: str  # one of lrs.topics' names; the settings' prefix is added
    build: Callable[[Database, LrsSettings], Handler]
    batch_max: Callable[[LrsSettings], int] = lambda s: s.persist_batch_max
    linger_ms: Callable[[LrsSettings], int] = lambda s: 0
    linger_follows_load: Callable[[LrsSettings], bool] = lambda s: False
    companion: Companion | None = None  # keyword only in use: after main's positional fields
    pace: Pace = "live"

    def __post_init__(self) -> None:
        if self.topic not in topics.CONSUMED:  # its dead-letter topic would not exist
            raise ValueError(f"consumer {self.name}: add {self.topic!r} to lrs.topics.CONSUMED")

    def fetch_waits(self, settings: LrsSettings) -> tuple[int, int]:
        """(busy, idle) longest holds of an empty fetch, in ms, for this consumer's pace."""
        if self.pace == "acknowledgement":
            return settings.consumer_ack_fetch_wait_ms, settings.consumer_idle_fetch_wait_ms
        if self.pace == "live":
            return settings.consumer_fetch_wait_ms, settings.consumer_idle_fetch_wait_ms
        return (
            settings.consumer_background_fetch_wait_ms,
            settings.consumer_background_idle_fetch_wait_ms,
        )


def persisted_definitions(
    db: Database, settings: LrsSettings
) -> tuple[MongoActivityStore, MongoAgentStore]:
    """The persister's Activity and Agent stores: the Agents it read or merged remembered,
    and the Activities too when it is their only writer, one persister reading every
    partition (`lrs serve`; docs/decisions/0030)."""
    known = settings.persist_known_definitions
    sole_writer = settings.consumer_assignment == "all"
    activities = MongoActivityStore(
        db, settings.max_definition_bytes, KnownDigests(known) if sole_writer else None
    )
    return activities, MongoAgentStore(db, settings.max_agent_names, KnownDigests(known))


def _persist(db: Database, settings: LrsSettings) -> Handler:
    # one persister reading every partition (lrs serve): no other writer races its inserts
    sole_writer = settings.consumer_assignment == "all"
    activities, agents = persisted_definitions(db, settings)
    return PersistHandler(
        MongoStatementStore(db, sole_writer=sole_writer),
        activities,
        agents,
        prefix=settings.topic_prefix,
        consistency_margin=timedelta(seconds=settings.produce_timeout_seconds),
        erased=MongoErasedAgents(db),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def _progress(db: Database, settings: LrsSettings) -> Handler:
    kept = StateCache(settings.progress_state_cache_facts)  # learner states kept decoded
    return LearnerProgressHandler(
        MongoProgressStore(db, kept),
        utc_now,
        prefix=settings.topic_prefix,
        max_value_bytes=settings.progress_max_value_bytes,
        erased=MongoErasedAgents(db),
        held_facts=settings.progress_held_facts,
    )


def _team_progress(db: Database, settings: LrsSettings) -> Handler:
    return TeamProgressHandler(
        MongoProgressStore(db),
        utc_now,
        prefix=settings.topic_prefix,
        max_value_bytes=settings.progress_max_value_bytes,
    )


def _team_registry(db: Database, settings: LrsSettings) -> Handler:
    return TeamRegistryHandler(MongoProgressStore(db), utc_now, prefix=settings.topic_prefix)


def _goal_triggers(db: Database, settings: LrsSettings) -> Handler:
    return GoalTriggersHandler(
        MongoGoalStore(db), MongoGoalProgress(db), utc_now, prefix=settings.topic_prefix
    )


def _goal_teams(db: Database, settings: LrsSettings) -> Handler:
    return GoalTeamTriggersHandler(MongoGoalStore(db), utc_now, prefix=settings.topic_prefix)


def _own_bus(settings: LrsSettings) -> LazyBus:
    """A bus of a handler's own for its clock's triggers (the runner's producer is for a
    batch's outputs); it connects on first use."""
    assert settings.kafka_bootstrap
    bootstrap = settings.kafka_bootstrap
    return LazyBus(
        lambda: KafkaEventBus(
            bootstrap,
            linger_ms=settings.producer_linger_ms,
            timeout_seconds=settings.produce_timeout_seconds,
            on_published=ringer(settings),
        )
    )


def _clocked_options(settings: LrsSettings) -> ClockedOptions:
    """The options of goal-progress and organisation-progress (consumers.clocked)."""
    return ClockedOptions(prefix=settings.topic_prefix, clock_seconds=settings.goals_clock_seconds)


def _goal_progress(db: Database, settings: LrsSettings) -> Handler:
    """The clock's triggers go through a bus of the handler's own (_own_bus)."""
    bus = _own_bus(settings)
    return GoalProgressHandler(
        MongoGoalStore(db),
        MongoGoalProgress(db),
        utc_now,
        bus.publish,
        options=_clocked_options(settings),
    )


def _organisation_triggers(name: str, names: Naming) -> Callable[[Database, LrsSettings], Handler]:
    """`names`: what the triggers say of the learners (docs/decisions/0034)."""

    def build(db: Database, settings: LrsSettings) -> Handler:
        return OrganisationTriggersHandler(name, utc_now, prefix=settings.topic_prefix, names=names)

    return build


def _organisation_progress(db: Database, settings: LrsSettings) -> Handler:
    """Like goal-progress: the clock's triggers go through a bus of the handler's own."""
    bus = _own_bus(settings)
    return OrganisationProgressHandler(
        MongoOrganisationProgress(db),
        utc_now,
        bus.publish,
        options=_clocked_options(settings),
        held_kb=settings.organisation_held_mb * 1024,
    )


def _progress_batch(settings: LrsSettings) -> int:
    return settings.progress_batch_max


def _webhooks(db: Database, settings: LrsSettings) -> Handler:
    return WebhookHandler(
        MongoWebhookStore(db), MongoProgressStore(db), utc_now, MongoErasedAgents(db)
    )


def _learner_progress_webhooks(db: Database, settings: LrsSettings) -> Handler:
    return ProgressWebhookHandler(MongoWebhookStore(db), utc_now, "learner", MongoErasedAgents(db))


def _team_progress_webhooks(db: Database, settings: LrsSettings) -> Handler:
    return ProgressWebhookHandler(MongoWebhookStore(db), utc_now, "team")


async def _webhook_delivery(db: Database, settings: LrsSettings, stop: asyncio.Event) -> None:
    store = MongoWebhookStore(db)
    await DeliveryPool(store, DeliveryConfig.of(settings), utc_now).run(stop)


def _progress_linger(settings: LrsSettings) -> int:
    return settings.progress_linger_ms


def _progress_linger_follows_load(settings: LrsSettings) -> bool:
    return settings.progress_linger_follows_load


def _organisation_linger(settings: LrsSettings) -> int:
    return settings.organisation_linger_ms


def _persist_linger(settings: LrsSettings) -> int:
    return settings.persist_linger_ms


CONSUMERS: dict[str, ConsumerSpec] = {
    "persist": ConsumerSpec(
        "persist",
        topics.STATEMENTS,
        _persist,
        linger_ms=_persist_linger,
        pace="acknowledgement",
    ),
    # reads what the persister forwards (what the store holds), not `xapi.statements`
    "progress": ConsumerSpec(
        "progress",
        topics.STORED_STATEMENTS,
        _progress,
        _progress_batch,
        _progress_linger,
        _progress_linger_follows_load,
    ),
    "team-progress": ConsumerSpec(
        "team-progress",
        topics.TEAM_CHANGES,
        _team_progress,
        _progress_batch,
        _progress_linger,
        _progress_linger_follows_load,
    ),
    "team-registry": ConsumerSpec(
        "team-registry", topics.TEAMS, _team_registry, _progress_batch, pace="background"
    ),
    # records matching statements per subscription (an outbox); its companion delivers them
    "webhooks": ConsumerSpec(
        "webhooks",
        topics.STORED_STATEMENTS,
        _webhooks,
        companion=_webhook_delivery,
        pace="background",
    ),
    # record progress changes for subscriptions with `progress` (delivered by the above)
    "webhooks-learner-progress": ConsumerSpec(
        "webhooks-learner-progress",
        topics.LEARNER_PROGRESS,
        _learner_progress_webhooks,
        pace="background",
    ),
    "webhooks-team-progress": ConsumerSpec(
        "webhooks-team-progress", topics.TEAM_PROGRESS, _team_progress_webhooks, pace="background"
    ),
    # goals (docs/decisions/0019): learner changes -> goal triggers -> goal progress
    "goal-triggers": ConsumerSpec(
        "goal-triggers", topics.LEARNER_PROGRESS, _goal_triggers, _progress_batch
    ),
    "goal-teams": ConsumerSpec(
        "goal-teams", topics.TEAMS, _goal_teams, _progress_batch, pace="background"
    ),
    "goal-progress": ConsumerSpec(
        "goal-progress", topics.GOAL_CHANGES, _goal_progress, _progress_batch
    ),
    # organisation progress (docs/decisions/0020): learner, team and goal changes -> one
    # trigger per tenant -> the tenant's summary
    "organisation-learners": ConsumerSpec(
        "organisation-learners",
        topics.LEARNER_PROGRESS,
        _organisation_triggers("organisation-learners", "keys"),
        _progress_batch,
        pace="background",
    ),
    "organisation-teams": ConsumerSpec(
        "organisation-teams",
        topics.TEAM_PROGRESS,
        _organisation_triggers("organisation-teams", "none"),
        _progress_batch,
        pace="background",
    ),
    "organisation-goals": ConsumerSpec(
        "organisation-goals",
        topics.GOAL_PROGRESS,
        _organisation_triggers("organisation-goals", "none"),
        _progress_batch,
        pace="background",
    ),
    "organisation-progress": ConsumerSpec(
        "organisation-progress",
        topics.ORGANISATION_CHANGES,
        _organisation_progress,
        _progress_batch,
        _organisation_linger,
        pace="background",
    ),
}
