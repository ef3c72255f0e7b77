"""Every consumer the LRS runs: its name, the topic it reads and how to build its handler.

`lrs consume NAME` runs one; `lrs serve` runs all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from consumers.persist import PersistHandler
from consumers.progress.learner import LearnerProgressHandler
from consumers.progress.team import TeamProgressHandler, TeamRegistryHandler
from consumers.runner import Handler
from lrs import topics
from lrs.adapters.mongo_definitions import MongoActivityStore, MongoAgentStore
from lrs.adapters.mongo_erasure import MongoErasedAgents
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_store import MongoStatementStore
from lrs.settings import LrsSettings

Database = AsyncDatabase[dict[str, Any]]


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topic: str  # one of lrs.topics' names; the settings' prefix is added
    build: Callable[[Database, LrsSettings], Handler]
    batch_max: Callable[[LrsSettings], int] = lambda s: s.persist_batch_max

    def __post_init__(self) -> None:
        if self.topic not in topics.CONSUMED:  # its dead-letter topic would not exist
            raise ValueError(f"consumer {self.name}: add {self.topic!r} to lrs.topics.CONSUMED")


def _persist(db: Database, settings: LrsSettings) -> Handler:
    activities = MongoActivityStore(db, settings.max_definition_bytes)
    agents = MongoAgentStore(db, settings.max_agent_names)
    return PersistHandler(
        MongoStatementStore(db),
        activities,
        agents,
        prefix=settings.topic_prefix,
        consistency_margin=timedelta(seconds=settings.produce_timeout_seconds),
        erased=MongoErasedAgents(db),
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def _progress(db: Database, settings: LrsSettings) -> Handler:
    return LearnerProgressHandler(
        MongoProgressStore(db),
        utc_now,
        prefix=settings.topic_prefix,
        max_value_bytes=settings.progress_max_value_bytes,
        erased=MongoErasedAgents(db),
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


def _progress_batch(settings: LrsSettings) -> int:
    return settings.progress_batch_max


CONSUMERS: dict[str, ConsumerSpec] = {
    "persist": ConsumerSpec("persist", topics.STATEMENTS, _persist),
    # reads what the persister forwards (what the store holds), not `xapi.statements`
    "progress": ConsumerSpec("progress", topics.STORED_STATEMENTS, _progress, _progress_batch),
    "team-progress": ConsumerSpec(
        "team-progress", topics.TEAM_CHANGES, _team_progress, _progress_batch
    ),
    "team-registry": ConsumerSpec("team-registry", topics.TEAMS, _team_registry, _progress_batch),
}
