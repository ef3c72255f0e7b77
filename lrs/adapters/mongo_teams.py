"""MongoDB adapters of the progress API: the team registry (`teams`, written here) and the
derived progress (`progress_learners`, `progress_teams`, written by the progress consumers).

Registry document (one per tenant and team)::

    {_id: "<tenant>/<team>", tenant, team, name, members: [learner ids],
     names: [{learner, name}], version: int, updated: datetime}

`names` is a list of pairs, not a map: learner ids contain dots, which MongoDB field names
must not. The index `(tenant, members)` answers "which teams list this learner".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from lrs.adapters.mongo_progress import (
    SealedFacts,
    members_fields,
    state_fields,
    summary_fields,
)
from lrs.ports.progress import LearnerProgressDoc, TeamProgressDoc
from lrs.progress.registry import Team

Doc = dict[str, Any]
TEAMS = "teams"
PROGRESS_LEARNERS = "progress_learners"
PROGRESS_TEAMS = "progress_teams"


def doc_id(tenant: str, entity: str) -> str:
    return f"{tenant}/{entity}"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def team_to_doc(team: Team) -> Doc:
    return {
        "_id": doc_id(team.tenant, team.team),
        "tenant": team.tenant,
        "team": team.team,
        "name": team.name,
        "members": list(team.members),
        "names": [{"learner": k, "name": v} for k, v in sorted(team.names.items())],
        "version": team.version,
        "updated": team.updated,
    }


def team_from_doc(doc: Mapping[str, Any]) -> Team:
    return Team(
        tenant=doc["tenant"],
        team=doc["team"],
        name=doc.get("name", ""),
        updated=_aware(doc["updated"]),
        members=tuple(doc.get("members") or ()),
        names={n["learner"]: n["name"] for n in doc.get("names") or ()},
        version=int(doc.get("version", 1)),
    )


class MongoTeamRegistry:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._teams: AsyncCollection[Doc] = db[TEAMS]

    async def create_indexes(self) -> None:
        await self._teams.create_indexes(
            [
                IndexModel([("tenant", ASCENDING), ("members", ASCENDING)]),
                IndexModel([("tenant", ASCENDING), ("team", ASCENDING)]),
            ]
        )

    async def get(self, tenant: str, team: str) -> Team | None:
        doc = await self._teams.find_one({"_id": doc_id(tenant, team)})
        return None if doc is None else team_from_doc(doc)

    async def list_teams(self, tenant: str) -> list[Team]:
        cursor = self._teams.find({"tenant": tenant}).sort("team", ASCENDING)
        return [team_from_doc(doc) async for doc in cursor]

    async def teams_of(self, tenant: str, learner: str) -> list[str]:
        cursor = self._teams.find({"tenant": tenant, "members": learner}, {"team": 1})
        return sorted([doc["team"] async for doc in cursor])

    async def teams_of_members(self, tenant: str, learners: Sequence[str]) -> dict[str, list[str]]:
        """One query on the `(tenant, members)` index, whatever the number of learners."""
        if not learners:
            return {}
        wanted = set(learners)
        query = {"tenant": tenant, "members": {"$in": sorted(wanted)}}
        found: dict[str, list[str]] = {}
        async for doc in self._teams.find(query, {"team": 1, "members": 1}):
            for learner in wanted.intersection(doc.get("members") or ()):
                found.setdefault(learner, []).append(doc["team"])
        return {learner: sorted(teams) for learner, teams in found.items()}

    async def create(self, team: Team) -> bool:
        try:
            await self._teams.insert_one(team_to_doc(team))
        except DuplicateKeyError:
            return False
        return True

    async def replace(self, expected_version: int, team: Team) -> bool:
        result = await self._teams.replace_one(
            {"_id": doc_id(team.tenant, team.team), "version": expected_version},
            team_to_doc(team),
        )
        return result.matched_count == 1

    async def delete(self, tenant: str, team: str) -> Team | None:
        doc = await self._teams.find_one_and_delete({"_id": doc_id(tenant, team)})
        return None if doc is None else team_from_doc(doc)

    async def ping(self) -> None:
        await self._teams.database.command("ping")


def learner_from_doc(doc: Mapping[str, Any]) -> LearnerProgressDoc:
    return LearnerProgressDoc(
        learner=doc["learner"],
        state=state_fields(doc),
        summary=summary_fields(doc),
        teams=list(doc.get("teams") or ()),
        version=int(doc.get("version", 0)),
    )


class MongoProgressReader:
    """Reads what the progress consumers wrote: point lookups by `_id`, and the scans of one
    tenant the organisation overview makes."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._learners: AsyncCollection[Doc] = db[PROGRESS_LEARNERS]
        self._teams: AsyncCollection[Doc] = db[PROGRESS_TEAMS]
        self._sealed = SealedFacts(db)

    async def learner(self, tenant: str, learner: str) -> LearnerProgressDoc | None:
        doc = await self._learners.find_one({"_id": doc_id(tenant, learner)})
        return None if doc is None else learner_from_doc(doc)

    async def learners(self, tenant: str, learners: Sequence[str]) -> dict[str, LearnerProgressDoc]:
        found = [learner_from_doc(doc) for doc in await self._read(tenant, learners)]
        return {doc.learner: doc for doc in found}

    async def whole_learners(
        self, tenant: str, learners: Sequence[str]
    ) -> dict[str, LearnerProgressDoc]:
        docs = await self._sealed.whole(await self._read(tenant, learners))
        found = [learner_from_doc(doc) for doc in docs]
        return {doc.learner: doc for doc in found}

    async def _read(self, tenant: str, learners: Sequence[str]) -> list[Doc]:
        if not learners:
            return []
        ids = [doc_id(tenant, learner) for learner in learners]
        return [doc async for doc in self._learners.find({"_id": {"$in": ids}})]

    async def team(self, tenant: str, team: str) -> TeamProgressDoc | None:
        doc = await self._teams.find_one({"_id": doc_id(tenant, team)})
        return None if doc is None else team_progress_from_doc(doc)

    async def summaries(self, tenant: str, limit: int) -> list[Mapping[str, Any]]:
        query = self._learners.find({"tenant": tenant}, {"summary": 1, "updated": 1})
        cursor = query.sort("updated", DESCENDING).limit(limit)
        summaries = [summary_fields(doc) async for doc in cursor]
        return [summary for summary in summaries if summary]

    async def teams(self, tenant: str) -> list[TeamProgressDoc]:
        # the name alone: `name` beside a summary stored as bytes, `summary.name` in a summary
        # stored as a sub-document (before 2026-12-01)
        fields = {"team": 1, "members": 1, "version": 1, "name": 1, "summary.name": 1}
        return [
            team_progress_from_doc(d) async for d in self._teams.find({"tenant": tenant}, fields)
        ]


def team_progress_from_doc(doc: Mapping[str, Any]) -> TeamProgressDoc:
    summary = summary_fields(doc)
    if not summary and "name" in doc:
        summary = {"name": doc["name"]}  # a listing's projection (`teams`)
    return TeamProgressDoc(
        team=doc["team"],
        summary=summary,
        members=list(members_fields(doc)),
        version=int(doc.get("version", 0)),
    )
