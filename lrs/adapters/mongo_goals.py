"""Goals in MongoDB: the definitions (`goals`, written by the API) and goal progress
(`progress_goals`, written by the goal-progress consumer), plus the member reads goal progress
needs (the registry `teams` and `progress_learners`). docs/decisions/0019-goals.md.

`goals`: `{_id: "<tenant>/<goalId>", owner_key, updated, ...Goal.as_json()}`; writes are
conditional on the version read, like the team registry.
`progress_goals`: `{_id: "<tenant>/<goalId>", tenant, goal, owner_key, value, members: [learner
ids], version, next_check_at: datetime | None, updated}`; compare-and-set on `version`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from lrs.adapters.mongo_bulk import bulk_compare_and_set, compare_and_set
from lrs.adapters.mongo_progress import SealedFacts, state_from_mongo, team_links
from lrs.goals import Goal, goal_from_doc, goal_to_doc
from lrs.ports.goals import GoalProgressDoc
from lrs.progress import LearnerState

Doc = dict[str, Any]


def goal_doc_id(tenant: str, goal_id: str) -> str:
    return f"{tenant}/{goal_id}"


class MongoGoalStore:
    """The goal definitions of every tenant (`goals`)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._goals = db["goals"]

    async def create_indexes(self) -> None:
        await self._goals.create_index([("tenant", ASCENDING), ("owner_key", ASCENDING)])

    async def get(self, tenant: str, goal_id: str) -> Goal | None:
        doc = await self._goals.find_one({"_id": goal_doc_id(tenant, goal_id)})
        return goal_from_doc(doc) if doc else None

    async def create(self, goal: Goal) -> bool:
        """Insert; False when the goal id exists in the tenant."""
        try:
            await self._goals.insert_one(goal_to_doc(goal))
        except DuplicateKeyError:
            return False
        return True

    async def replace(self, expected_version: int, goal: Goal) -> bool:
        """Overwrite only if the stored version is `expected_version`."""
        found = {"_id": goal_doc_id(goal.tenant, goal.goal_id), "version": expected_version}
        result = await self._goals.replace_one(found, goal_to_doc(goal))
        return result.matched_count == 1

    async def list_goals(
        self, tenant: str, owner_key: str | None = None, *, archived: bool = False
    ) -> list[Goal]:
        query: Doc = {"tenant": tenant}
        if owner_key is not None:
            query["owner_key"] = owner_key
        if not archived:
            query["archived"] = {"$ne": True}
        cursor = self._goals.find(query).sort("_id", ASCENDING)
        return [goal_from_doc(d) async for d in cursor]

    async def goal_ids_for(self, tenant: str, owner_keys: Collection[str]) -> list[str]:
        """Ids of the live (not archived) goals of these owners."""
        query = {"tenant": tenant, "owner_key": {"$in": sorted(owner_keys)}, "archived": False}
        return [d["goalId"] async for d in self._goals.find(query, {"goalId": 1})]


def goal_progress_from_mongo(doc: Mapping[str, Any]) -> GoalProgressDoc:
    return GoalProgressDoc(
        tenant=doc["tenant"],
        goal=doc["goal"],
        value=doc.get("value") or {},
        members=tuple(doc.get("members") or ()),
        version=int(doc.get("version") or 0),
        next_check_at=doc.get("next_check_at"),
        owner_key=doc.get("owner_key", ""),
    )


def goal_progress_to_mongo(progress: GoalProgressDoc, updated: datetime) -> Doc:
    return {
        "_id": goal_doc_id(progress.tenant, progress.goal),
        "tenant": progress.tenant,
        "goal": progress.goal,
        "owner_key": progress.owner_key,
        "value": dict(progress.value),
        "members": list(progress.members),
        "version": progress.version,
        "next_check_at": progress.next_check_at,
        "updated": updated,
    }


