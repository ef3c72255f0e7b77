"""The latest stored value behind every key of the compacted topics, read back from MongoDB
(lrs.wiring.republish puts them on a new broker after the embedded one died,
docs/decisions/0010). Each collection is read with the converter of the adapter that writes or
reads it, so the items are those the publishers build their records from.

Only what the store holds is read: a deleted team or an erased learner or goal has no document,
so nothing of it comes back (its publisher's last record was a "deleted" value or a tombstone).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from lrs.adapters.mongo_goals import goal_progress_from_mongo
from lrs.adapters.mongo_organisation import organisation_from_mongo
from lrs.adapters.mongo_progress import learner_from_mongo, team_from_mongo
from lrs.adapters.mongo_teams import team_from_doc
from lrs.goals import Goal, goal_from_doc
from lrs.ports.goals import GoalProgressDoc
from lrs.ports.organisation import OrganisationDoc
from lrs.ports.progress import LearnerDoc, TeamDoc
from lrs.progress.registry import Team

Doc = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Stored(Generic[T]):
    """A collection, how its documents become items, and which of them are live values."""

    name: str
    convert: Callable[[Mapping[str, Any]], T]
    query: Doc = field(default_factory=dict)
    projection: Doc | None = None


LEARNERS: Stored[LearnerDoc] = Stored("progress_learners", learner_from_mongo, {}, {"state": 0})
TEAMS: Stored[TeamDoc] = Stored("progress_teams", team_from_mongo)
REGISTRY: Stored[Team] = Stored("teams", team_from_doc, {"deleted": {"$ne": True}})
GOALS: Stored[Goal] = Stored("goals", goal_from_doc)
GOAL_PROGRESS: Stored[GoalProgressDoc] = Stored("progress_goals", goal_progress_from_mongo)
ORGANISATION: Stored[OrganisationDoc] = Stored("progress_organisation", organisation_from_mongo)


class MongoLatestValues:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._db = db

    async def read(
        self, stored: Stored[T], ids: Sequence[str] | None = None
    ) -> AsyncIterator[tuple[str, T]]:
        """(document id, item) of every live document, or of those of `ids`, in id order."""
        query = stored.query if ids is None else {**stored.query, "_id": {"$in": list(ids)}}
        cursor = self._db[stored.name].find(query, stored.projection).sort("_id", ASCENDING)
        async for doc in cursor:
            yield str(doc["_id"]), stored.convert(doc)
