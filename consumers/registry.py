"""Every consumer the LRS runs: its name, the topic it reads and how to build its handler.

`lrs consume NAME` runs one; `lrs serve` runs all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from consumers.persist import PersistHandler
from consumers.runner import Handler
from lrs import topics
from lrs.adapters.mongo_definitions import MongoActivityStore, MongoAgentStore
from lrs.adapters.mongo_store import MongoStatementStore
from lrs.settings import LrsSettings

Database = AsyncDatabase[dict[str, Any]]


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topic: str  # one of lrs.topics' names; the settings' prefix is added
    build: Callable[[Database, LrsSettings], Handler]
    batch_max: Callable[[LrsSettings], int] = lambda s: s.persist_batch_max


def _persist(db: Database, settings: LrsSettings) -> Handler:
    return PersistHandler(MongoStatementStore(db), MongoActivityStore(db), MongoAgentStore(db))


CONSUMERS: dict[str, ConsumerSpec] = {
    "persist": ConsumerSpec("persist", topics.STATEMENTS, _persist),
}