class MongoGoalProgress:
    """Goal progress documents, and the reads that find a goal's members and their states."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._progress = db["progress_goals"]
        self._learners = db["progress_learners"]
        self._sealed = SealedFacts(db)
        self._registry = db["teams"]

    async def create_indexes(self) -> None:
        await self._progress.create_index([("tenant", ASCENDING), ("owner_key", ASCENDING)])
        await self._progress.create_index([("tenant", ASCENDING), ("members", ASCENDING)])
        await self._progress.create_index([("next_check_at", ASCENDING)])

    async def load(self, tenant: str, goals: Collection[str]) -> dict[str, GoalProgressDoc]:
        wanted = [goal_doc_id(tenant, g) for g in goals]
        cursor = self._progress.find({"_id": {"$in": wanted}})
        return {d["goal"]: goal_progress_from_mongo(d) async for d in cursor}

    async def save(self, docs: Sequence[GoalProgressDoc], updated: datetime) -> set[str]:
        """Compare-and-set each on the version it was read at; the goals whose write lost."""
        ops = [
            compare_and_set(
                goal_doc_id(d.tenant, d.goal), d.version - 1, goal_progress_to_mongo(d, updated)
            )
            for d in docs
        ]
        failed = await bulk_compare_and_set(self._progress, ops)
        return {docs[i].goal for i in failed}

    async def listed(
        self, tenant: str, owner_key: str | Collection[str] | None
    ) -> list[GoalProgressDoc]:
        """The tenant's goal progress, of one owner, of any of several, or of every owner."""
        query: Doc = {"tenant": tenant}
        if isinstance(owner_key, str):
            query["owner_key"] = owner_key
        elif owner_key is not None:
            query["owner_key"] = {"$in": sorted(owner_key)}
        cursor = self._progress.find(query).sort("_id", ASCENDING)
        return [goal_progress_from_mongo(d) async for d in cursor]

    async def goals_listing_any(self, tenant: str, learners: Collection[str]) -> list[str]:
        """Goals whose last computation counted any of these learners as a member (one query
        for a batch's learners, not one per learner)."""
        if not learners:
            return []
        query = {"tenant": tenant, "members": {"$in": sorted(learners)}}
        return [d["goal"] async for d in self._progress.find(query, {"goal": 1})]

    async def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(tenant, goal) of the goals whose status may have changed with the time by `now`,
        the longest due first (a limit never leaves the oldest waiting behind newer ones)."""
        query = {"next_check_at": {"$ne": None, "$lte": now}}
        found = self._progress.find(query, {"tenant": 1, "goal": 1})
        cursor = found.sort("next_check_at", ASCENDING).limit(limit)
        return [(d["tenant"], d["goal"]) async for d in cursor]

    # --- members -----------------------------------------------------------------------------

    # The membership rule of goals, from both sides: a learner is a member of a team when the
    # registry lists them (the team not deleted) or their progress document lists the team
    # (`progress_learners.teams`, the teams their statements name), as team progress counts.

    async def team_members(self, tenant: str, team: str) -> set[str]:
        """The team's members by the membership rule above."""
        members: set[str] = set()
        doc = await self._registry.find_one(
            {"_id": f"{tenant}/{team}"}, {"members": 1, "deleted": 1}
        )
        if doc and not doc.get("deleted"):
            members.update(doc.get("members") or ())
        query = {"tenant": tenant, "links": {"$in": team_links([team])}}
        members.update([d["learner"] async for d in self._learners.find(query, {"learner": 1})])
        return members

    async def learner_teams(self, tenant: str, learner: str) -> set[str]:
        """The learner's teams by the membership rule above (the inverse of `team_members`)."""
        query = {"tenant": tenant, "members": learner}
        cursor = self._registry.find(query, {"team": 1, "deleted": 1})
        teams = {d["team"] async for d in cursor if not d.get("deleted")}
        doc = await self._learners.find_one({"_id": f"{tenant}/{learner}"}, {"teams": 1})
        teams.update((doc or {}).get("teams") or ())
        return teams

    async def tenant_members(self, tenant: str) -> set[str]:
        """Every learner with progress in the tenant, and every registry member."""
        members = {
            d["learner"] async for d in self._learners.find({"tenant": tenant}, {"learner": 1})
        }
        async for d in self._registry.find({"tenant": tenant}, {"members": 1, "deleted": 1}):
            if not d.get("deleted"):
                members.update(d.get("members") or ())
        return members

    async def states(self, tenant: str, learners: Collection[str]) -> dict[str, LearnerState]:
        """The stored learner states, every live fact in (learners without progress are left
        out)."""
        wanted = [f"{tenant}/{learner}" for learner in learners]
        fields = {"learner": 1, "state": 1, "chunks": 1}
        docs = [d async for d in self._learners.find({"_id": {"$in": wanted}}, fields)]
        return {d["learner"]: state_from_mongo(d) for d in await self._sealed.whole(docs, fields)}


class MongoGoalProgressReader:
    """What the API reads of goal progress (lrs.services.goals.GoalProgressReader)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._progress = MongoGoalProgress(db)

    async def read_progress(self, tenant: str, owner_key: str | None) -> list[dict[str, Any]]:
        return [doc.published() for doc in await self._progress.listed(tenant, owner_key)]

    async def read_progress_of(
        self, tenant: str, owner_keys: Collection[str]
    ) -> list[dict[str, Any]]:
        return [doc.published() for doc in await self._progress.listed(tenant, owner_keys)]

    async def learner_teams(self, tenant: str, learner: str) -> set[str]:
        return await self._progress.learner_teams(tenant, learner)
