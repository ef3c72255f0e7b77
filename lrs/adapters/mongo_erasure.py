"""MongoDB side of the erasure of a learner (lrs.services.erasure, docs/erasure.md).

Collections of its own:

* `erased_agents`: ``{_id: "<tenant>/<hash>", tenant, hash, erased_at}``, the hash
  (lrs.erasure.agent_hash) of every identifier erased and the time of its last
  erasure; the persister and the progress consumer read it (`MongoErasedAgents`);
* `erasures`: the audit record ``{_id, tenant, agent_hash, requested_by, started_at,
  completed_at, counts, teams}``; `teams` (the teams to recompute) is kept only while the
  erasure runs, so a re-run after a crash still triggers them.

Every step is a query for what still names the learner followed by its removal, so a re-run
finds only what a crashed run left.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING, DESCENDING, DeleteOne, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from lrs.adapters.mongo_progress import (
    CHUNKS,
    GROUP_RANGE,
    LINKS_RECORDED,
    doc_id,
    member_links,
)
from lrs.adapters.mongo_store import agent_keys, filter_keys
from lrs.adapters.mongo_webhooks import MongoWebhookStore
from lrs.erasure import (
    ErasureCounts,
    ErasureRecord,
    learner_ids_naming,
    names_erased,
    redacted,
)
from lrs.xapi.ifi import actor_ifi

Doc = dict[str, Any]
BATCH = 500


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class MongoErasedAgents:
    """The erased-agents list, as the consumers consult it (lrs.services.erasure.ErasedAgents)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._erased: AsyncCollection[Doc] = db["erased_agents"]

    async def erased_at(self, tenant: str, hashes: Sequence[str]) -> dict[str, datetime]:
        if not hashes:
            return {}
        cursor = self._erased.find({"_id": {"$in": [f"{tenant}/{h}" for h in hashes]}})
        return {d["hash"]: _aware(d["erased_at"]) async for d in cursor}


