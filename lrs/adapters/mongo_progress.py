"""MongoDB adapter of the progress projection (docs/decisions/0006-progress-pipeline.md).

Collections (the contract shared with the progress API):

* `progress_learners`: ``{_id: "<tenant>/<learner>", tenant, learner, state, summary, teams,
  teams_left, days, version, stamp, updated}``, one per learner; `state` is
  `LearnerState.to_dict()` as JSON bytes (earlier versions stored it as a sub-document; both are
  read, `state_from_mongo`): no query looks inside it, and an opaque value costs the store a
  fraction of a nested one to write, read and replicate to its oplog (docs/decisions/0023);
  `summary` is JSON bytes too (a sub-document before; both are read, `summary_fields`);
  `teams_left` are the teams the learner left with this version (their triggers are produced
  again when a batch is re-run after the write); `days` the UTC days with a live statement
  (`active_days` of the state), as JSON bytes of ISO dates: the organisation consumer reads them
  instead of the state, which grows with every statement of the learner (documents of earlier
  versions have none: their readers fall back to the state, `days_fields`); `stamp` a random
  value new with every write of the document (its state then may have changed): a consumer that
  keeps the documents it read or wrote decoded (lrs.adapters.state_cache) loads them from there
  without reading the store, and writes their successors with compare-and-set on the stamp
  they were kept with, which a document changed or deleted by anyone since refuses
  (docs/decisions/0029); `links` what the document is found
  by besides its `_id`: `team|<team>` for each of `teams`, and for an anonymous Group's learner
  `member|<identifier>` for each member (so an erasure finds the Groups naming a learner without
  scanning every learner, lrs.adapters.mongo_erasure), under the one secondary index
  `tenant_links` (tenant, links), whose first field also serves the reads of a whole tenant
  (docs/decisions/0026: every secondary index costs the embedded store about a quarter of a
  millisecond per document written, whether or not the document has an entry in it); `chunks`
  the `_id`s of the learner's chunks of sealed facts (none until the learner has more than
  `LRS_PROGRESS_HELD_FACTS` statements; the state then counts them in its `sealed` tally).
  Documents of versions before 2026-12-02 have `members` (the Group's members as
  `<tenant>/<identifier>`) instead of the member links, and no `links`: the progress store's
  start-up gives them `links` (`learner-links` below).
* `progress_learner_facts`: ``{_id: "<tenant>/<learner>/<stamp>.<n>", tenant, learner, ids,
  facts}``, the chunks of sealed facts (docs/decisions/0025): `facts` JSON bytes of statement
  id -> fact (`StatementFacts.to_dict()`), `ids` the same ids, under the index `tenant_ids` (is
  a statement sealed, whose learner?). A chunk never changes: a learner sealed again gets new
  ones, and the old ones are deleted once the learner document no longer refers to them
  (readers of every fact, `SealedFacts`, read the document again when one has gone). Each seal
  writes a chunk of its own (`<stamp>.s<n>`); the seal that would give a learner MERGE_AT of
  those stores their facts again with its own as merged chunks (`<stamp>.m<n>`), which later
  merges leave alone, as they leave chunks of earlier versions (`<stamp>.<n>`): a learner has
  about one chunk per 250 sealed facts plus at most MERGE_AT - 1 single ones
  (docs/decisions/0031).
* `progress_teams`: ``{_id: "<tenant>/<team>", tenant, team, name, summary, members, version,
  updated}``; `summary` is JSON bytes as a learner's (a sub-document before 2026-12-01; both are
  read, `summary_fields`), `name` the summary's, for listings that read nothing else; `members`
  the sorted member ids as JSON bytes (an array before 2026-12-04; both are read,
  `members_fields`): no query looks inside it, and the embedded store handled each element of
  an array in Python on every write and read of a team (docs/decisions/0023).
* `progress_voids`: ``{_id: "<tenant>/<statement id>", tenant}``, every id a voiding statement
  targeted (remembered even when the target has not arrived yet).
* `statements` (the persister's): only read, to find whose progress a void's target fed (a void
  keyed by another actor); `progress_statements`, where earlier versions recorded that, one
  document per statement, is no longer written (docs/decisions/0014) and only emptied.
* `teams`: the team registry, written by the API; only read here.
* `progress_migrations`: ``{_id, done}``, one document per change of the stored form done once
  for the whole database: `learner-links` once every learner document written before `links`
  existed has them (`create_indexes` does it, then drops the indexes `links` replaced,
  `tenant_teams` and `group_members`; an erasure reads every Group until then);
  `group-members`, recorded by earlier versions, is no longer read.

Progress documents are written with compare-and-set on `version`
(`lrs.adapters.mongo_bulk.compare_and_set`): a writer replaces the version it read, or writes
where there is none; a learner document kept decoded, on its stamp instead (above). A
concurrent change (a cross-learner void, a registry refresh, another instance after a
rebalance) makes the write fail; the caller reloads and re-applies, which is safe because
progress is a function of the set of statements.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING, IndexModel, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from lrs.adapters.mongo_bulk import (
    JournalFence,
    bulk_compare_and_set,
    bulk_write_tolerating_duplicates,
    compare_and_set,
)
from lrs.adapters.state_cache import StateCache, new_stamp
from lrs.erasure import GROUP_PREFIX, group_members
from lrs.outages import TransientFailure
from lrs.ports.progress import CHUNK_FACTS, LearnerDoc, LearnerSummary, TeamDoc
from lrs.progress import LearnerState, StatementFacts, learner_id, voided_target
from lrs.progress.model import unseal
from lrs.progress.organisation import active_days

Doc = dict[str, Any]
BATCH = 500  # statements per read of `statements` in `stored_statements`
EMPTY_STATE = Binary(orjson.dumps({"facts": {}, "voided": []}))  # a reset state (its learner:
# the document's, `state_fields`)
NO_DAYS = Binary(orjson.dumps([]))  # the days of a reset state
# Every learner id of an anonymous Group starts with GROUP_PREFIX ("group:["); "\\" follows
# "[" in code point order, so this range holds exactly those ids.
GROUP_RANGE = {"$gte": GROUP_PREFIX, "$lt": GROUP_PREFIX[:-1] + "\\"}
LINKS_INDEX = "tenant_links"
LINKS_RECORDED = "learner-links"  # in `progress_migrations`
RETIRED_LEARNER_INDEXES = ("tenant_teams", "group_members")  # replaced by LINKS_INDEX
TEAM_LINK, MEMBER_LINK = "team|", "member|"
CHUNKS = "progress_learner_facts"
WHOLE_READS = 5  # reads of a learner whose chunks keep changing before giving up (a 503)
# A learner's chunks written by single seals at most: the seal that would make one more stores
# their facts again with its own, as merged chunks (docs/decisions/0031).
MERGE_AT = 8
# After the last "." of a chunk's `_id`: a small chunk of one seal's facts, to be merged; a
# merged chunk, or one seal's part of CHUNK_FACTS / 2 facts or more, left as it is. Chunks
# written before either (`<stamp>.<n>`, docs/decisions/0025) are left as they are too.
SINGLE_MARK, MERGED_MARK = "s", "m"


def doc_id(tenant: str, entity: str) -> str:
    return f"{tenant}/{entity}"


def learner_links(learner: str, teams: Iterable[str]) -> list[str]:
    """The `links` of a learner document: its teams, and an anonymous Group's members."""
    return [*team_links(teams), *member_links(group_members(learner))]


