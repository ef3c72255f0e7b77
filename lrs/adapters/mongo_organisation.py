"""Organisation progress in MongoDB (docs/decisions/0020-organisation-progress.md): the stored
value per tenant (`progress_organisation`, written by the organisation-progress consumer) and
the reads that compute it (`progress_learners`, the registry `teams`, `progress_goals`).

`progress_organisation`: `{_id: "<tenant>", tenant, value, version, next_check_at: datetime,
updated}`; every write is compare-and-set on `version`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from lrs.adapters.mongo_progress import days_fields, doc_id, state_from_mongo, summary_fields
from lrs.ports.organisation import OrganisationDoc, RegistryTeam
from lrs.progress.organisation import LearnerFigures, active_days, figures_of

Doc = dict[str, Any]


def organisation_from_mongo(doc: Mapping[str, Any]) -> OrganisationDoc:
    return OrganisationDoc(
        tenant=doc["tenant"],
        value=doc.get("value") or {},
        version=int(doc.get("version") or 0),
        next_check_at=doc.get("next_check_at"),
    )


class MongoOrganisationProgress:
    """What the organisation-progress consumer reads and writes."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._progress = db["progress_organisation"]
        self._learners = db["progress_learners"]
        self._registry = db["teams"]
        self._goals = db["progress_goals"]

    async def create_indexes(self) -> None:
        await self._progress.create_index([("next_check_at", ASCENDING)])

    async def load(self, tenant: str) -> OrganisationDoc:
        doc = await self._progress.find_one({"_id": tenant})
        return organisation_from_mongo(doc) if doc else OrganisationDoc(tenant)

    async def save(self, doc: OrganisationDoc, updated: datetime) -> bool:
        """Compare-and-set on the version it replaces; False when another write won."""
        body = {
            "_id": doc.tenant,
            "tenant": doc.tenant,
            "value": dict(doc.value),
            "version": doc.version,
            "next_check_at": doc.next_check_at,
            "updated": updated,
        }
        try:
            result = await self._progress.replace_one(
                {"_id": doc.tenant, "version": doc.version - 1}, body, upsert=True
            )
        except DuplicateKeyError:
            return False
        return result.matched_count == 1 or result.upserted_id is not None

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Tenants whose value may have changed with the time by `now`, the longest due
        first."""
        query = {"next_check_at": {"$ne": None, "$lte": now}}
        found = self._progress.find(query, {"tenant": 1})
        cursor = found.sort("next_check_at", ASCENDING).limit(limit)
        return [d["tenant"] async for d in cursor]

    async def learners(self, tenant: str) -> list[LearnerFigures]:
        """Every learner with progress: the days with a live statement, summary rows, teams.

        The days are the document's `days`, not its state: a state holds every statement of
        the learner, so reading every learner's would cost each recomputation the tenant's
        whole history. Only documents written before `days` existed have their state read."""
        return await self._figures({"tenant": tenant})

    async def named_learners(self, tenant: str, learners: Collection[str]) -> list[LearnerFigures]:
        """Those of `learners` with progress, read by `_id`."""
        if not learners:
            return []
        return await self._figures({"_id": {"$in": [doc_id(tenant, x) for x in learners]}})

    async def _figures(self, query: Doc) -> list[LearnerFigures]:
        projection = {"learner": 1, "days": 1, "summary": 1, "teams": 1}
        docs = [d async for d in self._learners.find(query, projection)]
        days = {d["_id"]: days_fields(d) for d in docs}
        days |= await self._days_of_states([key for key, found in days.items() if found is None])
        return [
            figures_of(
                d["learner"],
                days[d["_id"]] or (),
                summary_fields(d).get("activities") or (),
                d.get("teams") or (),
            )
            for d in docs
        ]

    async def _days_of_states(self, keys: list[str]) -> dict[str, frozenset[date] | None]:
        """The days of the stored states of documents without `days` (earlier versions')."""
        if not keys:
            return {}
        cursor = self._learners.find({"_id": {"$in": keys}}, {"learner": 1, "state": 1})
        return {d["_id"]: active_days(state_from_mongo(d)) async for d in cursor}

    async def registry(self, tenant: str) -> list[RegistryTeam]:
        """(team, name, members) of every registry team not deleted."""
        cursor = self._registry.find(
            {"tenant": tenant}, {"team": 1, "name": 1, "members": 1, "deleted": 1}
        )
        return [
            (d["team"], d.get("name"), list(d.get("members") or ()))
            async for d in cursor
            if not d.get("deleted")
        ]

    async def goal_values(self, tenant: str) -> list[Mapping[str, Any]]:
        cursor = self._goals.find({"tenant": tenant}, {"value": 1})
        return [d.get("value") or {} async for d in cursor]


class MongoOrganisationReader:
    """What the API reads (lrs.ports.organisation.OrganisationReader)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._progress = db["progress_organisation"]

    async def read_organisation(self, tenant: str) -> dict[str, Any] | None:
        doc = await self._progress.find_one({"_id": tenant})
        return organisation_from_mongo(doc).published() if doc else None