class MongoErasureStore:
    """lrs.services.erasure.ErasureStore on the LRS's database."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._db = db
        self._erased: AsyncCollection[Doc] = db["erased_agents"]
        self._erasures: AsyncCollection[Doc] = db["erasures"]
        self._statements: AsyncCollection[Doc] = db["statements"]
        self._learners: AsyncCollection[Doc] = db["progress_learners"]
        self._migrations: AsyncCollection[Doc] = db["progress_migrations"]
        self._registry: AsyncCollection[Doc] = db["teams"]

    async def create_indexes(self) -> None:
        await self._erasures.create_indexes(
            [IndexModel([("tenant", ASCENDING), ("started_at", DESCENDING)], name="tenant_time")]
        )

    async def begin(
        self, tenant: str, hashes: Sequence[str], requested_by: str, now: datetime
    ) -> ErasureRecord:
        await self._erased.bulk_write(
            [
                UpdateOne(
                    {"_id": f"{tenant}/{h}"},
                    {"$set": {"tenant": tenant, "hash": h}, "$max": {"erased_at": now}},
                    upsert=True,
                )
                for h in hashes
            ],
            ordered=False,
        )
        unfinished = {"tenant": tenant, "agent_hash": hashes[0], "completed_at": None}
        doc = await self._erasures.find_one(unfinished, sort=[("started_at", ASCENDING)])
        if doc is None:
            doc = {
                "_id": uuid.uuid4().hex,
                **unfinished,
                "requested_by": requested_by,
                "started_at": now,
                "counts": {},
                "teams": [],
            }
            await self._erasures.insert_one(doc)
        return _record(doc)

    async def erase_statements(self, tenant: str, identifiers: Sequence[str]) -> tuple[int, int]:
        """Delete the learner's statements, redact the others naming them; batch by batch
        until none is left (every statement naming the learner carries one of the searched
        keys, `agent_keys` of the learner as an Agent or an identified Group; StatementRefs to
        theirs included: they inherit their targets' keys)."""
        wanted = [
            key
            for i in identifiers
            for kind in ("Agent", "Group")
            for key in agent_keys(f"{kind}|{i}")
        ]
        query = {"tenant": tenant, "keys": {"$in": wanted}}
        deleted = changed = 0
        seen: set[str] = set()
        while True:
            docs = await self._statements.find(query, {"id": 1, "keys": 1, "body": 1}).to_list(
                BATCH
            )
            fresh = [d for d in docs if d["_id"] not in seen]
            if not fresh:
                return deleted, changed
            seen.update(d["_id"] for d in fresh)
            ops = [_statement_op(d, identifiers) for d in fresh]
            await self._statements.bulk_write(ops, ordered=False)
            gone = [d for d, op in zip(fresh, ops, strict=True) if isinstance(op, DeleteOne)]
            await self._forget_statement_ids(tenant, [d["id"] for d in gone])
            deleted += len(gone)
            changed += len(fresh) - len(gone)

    async def _forget_statement_ids(self, tenant: str, ids: Sequence[str]) -> None:
        """The progress bookkeeping of deleted statements (ids only, kept for no one now)."""
        if ids:
            doc_ids = [f"{tenant}/{i}" for i in ids]
            for name in ("progress_voids", "progress_statements"):
                await self._db[name].delete_many({"_id": {"$in": doc_ids}})

    async def erase_documents(self, tenant: str, identifiers: Sequence[str]) -> tuple[int, int]:
        ids = list(identifiers)
        documents = await self._db["documents"].delete_many(
            {"tenant": tenant, "agentIfi": {"$in": ids}}
        )
        persons = await self._db["agents"].delete_many({"tenant": tenant, "ifi": {"$in": ids}})
        await MongoWebhookStore(self._db).forget_learners(tenant, ids)  # what is still unsent
        return documents.deleted_count, persons.deleted_count

    async def progress_learners(self, tenant: str, identifiers: Sequence[str]) -> list[str]:
        """The learners named by the identifiers, and the anonymous Groups listing one: two
        reads bounded by indexes (`_id`; the member links of `tenant_links`), since SecantusDB
        runs an `$or` or a range of `_id` as a scan of every learner. Until every learner
        document has its `links` (lrs.adapters.mongo_progress, `learner-links`), every Group is
        read."""
        keys = [doc_id(tenant, identifier) for identifier in identifiers]
        if await self._migrations.find_one({"_id": LINKS_RECORDED}) is None:
            groups: Doc = {"tenant": tenant, "learner": GROUP_RANGE}
        else:
            groups = {"tenant": tenant, "links": {"$in": member_links(identifiers)}}
        found: list[str] = []
        for query in ({"_id": {"$in": keys}}, groups):
            found += [d["learner"] async for d in self._learners.find(query, {"learner": 1})]
        return learner_ids_naming(list(dict.fromkeys(found)), identifiers)

    async def learner_teams(self, tenant: str, learners: Sequence[str]) -> list[str]:
        ids = [f"{tenant}/{learner}" for learner in learners]
        teams: set[str] = set()
        async for d in self._learners.find({"_id": {"$in": ids}}, {"teams": 1, "teams_left": 1}):
            teams.update(d.get("teams") or ())
            teams.update(d.get("teams_left") or ())
        return sorted(teams)

    async def remember_teams(self, erasure_id: str, teams: Sequence[str]) -> list[str]:
        doc = await self._erasures.find_one_and_update(
            {"_id": erasure_id},
            {"$addToSet": {"teams": {"$each": list(teams)}}},
            return_document=True,
        )
        return sorted((doc or {}).get("teams") or ())

    async def erase_progress(self, tenant: str, learners: Sequence[str]) -> tuple[int, int]:
        ids = [f"{tenant}/{learner}" for learner in learners]
        documents = await self._learners.delete_many({"_id": {"$in": ids}})
        theirs = {"tenant": tenant, "learner": {"$in": list(learners)}}
        await self._db[CHUNKS].delete_many(theirs)  # their sealed facts (after: none refer to them)
        owners = await self._db["progress_statements"].delete_many(theirs)
        return documents.deleted_count, owners.deleted_count

    async def registry_teams_listing(self, tenant: str, identifiers: Sequence[str]) -> list[str]:
        query = {"tenant": tenant, "members": {"$in": list(identifiers)}}
        return sorted({d["team"] async for d in self._registry.find(query, {"team": 1})})

    async def erase_goals(self, erasure_id: str, tenant: str, learners: Sequence[str]) -> list[str]:
        owners = [f"learner:{learner}" for learner in learners]
        query = {"tenant": tenant, "owner_key": {"$in": owners}}
        found = [d["goalId"] async for d in self._db["goals"].find(query, {"goalId": 1})]
        doc = await self._erasures.find_one_and_update(
            {"_id": erasure_id}, {"$addToSet": {"goals": {"$each": found}}}, return_document=True
        )
        goals = sorted((doc or {}).get("goals") or ())
        ids = [f"{tenant}/{goal}" for goal in goals]
        await self._db["goals"].delete_many({"_id": {"$in": ids}})
        await self._db["progress_goals"].delete_many({"_id": {"$in": ids}})
        return goals

    async def complete(self, erasure_id: str, counts: ErasureCounts, now: datetime) -> None:
        """Add this run's counts (a resumed erasure adds to what the crashed run recorded:
        nothing, it records only here), mark it completed, drop the team list."""
        increments = {f"counts.{kind}": n for kind, n in counts.as_dict().items()}
        await self._erasures.update_one(
            {"_id": erasure_id},
            {
                "$inc": increments,
                "$set": {"completed_at": now},
                "$unset": {"teams": "", "goals": ""},
            },
        )

    async def list_erasures(self, tenant: str | None) -> list[ErasureRecord]:
        flt: Doc = {} if tenant is None else {"tenant": tenant}
        cursor = self._erasures.find(flt).sort([("started_at", DESCENDING), ("_id", ASCENDING)])
        return [_record(d) async for d in cursor]


def _statement_op(doc: Mapping[str, Any], identifiers: Sequence[str]) -> DeleteOne | UpdateOne:
    """Delete the learner's own statement; otherwise redact the learner out of its body and
    its filter keys (the keys of the redacted body, plus the inherited ones not naming them)."""
    body = orjson.loads(doc["body"])
    if actor_ifi(body.get("actor") or {}) in identifiers:
        return DeleteOne({"_id": doc["_id"]})
    clean = redacted(body, set(identifiers))
    kept = [k for k in doc.get("keys") or () if not names_erased(k, identifiers)]
    keys = list(dict.fromkeys(kept + (filter_keys(clean) if clean != body else [])))
    change: Doc = {"keys": keys}
    if clean != body:
        change["body"] = Binary(orjson.dumps(clean))
    return UpdateOne({"_id": doc["_id"]}, {"$set": change})


def _record(doc: Mapping[str, Any]) -> ErasureRecord:
    completed = doc.get("completed_at")
    return ErasureRecord(
        erasure_id=doc["_id"],
        tenant=doc["tenant"],
        agent_hash=doc["agent_hash"],
        requested_by=doc.get("requested_by", ""),
        started_at=_aware(doc["started_at"]),
        completed_at=_aware(completed) if completed else None,
        counts=dict(doc.get("counts") or {}),
    )