def team_links(teams: Iterable[str]) -> list[str]:
    """The links of the learner documents listing any of the teams."""
    return [f"{TEAM_LINK}{team}" for team in teams]


def member_links(identifiers: Iterable[str]) -> list[str]:
    """The links of the anonymous Groups' learner documents listing any of the identifiers."""
    return [f"{MEMBER_LINK}{identifier}" for identifier in identifiers]


def state_to_mongo(state: LearnerState) -> Binary:
    """A learner's state as stored: its `to_dict()` as JSON bytes."""
    return Binary(orjson.dumps(state.to_dict()))


def state_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The `to_dict()` form of a `progress_learners` document's state, stored as JSON bytes
    or (earlier versions) as a sub-document; the learner is the document's when the stored
    state does not name it (a rebuild's reset), an empty state when there is none."""
    stored = doc.get("state")
    fields = _json(stored) if isinstance(stored, bytes) else dict(stored or {})
    return {"learner": doc["learner"], **fields}


def _json(stored: bytes) -> dict[str, Any]:
    """A JSON object stored as bytes (see `_loads`)."""
    loaded: dict[str, Any] = _loads(stored)
    return loaded


def _loads(stored: bytes) -> Any:
    """JSON bytes as read (bytes) or as written (a `Binary`, which orjson does not take)."""
    return orjson.loads(stored if type(stored) is bytes else bytes(stored))


def days_to_mongo(state: LearnerState) -> Binary:
    """The UTC days with a live statement of a state, as stored: sorted ISO dates as JSON."""
    return Binary(orjson.dumps(sorted(day.isoformat() for day in active_days(state))))


def days_fields(doc: Mapping[str, Any]) -> frozenset[date] | None:
    """A `progress_learners` document's `days`; None when it has none (written by a version
    before 2026-12-01: the days are then those of its state)."""
    stored = doc.get("days")
    if stored is None:
        return None
    return frozenset(date.fromisoformat(day) for day in _loads(stored))


def summary_to_mongo(summary: Mapping[str, Any]) -> Binary:
    """A learner's (or team's) summary as stored: JSON bytes. As a sub-document (earlier
    versions) a learner document cost the embedded store half as much again to replace and
    several times as much to read, since it handles each element of a sub-document in Python
    (docs/decisions/0006, 0023)."""
    return Binary(orjson.dumps(summary))


def summary_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A `progress_learners` (or `progress_teams`) document's summary, stored as JSON bytes
    or (earlier versions) as a sub-document; empty when there is none."""
    stored = doc.get("summary")
    return _json(stored) if isinstance(stored, bytes) else dict(stored or {})


def state_from_mongo(doc: Mapping[str, Any]) -> LearnerState:
    """The `LearnerState` of a `progress_learners` document (see `state_fields`)."""
    return LearnerState.from_dict(state_fields(doc))


def learner_from_mongo(doc: Mapping[str, Any]) -> LearnerDoc:
    """A `progress_learners` document; without `state` (projected away), an empty state."""
    return LearnerDoc(
        tenant=doc["tenant"],
        learner=doc["learner"],
        state=state_from_mongo(doc),
        teams=tuple(doc.get("teams") or ()),
        summary=summary_fields(doc),
        version=int(doc.get("version") or 0),
        teams_left=tuple(doc.get("teams_left") or ()),
        chunks=tuple(doc.get("chunks") or ()),
    )


def _as_kept(written: Doc, state: LearnerState) -> LearnerDoc:
    """A learner document just written, as a read of it gives it (its state already decoded)."""
    fields = {k: v for k, v in written.items() if k != "state"}
    return replace(learner_from_mongo(fields), state=state)


def learner_to_mongo(
    learner: LearnerDoc, updated: datetime, stamp: str, chunks: Sequence[str] = ()
) -> Doc:
    return {
        "_id": doc_id(learner.tenant, learner.learner),
        "tenant": learner.tenant,
        "learner": learner.learner,
        "state": state_to_mongo(learner.state),
        "summary": summary_to_mongo(learner.summary),
        "teams": list(learner.teams),
        "teams_left": list(learner.teams_left),
        "links": learner_links(learner.learner, learner.teams),
        "days": days_to_mongo(learner.state),
        "version": learner.version,
        "stamp": stamp,
        "updated": updated,
        **({"chunks": list(chunks)} if chunks else {}),
    }


def chunks_to_mongo(
    learner: LearnerDoc, stamp: str, facts: Sequence[StatementFacts], *, merged: bool = False
) -> list[Doc]:
    """The chunk documents of sealed facts of a learner document written with `stamp`: its
    newly sealed facts (`LearnerDoc.sealing`), with those of the chunks they replace when
    `merged`. Each `_id` ends in `.s<n>` (a small part of one seal: `_merges` merges it later)
    or `.m<n>` (merged, or large enough as it is)."""
    base = doc_id(learner.tenant, learner.learner)
    ordered = sorted(facts, key=StatementFacts.sort_key)
    return [
        {
            "_id": f"{base}/{stamp}.{_mark(part, merged)}{n}",
            "tenant": learner.tenant,
            "learner": learner.learner,
            "ids": [f.id for f in part],
            "facts": Binary(orjson.dumps({f.id: f.to_dict() for f in part})),
        }
        for n, part in enumerate(_parts(ordered, CHUNK_FACTS))
    ]


def _mark(part: Sequence[StatementFacts], merged: bool) -> str:
    return MERGED_MARK if merged or len(part) >= CHUNK_FACTS // 2 else SINGLE_MARK


def _with_merged(
    learner: LearnerDoc, merge: tuple[tuple[str, ...], list[StatementFacts]] | None
) -> list[StatementFacts]:
    """A learner document's newly sealed facts, and those of the chunks a merge replaces."""
    return [*learner.sealing, *(merge[1] if merge else ())]


def _single(chunk: str) -> bool:
    """Whether a chunk `_id` is a small part of one seal, which a later seal merges."""
    return chunk.rpartition(".")[2].startswith(SINGLE_MARK)


def _parts(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def chunk_facts(doc: Mapping[str, Any]) -> list[StatementFacts]:
    """The facts of a chunk document."""
    return [StatementFacts.from_dict(sid, f) for sid, f in _json(doc["facts"]).items()]


def members_fields(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """A `progress_teams` document's members, stored as JSON bytes or (earlier versions) as an
    array; none when it has none."""
    stored = doc.get("members")
    return tuple(_json(stored) if isinstance(stored, bytes) else stored or ())


def team_from_mongo(doc: Mapping[str, Any]) -> TeamDoc:
    return TeamDoc(
        tenant=doc["tenant"],
        team=doc["team"],
        summary=summary_fields(doc),
        members=members_fields(doc),
        version=int(doc.get("version") or 0),
    )


def team_to_mongo(team: TeamDoc, updated: datetime) -> Doc:
    return {
        "_id": doc_id(team.tenant, team.team),
        "tenant": team.tenant,
        "team": team.team,
        **({"name": team.summary["name"]} if "name" in team.summary else {}),
        "summary": summary_to_mongo(team.summary),
        "members": Binary(orjson.dumps(list(team.members))),
        "version": team.version,
        "updated": updated,
    }


class SealedFacts:
    """Learner documents with their sealed facts put back in their state: what a reader of
    every live fact of a learner needs (period views, goals, the API's current view).

    A learner sealed again between the read of its document and the read of its chunks has
    new chunks, and the old ones are deleted: its document is then read again."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._learners: AsyncCollection[Doc] = db["progress_learners"]
        self._chunks: AsyncCollection[Doc] = db[CHUNKS]

    async def whole(self, docs: Sequence[Doc], projection: Doc | None = None) -> list[Doc]:
        """`docs` (`progress_learners` documents read with `state` and `chunks`, and
        `projection` when given) whose `state` is then every live fact (`to_dict()` form,
        without `sealed`)."""
        whole: dict[str, Doc] = {d["_id"]: d for d in docs if not d.get("chunks")}
        pending = [d for d in docs if d.get("chunks")]
        for _ in range(WHOLE_READS):
            if not pending:  # (a learner erased meanwhile is left out)
                return [whole[d["_id"]] for d in docs if d["_id"] in whole]
            names = [name for d in pending for name in d["chunks"]]
            cursor = self._chunks.find({"_id": {"$in": names}}, {"facts": 1})
            found = {c["_id"]: c async for c in cursor}
            again = [d["_id"] for d in pending if not set(d["chunks"]) <= found.keys()]
            for d in pending:
                if d["_id"] not in again:
                    whole[d["_id"]] = _with_facts(d, [found[name] for name in d["chunks"]])
            pending = [d async for d in self._learners.find({"_id": {"$in": again}}, projection)]
            whole |= {d["_id"]: d for d in pending if not d.get("chunks")}
            pending = [d for d in pending if d.get("chunks")]
        raise TransientFailure("a learner's progress kept changing while it was read")


def _with_facts(doc: Doc, chunks: Sequence[Doc]) -> Doc:
    """The document with its chunks' facts put back in its state (`unseal`)."""
    whole = unseal(state_from_mongo(doc), [f for c in chunks for f in chunk_facts(c)])
    return {**doc, "state": whole.to_dict(), "chunks": []}


class MongoProgressStore:
    """`lrs.ports.progress.ProgressStore` on MongoDB: learner and team progress, void
    bookkeeping; reads of the team registry and of the persister's `statements`."""

    def __init__(self, db: AsyncDatabase[Doc], states: StateCache | None = None) -> None:
        """`states`: learner documents kept decoded between batches (the progress
        consumer's); without it each load reads and decodes every document (a cache that
        keeps none)."""
        self._states = states if states is not None else StateCache(0)
        self._learners: AsyncCollection[Doc] = db["progress_learners"]
        self._teams: AsyncCollection[Doc] = db["progress_teams"]
        # Learner and team documents: written without a journal sync each, then sealed
        # (lrs.adapters.mongo_bulk.JournalFence: one sync per call instead of one per document).
        # Every save seals, even one with nothing to write: the consumer also publishes the
        # documents it found up to date, which may be unsealed writes (its own, from an attempt
        # whose seal failed, or another writer's); a seal makes every earlier write durable.
        self._fence = JournalFence(db, "progress")
        self._learner_writes = self._fence.unjournaled(self._learners)
        self._team_writes = self._fence.unjournaled(self._teams)
        self._voids: AsyncCollection[Doc] = db["progress_voids"]
        self._owners: AsyncCollection[Doc] = db["progress_statements"]
        self._registry: AsyncCollection[Doc] = db["teams"]
        self._statements: AsyncCollection[Doc] = db["statements"]
        self._migrations: AsyncCollection[Doc] = db["progress_migrations"]
        self._chunks: AsyncCollection[Doc] = db[CHUNKS]
        self._chunk_writes = self._fence.unjournaled(self._chunks)

    async def create_indexes(self) -> None:
        links = IndexModel([("tenant", ASCENDING), ("links", ASCENDING)], name=LINKS_INDEX)
        await self._learners.create_indexes([links])
        await self._record_links()
        await self._teams.create_indexes([IndexModel([("tenant", ASCENDING)], name="tenant")])
        await self._chunks.create_indexes(
            [
                IndexModel([("tenant", ASCENDING), ("ids", ASCENDING)], name="tenant_ids"),
                IndexModel([("tenant", ASCENDING), ("learner", ASCENDING)], name="tenant_learner"),
            ]
        )
        members_index = IndexModel([("tenant", ASCENDING), ("members", ASCENDING)])
        with contextlib.suppress(OperationFailure):  # the API may have made it under its name
            await self._registry.create_indexes([members_index])

    async def _record_links(self) -> None:
        """Once per database: give `links` to every learner document written without them (one
        scan of the learners), say so in `progress_migrations`, then drop the indexes they
        replace. Idempotent: processes starting together may both do it. A process of an
        earlier version still writing meanwhile writes documents without `links`: stop every
        progress consumer of the earlier version first (docs/decisions/0026)."""
        if await self._migrations.find_one({"_id": LINKS_RECORDED}) is None:
            missing = {"links": {"$exists": False}}
            fields = {"learner": 1, "teams": 1}
            ops = [
                UpdateOne(
                    {"_id": d["_id"]},
                    {"$set": {"links": learner_links(d["learner"], d.get("teams") or ())}},
                )
                async for d in self._learners.find(missing, fields)
            ]
            if ops:
                await self._learners.bulk_write(ops, ordered=False)
            await self._migrations.update_one(
                {"_id": LINKS_RECORDED}, {"$set": {"done": True}}, upsert=True
            )
        existing = {ix["name"] async for ix in await self._learners.list_indexes()}
        for retired in set(RETIRED_LEARNER_INDEXES) & existing:
            with contextlib.suppress(OperationFailure):  # another process dropped it first
                await self._learners.drop_index(retired)

    # --- voids and statement owners -------------------------------------------------------

    async def remember_voids(self, tenant: str, targets: Collection[str]) -> None:
        """Record voided ids (idempotent)."""
        docs = [{"_id": doc_id(tenant, t), "tenant": tenant} for t in sorted(targets)]
        await self._insert_ignoring_duplicates(self._voids, docs)

    async def voided_among(self, tenant: str, ids: Collection[str]) -> set[str]:
        if not ids:
            return set()
        wanted = [doc_id(tenant, i) for i in ids]
        cursor = self._voids.find({"_id": {"$in": wanted}}, {"_id": 1})
        return {d["_id"][len(tenant) + 1 :] async for d in cursor}

    async def owners_of(self, tenant: str, ids: Collection[str]) -> dict[str, str]:
        """The learner of each stored non-voiding statement among `ids`, read from the
        `statements` collection (docs/decisions/0014): a statement is there before the
        persister forwards it to progress, so it is "recorded" before progress reads which of
        its ids are voided (write before read, docs/decisions/0006)."""
        if not ids:
            return {}
        wanted = [doc_id(tenant, i) for i in ids]
        owners: dict[str, str] = {}
        cursor = self._statements.find({"_id": {"$in": wanted}, "tenant": tenant}, {"body": 1})
        async for d in cursor:
            body = orjson.loads(d["body"])
            if voided_target(body) is None:
                owners[d["_id"][len(tenant) + 1 :]] = learner_id(body)
        return owners

    # --- sealed facts -----------------------------------------------------------------------

    async def sealed_among(self, tenant: str, ids: Collection[str]) -> set[str]:
        wanted = set(ids)
        cursor = self._chunks.find({"tenant": tenant, "ids": {"$in": sorted(wanted)}}, {"ids": 1})
        return {i async for d in cursor for i in d["ids"] if i in wanted}

    async def sealed_facts(self, doc: LearnerDoc) -> list[StatementFacts]:
        if not doc.chunks:
            return []
        cursor = self._chunks.find({"_id": {"$in": list(doc.chunks)}}, {"facts": 1})
        return [f async for d in cursor for f in chunk_facts(d)]

    # --- learners ---------------------------------------------------------------------------

    async def load_learners(self, tenant: str, learners: Collection[str]) -> dict[str, LearnerDoc]:
        """The documents of `learners`: the kept ones as this store last read or wrote them
        (their write is a compare-and-set on the stamp they were kept with, which refuses it
        if anyone wrote or deleted them since: docs/decisions/0029), the others read."""
        found: dict[str, LearnerDoc] = {}
        missed: list[str] = []
        for key in (doc_id(tenant, learner) for learner in learners):
            entry = self._states.kept(key)
            if entry is None:
                missed.append(key)
            else:
                found[entry[1].learner] = entry[1]
        return {**found, **(await self._read_learners(missed) if missed else {})}

    async def _read_learners(self, ids: list[str]) -> dict[str, LearnerDoc]:
        found: dict[str, LearnerDoc] = {}
        async for d in self._learners.find({"_id": {"$in": ids}}):
            found[d["learner"]] = learner = learner_from_mongo(d)
            if isinstance(d.get("stamp"), str):
                self._states.put(d["_id"], d["stamp"], learner)
        return found

    async def learner_summaries(
        self, tenant: str, learners: Collection[str], teams: Collection[str]
    ) -> dict[str, LearnerSummary]:
        """Summaries and teams of the given learners and of every learner listing the teams.

        Two reads, each bounded by an index (`_id`; `tenant_links`): SecantusDB answers an `$or`
        of the two by scanning every learner document of every tenant, states included. A
        learner both read gives the second, later, answer."""
        projection = {"learner": 1, "summary": 1, "teams": 1}
        wanted = [doc_id(tenant, learner) for learner in learners]
        queries: list[Doc] = [{"_id": {"$in": wanted}}] if wanted else []
        queries += [{"tenant": tenant, "links": {"$in": team_links(teams)}}] if teams else []
        found: dict[str, LearnerSummary] = {}
        for query in queries:
            async for d in self._learners.find(query, projection):
                found[d["learner"]] = _summary(d)
        return found

    async def learners_in_team(self, tenant: str, team: str) -> list[str]:
        query = {"tenant": tenant, "links": {"$in": team_links([team])}}
        return [d["learner"] async for d in self._learners.find(query, {"learner": 1})]

    async def save_learners(self, docs: Sequence[LearnerDoc], updated: datetime) -> set[str]:
        """Compare-and-set each document on the version it was read at; return the learners
        whose write lost to a concurrent one. Sealed facts are stored first, merged with those
        of a learner's single-seal chunks when it has MERGE_AT - 1 of them (`_merges`); chunks
        replaced (merged, or all of a learner's when resealed) are deleted once the document
        no longer refers to them, and a lost write's new ones at once."""
        keys = [doc_id(d.tenant, d.learner) for d in docs]
        stamps = [new_stamp() for _ in docs]
        merges = await self._merges(docs)
        replacing = [
            d.chunks if d.resealed else merges[i][0] if i in merges else ()
            for i, d in enumerate(docs)
        ]
        chunks = [  # a learner sealed again whole: its parts marked by their size
            chunks_to_mongo(d, stamp, _with_merged(d, merges.get(i)), merged=i in merges)
            for i, (d, stamp) in enumerate(zip(docs, stamps, strict=True))
        ]
        if any(chunks):  # stored before the documents that refer to them
            await self._chunk_writes.insert_many([c for new in chunks for c in new])
        refs = [
            [*(c for c in d.chunks if c not in old), *(c["_id"] for c in new)]
            for d, old, new in zip(docs, replacing, chunks, strict=True)
        ]
        written = [
            learner_to_mongo(d, updated, stamp, ref)
            for d, stamp, ref in zip(docs, stamps, refs, strict=True)
        ]
        ops = [
            compare_and_set(key, d.version - 1, new, read_stamp=self._kept_stamp(key, d))
            for key, d, new in zip(keys, docs, written, strict=True)
        ]
        failed = await bulk_compare_and_set(self._learner_writes, ops)
        replaced = [old for i, old in enumerate(replacing) if i not in failed]
        lost = [c["_id"] for i in failed for c in chunks[i]]  # nothing refers to them
        unused = [*lost, *(old for olds in replaced for old in olds)]
        if unused:
            await self._chunk_writes.delete_many({"_id": {"$in": unused}})
        await self._fence.seal()  # even with nothing written: see __init__
        for i, (key, doc, new) in enumerate(zip(keys, docs, written, strict=True)):
            if i in failed:  # what is kept is not what is stored
                self._states.drop(key)
            else:
                self._states.put(key, new["stamp"], _as_kept(new, doc.state))
        return {docs[i].learner for i in failed}

    async def _merges(
        self, docs: Sequence[LearnerDoc]
    ) -> dict[int, tuple[tuple[str, ...], list[StatementFacts]]]:
        """By position, the documents that seal facts while referring to MERGE_AT - 1 or more
        chunks written by single seals: those chunks and their facts, stored again with the
        new ones as merged chunks, so that a learner's chunks grow by one per few hundred
        sealed facts, not by one per seal (docs/decisions/0031). A document one of whose
        chunks has gone (another writer replaced them: its write will be refused) is left
        unmerged."""
        singles = {
            i: names
            for i, d in enumerate(docs)
            if d.sealing
            and not d.resealed
            and len(names := tuple(c for c in d.chunks if _single(c))) + 1 >= MERGE_AT
        }
        if not singles:
            return {}
        wanted = [name for names in singles.values() for name in names]
        cursor = self._chunks.find({"_id": {"$in": wanted}}, {"facts": 1})
        found = {c["_id"]: c async for c in cursor}
        return {
            i: (names, [f for name in names for f in chunk_facts(found[name])])
            for i, names in singles.items()
            if all(name in found for name in names)
        }

    async def stale_among(self, tenant: str, docs: Sequence[LearnerDoc]) -> set[str]:
        """The kept documents among `docs` whose stored stamp is no longer the kept one; they
        are no longer kept (the next load reads them)."""
        kept = {  # key -> (kept stamp, learner)
            key: (entry[0], d.learner)
            for d in docs
            if (entry := self._states.kept(key := doc_id(tenant, d.learner))) is not None
            and entry[1] is d
        }
        if not kept:
            return set()
        stored = {
            s["_id"]: s.get("stamp")
            async for s in self._learners.find({"_id": {"$in": list(kept)}}, {"stamp": 1})
        }
        stale = {key: learner for key, (stamp, learner) in kept.items() if stored.get(key) != stamp}
        for key in stale:
            self._states.drop(key)
        return set(stale.values())

    def _kept_stamp(self, key: str, doc: LearnerDoc) -> str | None:
        """The stamp of the kept document `doc` succeeds, if it succeeds a kept one."""
        entry = self._states.kept(key)
        return entry[0] if entry is not None and entry[1].version == doc.version - 1 else None

    async def reset_learners(self, tenant: str | None) -> None:
        """Empty every learner's state (keeping its version: the next write increments it) and
        forget the void bookkeeping; a rebuild then refills both."""
        reset = {"state": EMPTY_STATE, "days": NO_DAYS, "stamp": new_stamp(), "chunks": []}
        self._states.clear()  # none would be used again (new stamp): free them
        await self._learners.update_many(_tenant_filter(tenant), {"$set": reset})
        await self._chunks.delete_many(_tenant_filter(tenant))
        for collection in (self._voids, self._owners):
            await collection.delete_many(_tenant_filter(tenant))

    async def iterate_learners(self, tenant: str | None) -> AsyncIterator[LearnerDoc]:
        """Every learner document without its state, in `_id` order."""
        cursor = self._learners.find(_tenant_filter(tenant), {"state": 0}).sort("_id", ASCENDING)
        async for doc in cursor:
            yield learner_from_mongo(doc)

    async def count_statements(self, tenant: str | None) -> int:
        return await self._statements.count_documents(_tenant_filter(tenant))

    async def stored_statements(
        self, tenant: str | None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Every stored statement (its `body`) with its tenant, in batches of `BATCH`."""
        wanted = {"tenant": 1, "body": 1}
        cursor = self._statements.find(_tenant_filter(tenant), wanted).batch_size(BATCH)
        async for doc in cursor:
            yield doc["tenant"], orjson.loads(doc["body"])

    async def tenants_and_teams(self, tenant: str | None) -> dict[str, set[str]]:
        """Every team named by a learner document or the registry, by tenant."""
        found: dict[str, set[str]] = {}
        async for d in self._learners.find(_tenant_filter(tenant), {"tenant": 1, "teams": 1}):
            found.setdefault(d["tenant"], set()).update(d.get("teams") or ())
        async for d in self._registry.find(_tenant_filter(tenant), {"tenant": 1, "team": 1}):
            if not d.get("deleted"):
                found.setdefault(d["tenant"], set()).add(d["team"])
        return found

    # --- registry ---------------------------------------------------------------------------

    async def registry_teams_of(
        self, tenant: str, learners: Collection[str]
    ) -> dict[str, set[str]]:
        """The registry teams listing each learner."""
        wanted = set(learners)
        query = {"tenant": tenant, "members": {"$in": sorted(wanted)}}
        teams: dict[str, set[str]] = {}
        async for d in self._registry.find(query, {"team": 1, "members": 1, "deleted": 1}):
            if d.get("deleted"):
                continue
            for member in set(d.get("members") or ()) & wanted:
                teams.setdefault(member, set()).add(d["team"])
        return teams

    async def registry_members(self, tenant: str, teams: Collection[str]) -> dict[str, set[str]]:
        """The registry members of each team (teams not in the registry are left out)."""
        wanted = [doc_id(tenant, t) for t in teams]
        cursor = self._registry.find({"_id": {"$in": wanted}}, {"team": 1, "members": 1})
        found = [d async for d in cursor]
        return {d["team"]: set(d.get("members") or ()) for d in found if not d.get("deleted")}

    # --- teams ------------------------------------------------------------------------------

    async def load_teams(self, tenant: str, teams: Collection[str]) -> dict[str, TeamDoc]:
        wanted = [doc_id(tenant, t) for t in teams]
        cursor = self._teams.find({"_id": {"$in": wanted}})
        return {d["team"]: team_from_mongo(d) async for d in cursor}

    async def save_teams(self, docs: Sequence[TeamDoc], updated: datetime) -> set[str]:
        """Compare-and-set, as `save_learners`; return the teams whose write lost."""
        ops = [
            compare_and_set(doc_id(d.tenant, d.team), d.version - 1, team_to_mongo(d, updated))
            for d in docs
        ]
        failed = await bulk_compare_and_set(self._team_writes, ops)
        await self._fence.seal()  # even with nothing written: see __init__
        return {docs[i].team for i in failed}

    async def iterate_teams(self, tenant: str | None) -> AsyncIterator[TeamDoc]:
        async for doc in self._teams.find(_tenant_filter(tenant)).sort("_id", ASCENDING):
            yield team_from_mongo(doc)

    # --- helpers ----------------------------------------------------------------------------

    async def _insert_ignoring_duplicates(
        self, collection: AsyncCollection[Doc], docs: list[Doc]
    ) -> None:
        await bulk_write_tolerating_duplicates(collection, [InsertOne(d) for d in docs])


def _summary(doc: Mapping[str, Any]) -> LearnerSummary:
    summary = summary_fields(doc) if doc.get("summary") is not None else None
    return LearnerSummary(doc["learner"], summary, tuple(doc.get("teams") or ()))


def _tenant_filter(tenant: str | None) -> Doc:
    return {} if tenant is None else {"tenant": tenant}
