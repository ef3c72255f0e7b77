"""MongoDB adapters: statements (written by the persister, read by the API), credentials,
watermarks.

One statement is one document::

    {_id: "<tenant>/<id>", tenant, id, stored: datetime, voided: bool, voids: id|None,
     ref: id|None, keys: ["agent|...", "verb|...", ..., "ref|<id>"],
     body: <the statement as JSON bytes>}

`keys` holds every filter value (agent, related agent, verb, activity, related activity,
registration, and the authority for `statements/read/mine`) with a prefix, so one multikey
index `(tenant, keys, voided, stored, id)` serves every filter of GET /statements, sorted and
paged by `(stored, id)` in `stored` windows (docs/decisions/0015). A value is written once:
`ragent|` and `ractivity|` hold only the related agents and activities that no `agent|`,
`activity|` or (an Agent's, an identified Group's) `authority|` key already names, and a
related filter asks for any of its prefixes (`_wanted_keys`); each index entry costs the store
about 60 µs per insert (docs/decisions/0027). Documents written before 2026-12-02 also repeat
them under `ragent|` and `ractivity|`, which the same filters find once each. `keys` also
holds a statement's link keys, `voids|<id>` and `ref|<id>` (`link_keys`): the same index finds
the statements voiding or referring to a statement, with no index of its own for either
(docs/decisions/0028). The statement itself is kept as its exact JSON bytes: what was accepted
is what is returned, and extension keys containing dots or dollars never meet MongoDB's
field-name rules. Every query filters by
`tenant` (and `_id`s start with "<tenant>/"; tenant names never contain "/",
`lrs.services.admin.TENANT_NAME`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from bson import Binary
from pymongo import (
    ASCENDING,
    DESCENDING,
    AsyncMongoClient,
    IndexModel,
    InsertOne,
    ReturnDocument,
    UpdateOne,
)
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure

from lrs.adapters.mongo_bulk import bulk_write_tolerating_duplicates
from lrs.adapters.stored_waiters import StoredWaiters
from lrs.codec import accepted_event_id
from lrs.ports.credentials import Credential
from lrs.ports.statements import AcceptedStatement, DuplicateId, InsertReport, StatementPage
from lrs.xapi.index import authority_key, index_statement
from lrs.xapi.query import Cursor, StatementQuery
from lrs.xapi.timefmt import floor_to_millis

log = logging.getLogger("lrs.store")
FALLBACK_POLL = 0.25  # how often a waiter reads the store while no feed tells what is stored
# ... and while one does: a safety net only (the feed wakes the waiter, and wakes every
# waiter when it starts again). Polling as often as FALLBACK_POLL made every slow request
# read the store several times, which made the store slower still under load.
STREAM_POLL = 2.0
# Longest wait for one read of an acknowledgement wait: a read the store does not answer (seen
# once in CI: a SecantusDB connection stalled for minutes behind a change-stream scan while
# other connections were served) is given up and tried again, on another connection, instead
# of holding the POST past its acknowledgement deadline.
ACK_READ_SECONDS = 5.0
MAX_REF_DEPTH = 10
# How long a sole writer reuses the watermarks it read (and raised since): see `watermarks`.
WATERMARK_REUSE_SECONDS = 1.0
AUTHORITY_PREFIX = "authority|"
# The authority key of an anonymous Group (an OAuth application + user pair): its members'
# keys after "Group|" (lrs.xapi.index.authority_key), never an agent a filter names.
ANONYMOUS_AUTHORITY = AUTHORITY_PREFIX + "Group|Agent|"
STORED_INDEX = "tenant_voided_stored_id"
KEYS_INDEX = "tenant_keys_voided_stored_id"
# The link keys of a statement (in `keys`, never a filter's and never inherited): the id a
# voiding statement voids, and the id a StatementRef targets (docs/decisions/0028).
VOIDS_PREFIX = "voids|"
REF_PREFIX = "ref|"
LINK_PREFIXES = (VOIDS_PREFIX, REF_PREFIX)
# Indexes of earlier versions, dropped by `create_indexes` (descending `stored`, and `voided`
# missing from the keys index: neither bounded a page on SecantusDB).
RETIRED_INDEXES = {"tenant_stored", "tenant_keys_stored"}
# Indexes of `voids` and `ref` before their link keys (docs/decisions/0028): while either
# exists, the documents written before may lack their link keys (`_record_link_keys`).
RETIRED_LINK_INDEXES = {"tenant_voids", "tenant_ref"}
Doc = dict[str, Any]


def _raise_marks(marks: dict[int, datetime], caught_up: Mapping[int, datetime]) -> None:
    """`marks` raised to `caught_up` where it is later (watermarks only move forward)."""
    for partition, moment in caught_up.items():
        moment = _aware(moment)
        if partition not in marks or moment > marks[partition]:
            marks[partition] = moment


def statement_doc_id(tenant: str, statement_id: str) -> str:
    return f"{tenant}/{statement_id}"


def filter_keys(statement: Mapping[str, Any]) -> list[str]:
    """The prefixed filter values of a statement (see module docstring): Communication 2.1.3,
    `agent` (with `related_agents`), `verb`, `activity` (with `related_activities`),
    `registration`; and the authority (4.1, `statements/read/mine`)."""
    index = index_statement(statement)
    authority = authority_key(statement.get("authority"))
    named = {*index.agents, authority}  # the related agents other keys name already
    keys = [f"agent|{a}" for a in index.agents]
    keys += [f"ragent|{a}" for a in index.related_agents if a not in named]
    keys.append(f"verb|{index.verb}")
    if index.activity:
        keys.append(f"activity|{index.activity}")
    keys += [f"ractivity|{a}" for a in index.related_activities if a != index.activity]
    if index.registration:
        keys.append(f"registration|{index.registration}")
    if authority:
        keys.append(f"{AUTHORITY_PREFIX}{authority}")
    return keys


def agent_keys(agent: str) -> tuple[str, ...]:
    """Every key naming an agent (an agent key, `lrs.xapi.index.agent_key`) somewhere in a
    statement, the related-agent key first: what `related_agents` looks for."""
    return (f"ragent|{agent}", f"agent|{agent}", f"{AUTHORITY_PREFIX}{agent}")


def link_keys(voids: str | None, ref: str | None) -> list[str]:
    """The keys by which a statement is found from the statement it voids or refers to
    (`_void_after_insert`, `_referring`): one multikey index serves filters
    and links, as each more index costs the embedded store about 70 µs per insert, whether or
    not the statement has a value for it (docs/decisions/0028)."""
    keys = [VOIDS_PREFIX + voids] if voids else []
    return [*keys, REF_PREFIX + ref] if ref else keys


def inheritable(keys: Sequence[str]) -> list[str]:
    """The keys a StatementRef inherits from its target (Communication 2.1.3): not the
    authority's (who wrote the target does not make the referring statement theirs), but the
    authority as a related agent, as the target is found by it (`filter_keys` leaves it out of
    `ragent|`). An anonymous Group's authority key names no agent (its members are under
    `ragent|` already). Never the target's link keys: they say what the target refers to."""
    inherited = []
    for key in keys:
        if key.startswith(LINK_PREFIXES):
            continue
        if not key.startswith(AUTHORITY_PREFIX):
            inherited.append(key)
        elif not key.startswith(ANONYMOUS_AUTHORITY):
            inherited.append("ragent|" + key[len(AUTHORITY_PREFIX) :])
    return inherited


def to_document(record: AcceptedStatement) -> Doc:
    index = index_statement(record.statement)
    return {
        "_id": statement_doc_id(record.tenant, record.statement_id),
        "tenant": record.tenant,
        "id": record.statement_id,
        "stored": record.stored,
        "voided": False,
        "voids": index.voids,
        "ref": index.ref,
        "keys": filter_keys(record.statement) + link_keys(index.voids, index.ref),
        "body": Binary(orjson.dumps(record.statement)),
    }


async def _until(done: asyncio.Event, at_most: float) -> None:
    """Until `done` is set, but at most `at_most` seconds."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, at_most)):
            await done.wait()


def from_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = orjson.loads(doc["body"])
    return statement


class MongoStatementStore:
    """Every role of `lrs.ports.statements.StatementStore` on MongoDB (or the embedded
    MongoDB-wire SecantusDB).

    `waiters` is woken by the API's feed of stored statements (`lrs.wiring.api`); without a
    feed, as in the consumers, `wait_stored` callers poll.

    `sole_writer`: this store is the only one inserting statements into the database while it
    runs (the persister under `LRS_CONSUMER_ASSIGNMENT=all`, one process reading every
    partition, started again only once the old one is dead). Then the reads after the insert
    (`_link_again`, for two persisters racing) are left out, two store round trips per
    batch, unless the insert found ids stored already. That is the one race left: a killed
    persister's last insert may still land in the store after its successor read the links of
    the same statements (uncommitted, so fetched again, in the same batch or a later one); the
    successor's insert of those statements then finds them stored, and the reads after it,
    over the stored documents too (`_stored_instead`), repair the links. A sole writer also
    reuses the watermarks it read for WATERMARK_REUSE_SECONDS (`watermarks`).
    """

    def __init__(
        self,
        db: AsyncDatabase[Doc],
        waiters: StoredWaiters | None = None,
        *,
        sole_writer: bool = False,
        clock: Callable[[], float] = time.monotonic,  # seconds, for reusing watermarks
    ) -> None:
        self._db = db
        self._sole_writer = sole_writer
        self._clock = clock
        self._marks: dict[str, tuple[float, dict[int, datetime]]] = {}  # topic -> (read at, marks)
        self._statements: AsyncCollection[Doc] = db["statements"]
        self._watermarks: AsyncCollection[Doc] = db["watermarks"]
        self._waiters = waiters if waiters is not None else StoredWaiters()
        self._densities = _Densities()

    async def wait_stored(
        self, tenant: str, ids: Sequence[str], within: float
    ) -> dict[str, dict[str, Any]]:
        """The stored statements among `ids`, waiting up to `within` seconds for all of them.

        The feed of stored statements wakes the waiter once it has seen every id stored, and
        hands over the statements as stored: no read of the store in the usual case. When it
        could not hand over every one (lrs.adapters.stored_waiters), the store is read then.
        Without the feed, or when it was woken but a statement is not there after all, the
        store is read every FALLBACK_POLL seconds; with it, every STREAM_POLL seconds as a
        safety net.
        """
        event_ids = {accepted_event_id(tenant, i) for i in ids}
        waiter = self._waiters.register(event_ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        try:
            while True:
                if not waiter.done.is_set():
                    interval = STREAM_POLL if self._waiters.ready.is_set() else FALLBACK_POLL
                    await _until(waiter.done, min(interval, deadline - loop.time()))
                if not waiter.pending and waiter.statements.keys() >= set(ids):
                    return {i: waiter.statements[i] for i in ids}
                found = await self._read_for_ack(tenant, ids)
                remaining = deadline - loop.time()
                if len(found) == len(set(ids)) or remaining <= 0:
                    return found
                if waiter.pending:  # woken to read again (the feed started again): wait on
                    waiter.done.clear()
                else:  # seen inserted, yet not all there: poll
                    await asyncio.sleep(min(FALLBACK_POLL, remaining))
        finally:
            self._waiters.unregister(waiter, event_ids)

    async def _read_for_ack(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """`get_many`, or nothing found when the store has not answered within
        ACK_READ_SECONDS (the waiter's next read goes out on another connection)."""
        try:
            async with asyncio.timeout(ACK_READ_SECONDS):
                return await self.get_many(tenant, ids)
        except TimeoutError:
            log.warning(
                "a read for an acknowledgement took over %gs; reading again", ACK_READ_SECONDS
            )
            return {}

    async def create_indexes(self) -> None:
        """The statement indexes. The two paging indexes are ascending on `(stored, id)`:
        MongoDB walks them either way, and SecantusDB bounds a range on them exactly (on a
        descending key it drops entries equal to a `$gte` bound). Each lists its equality
        fields first so one `stored` window (or one `stored` and an `id` range) is an index
        range scan on both stores (docs/decisions/0015)."""
        await self._statements.create_indexes(
            [
                IndexModel(
                    [
                        ("tenant", ASCENDING),
                        ("voided", ASCENDING),
                        ("stored", ASCENDING),
                        ("id", ASCENDING),
                    ],
                    name=STORED_INDEX,
                ),
                IndexModel(
                    [
                        ("tenant", ASCENDING),
                        ("keys", ASCENDING),
                        ("voided", ASCENDING),
                        ("stored", ASCENDING),
                        ("id", ASCENDING),
                    ],
                    name=KEYS_INDEX,
                ),
            ]
        )
        existing = {ix["name"] async for ix in await self._statements.list_indexes()}
        if RETIRED_LINK_INDEXES & existing:
            await self._record_link_keys()
        for retired in (RETIRED_INDEXES | RETIRED_LINK_INDEXES) & existing:
            with contextlib.suppress(OperationFailure):  # another process dropped it first
                await self._statements.drop_index(retired)

    async def _record_link_keys(self) -> None:
        """Give their link keys to the statements written before them (every voiding statement
        and StatementRef: each has `ref`), before the indexes they replace are dropped: once
        those are gone, every statement has its link keys. Idempotent: processes starting
        together may both do it. A persister of an earlier version still writing meanwhile
        writes statements without them: stop those first (docs/decisions/0028)."""
        ops = [
            UpdateOne(
                {"_id": d["_id"]},
                {"$addToSet": {"keys": {"$each": link_keys(d.get("voids"), d["ref"])}}},
            )
            async for d in self._statements.find({"ref": {"$gt": ""}}, {"voids": 1, "ref": 1})
        ]
        for start in range(0, len(ops), 1000):
            await self._statements.bulk_write(ops[start : start + 1000], ordered=False)

    async def ping(self) -> None:
        await self._db.command("ping")

    async def insert_many(self, records: Sequence[AcceptedStatement]) -> InsertReport:
        """Idempotent unordered bulk insert; ids that exist are reported, never rewritten.

        Everything a new statement changes elsewhere (voiding, StatementRef filter keys) is
        written BEFORE the statements themselves, so once a statement is visible (and its
        request acknowledged) its effects are visible too. Then, AFTER the insert, the same
        links are looked up again for the statements inserted: a statement and its voiding
        (or referring) statement inserted at once by two writers may each miss the other
        before inserting, but whichever looks again second finds the other inserted (not
        looked for by a `sole_writer`, which no other writer races). All of it is idempotent,
        so a replayed batch changes nothing.
        """
        if not records:
            return InsertReport()
        docs = [to_document(r) for r in records]
        for tenant, batch in _by_tenant(docs).items():
            await self._link(tenant, batch)
        failed = await bulk_write_tolerating_duplicates(
            self._statements, [InsertOne(d) for d in docs]
        )
        inserted = [d for position, d in enumerate(docs) if position not in failed]
        if not self._sole_writer or failed:
            for tenant, batch in _by_tenant(inserted).items():
                await self._link_again(tenant, batch)
        stored = await self._stored_instead([docs[i] for i in sorted(failed)])
        for tenant, batch in _by_tenant(stored).items():  # their links as the store holds them
            await self._link_again(tenant, batch)
        report = InsertReport(inserted=len(docs) - len(failed))
        if failed:
            report.duplicates = _duplicates([records[i] for i in sorted(failed)], stored)
        return report

    async def _stored_instead(self, refused: list[Doc]) -> list[Doc]:
        """The stored documents of the ids an insert found stored: what the insert reports
        as duplicates, and whose links (`voids`, `ref`, `keys`) are then looked up again as
        the store holds them (apart from the inserted ones': a batch's own documents are taken
        to carry their links already). The store may hold them since a moment only: a killed
        writer's last insert can land after this writer read the batch's links, unseen by
        either."""
        if not refused:
            return []
        wanted = sorted({d["_id"] for d in refused})
        return [d async for d in self._statements.find({"_id": {"$in": wanted}})]

    async def _link(self, tenant: str, batch: dict[str, Doc]) -> None:
        await self._inherit_keys(tenant, batch)
        referring = await self._referring(tenant, batch)
        _mark_voided_on_arrival(batch, referring)
        await self._void_stored_targets(tenant, batch)
        await self._propagate_to_referrers(tenant, batch, referring)

    async def _referring(self, tenant: str, batch: Collection[str]) -> list[Doc]:
        """The stored statements whose object is a StatementRef to one of `batch`'s ids. A
        voiding statement's object is a StatementRef to the statement it voids (its `ref` is
        its `voids`, lrs.xapi.index), so this one read finds both the statements voiding the
        batch's and the first referrers its keys propagate to (`_propagate_to_referrers`)."""
        projection = {"id": 1, "ref": 1, "voids": 1}
        return [
            d async for d in self._statements.find(_linked(tenant, REF_PREFIX, batch), projection)
        ]

    async def _link_again(self, tenant: str, inserted: dict[str, Doc]) -> None:
        """The links of statements just inserted, read after the insert (see `insert_many`)."""
        await self._void_after_insert(tenant, inserted)
        await self._inherit_after_insert(tenant, inserted)
        await self._propagate_to_referrers(tenant, inserted)

    async def _inherit_keys(self, tenant: str, batch: dict[str, Doc]) -> None:
        """Communication 2.1.3 "Filter Conditions for StatementRefs": a statement targeting
        another (StatementRef object) meets every non-time filter its target meets, through
        chains too. New statements take their targets' keys (stored or in the same batch)."""
        outside = [statement_doc_id(tenant, d["ref"]) for d in batch.values() if d["ref"]]
        if not outside:
            return  # no StatementRef in the batch: nothing to inherit, nothing to read
        stored = {
            t["id"]: t["keys"]
            async for t in self._statements.find({"_id": {"$in": outside}}, {"id": 1, "keys": 1})
        }
        for _ in range(MAX_REF_DEPTH):
            changed = False
            for doc in batch.values():
                target = batch.get(doc["ref"]) if doc["ref"] else None
                source = inheritable(target["keys"] if target else stored.get(doc["ref"], []))
                merged = list(dict.fromkeys(doc["keys"] + source))
                changed |= len(merged) != len(doc["keys"])
                doc["keys"] = merged
            if not changed:
                return

    async def _void_stored_targets(self, tenant: str, batch: dict[str, Doc]) -> None:
        """Voiding statements of the batch void their stored targets, unless a target is itself
        a voiding statement (Data 2.3.2: those cannot be voided)."""
        updates = [
            UpdateOne(
                {"_id": statement_doc_id(tenant, d["voids"]), "voids": None},
                {"$set": {"voided": True}},
            )
            for d in batch.values()
            if d["voids"] and d["voids"] not in batch
        ]
        if updates:
            await self._statements.bulk_write(updates, ordered=False)

    async def _void_after_insert(self, tenant: str, inserted: dict[str, Doc]) -> None:
        """Data 2.3.2, whatever the arrival order: the targets of the inserted voiding
        statements, and the inserted statements that a stored voiding statement targets, are
        voided (never a voiding statement)."""
        targets = {d["voids"] for d in inserted.values() if d["voids"]}
        candidates = [i for i, d in inserted.items() if not d["voids"]]
        if candidates:
            voidings = _linked(tenant, VOIDS_PREFIX, candidates)
            async for voiding in self._statements.find(voidings, {"voids": 1}):
                targets.add(voiding["voids"])
        if targets:
            await self._statements.update_many(
                {"_id": {"$in": [statement_doc_id(tenant, t) for t in targets]}, "voids": None},
                {"$set": {"voided": True}},
            )

    async def _inherit_after_insert(self, tenant: str, inserted: dict[str, Doc]) -> None:
        """Inserted statements referring outside their batch take their targets' keys as
        stored now (Communication 2.1.3); `inserted` is updated to match."""
        outside = {d["ref"] for d in inserted.values() if d["ref"] and d["ref"] not in inserted}
        if not outside:
            return
        found = {
            t["id"]: inheritable(t["keys"])
            async for t in self._statements.find(
                {"_id": {"$in": [statement_doc_id(tenant, i) for i in outside]}},
                {"id": 1, "keys": 1},
            )
        }
        updates = []
        for statement_id, doc in inserted.items():
            missing = [k for k in found.get(doc["ref"], []) if k not in doc["keys"]]
            if missing:
                doc["keys"] = doc["keys"] + missing
                updates.append(
                    UpdateOne(
                        {"_id": statement_doc_id(tenant, statement_id)},
                        {"$addToSet": {"keys": {"$each": missing}}},
                    )
                )
        if updates:
            await self._statements.bulk_write(updates, ordered=False)

    async def _propagate_to_referrers(
        self, tenant: str, batch: dict[str, Doc], referring: list[Doc] | None = None
    ) -> None:
        """Stored statements that target a new one (directly or through a chain of
        StatementRefs, up to MAX_REF_DEPTH) take its keys, so arrival order never matters.
        `referring`: the batch's referrers when they were just read (`_referring`)."""
        frontier = {i: inheritable(d["keys"]) for i, d in batch.items()}
        for _ in range(MAX_REF_DEPTH):
            if referring is None:
                referring = await self._referring(tenant, frontier)
            found = {r["id"]: frontier[r["ref"]] for r in referring if r["id"] not in batch}
            referring = None
            if not found:
                return
            await self._statements.bulk_write(
                [
                    UpdateOne(
                        {"_id": statement_doc_id(tenant, i)},
                        {"$addToSet": {"keys": {"$each": keys}}},
                    )
                    for i, keys in found.items()
                ],
                ordered=False,
            )
            frontier = found

    async def get_many(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        doc_ids = [statement_doc_id(tenant, i) for i in ids]
        return {
            d["id"]: from_document(d)
            async for d in self._statements.find({"_id": {"$in": doc_ids}}, {"id": 1, "body": 1})
        }

    async def get_statement(
        self, tenant: str, statement_id: str, *, voided: bool
    ) -> dict[str, Any] | None:
        doc = await self._statements.find_one(
            {"_id": statement_doc_id(tenant, statement_id), "voided": voided}, {"body": 1}
        )
        return from_document(doc) if doc else None

    async def query(self, tenant: str, query: StatementQuery) -> StatementPage:
        """One page of GET /statements (Communication 2.1.3), newest first unless ascending,
        ties on `stored` broken by id, never a voided statement (Data 2.3.2: they are only
        fetched by voidedStatementId). Cost is bounded by the page, not the tenant: see
        `_PageReader` and docs/decisions/0015."""
        reader = _PageReader(self._statements, tenant, query, self._densities)
        docs = await reader.read(query.limit + 1)
        page, extra = docs[: query.limit], docs[query.limit :]
        next_cursor = None
        if extra and page:
            last = page[-1]
            next_cursor = Cursor(_aware(last["stored"]), last["id"])
        return StatementPage([from_document(d) for d in page], next_cursor)

    async def record_watermarks(self, topic: str, caught_up: Mapping[int, datetime]) -> None:
        """Every partition's watermark in ONE document per topic (`_id` the topic, `caught_up`
        by partition number), each only moving forward (`$max`): one store write per
        heartbeat, not one per partition (docs/decisions/0023). Two writers creating the
        document at once: the loser's upsert meets a duplicate key, and is sent again."""
        if not caught_up:
            return
        update = {
            "$max": {f"caught_up.{p}": moment for p, moment in caught_up.items()},
            "$set": {"topic": topic},
        }
        if topic in self._marks:  # before the write: it may land even if the call fails
            _raise_marks(self._marks[topic][1], caught_up)
        for attempt in range(2):
            try:
                await self._watermarks.update_one({"_id": topic}, update, upsert=True)
                return
            except DuplicateKeyError:
                if attempt:
                    raise

    async def watermarks(self, topic: str) -> dict[int, datetime]:
        """Each partition's watermark: the topic's document, and the one-per-partition
        documents (`partition`, `caught_up`) that earlier versions wrote; the latest wins.

        A sole writer (the persister under `lrs serve`, which reads them for every batch,
        consumers.persist) reads them at most once per WATERMARK_REUSE_SECONDS and in between
        answers what it read, raised by what it recorded since: no one else writes them. The
        reuse is bounded all the same, so a killed predecessor's last write, landing after this
        writer's first read, is seen within that time."""
        cached = self._marks.get(topic)
        if cached is not None and self._clock() - cached[0] < WATERMARK_REUSE_SECONDS:
            return dict(cached[1])
        read_at = self._clock()
        found = await self._read_watermarks(topic)
        if self._sole_writer:
            self._marks[topic] = (read_at, dict(found))
        return found

    async def _read_watermarks(self, topic: str) -> dict[int, datetime]:
        found: dict[int, datetime] = {}
        async for mark in self._watermarks.find({"topic": topic}):
            if "partition" in mark:
                marks = {int(mark["partition"]): mark["caught_up"]}
            else:
                marks = {int(p): moment for p, moment in (mark.get("caught_up") or {}).items()}
            _raise_marks(found, marks)
        return found

    async def consistent_through(self, topic: str, partitions: int) -> datetime | None:
        by_partition = await self.watermarks(topic)
        if any(p not in by_partition for p in range(partitions)):
            return None
        return min(by_partition[p] for p in range(partitions))


def _duplicates(refused: list[AcceptedStatement], stored: list[Doc]) -> list[DuplicateId]:
    """Each refused record with the statement the store holds under its id."""
    existing = {d["_id"]: from_document(d) for d in stored}
    return [
        DuplicateId(r, existing[doc_id])
        for r in refused
        if (doc_id := statement_doc_id(r.tenant, r.statement_id)) in existing
    ]


def _mark_voided_on_arrival(batch: dict[str, Doc], referring: list[Doc]) -> None:
    """Data 2.3.2: a new (non-voiding) statement that a voiding statement, stored (among
    `referring`, the stored statements referring to the batch's) or in the batch, targets
    arrives voided; voiding order does not matter."""
    targeted = {d["voids"] for d in [*batch.values(), *referring] if d.get("voids")}
    for statement_id, doc in batch.items():
        if not doc["voids"] and statement_id in targeted:
            doc["voided"] = True


def _linked(tenant: str, prefix: str, targets: Collection[str]) -> Doc:
    """The statements with a link key of `prefix` (`link_keys`: voiding, or referring to) to
    any of `targets`: one index range each."""
    return {"tenant": tenant, "keys": {"$in": [prefix + t for t in targets]}}


def _by_tenant(docs: Sequence[Doc]) -> dict[str, dict[str, Doc]]:
    """Documents grouped by tenant, each group keyed by statement id, in batch order; of two
    with one id, the first (the one the insert keeps)."""
    groups: dict[str, dict[str, Doc]] = {}
    for doc in docs:
        groups.setdefault(doc["tenant"], {}).setdefault(doc["id"], doc)
    return groups


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Paging by `stored` windows (docs/decisions/0015). SecantusDB answers a find by collecting
# every document its index bounds admit, then filtering, sorting and limiting them in Python:
# a limit bounds nothing, only the index range does. So a page is read as a series of
# `stored` windows walked from the page's start, each an index range scan, widened only while
# the page is short; the width starts from the density the last page of the same filter saw.
EPOCH_FLOOR = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)
FIRST_WIDTH = timedelta(seconds=1)  # with no density known yet
MAX_WIDTH = timedelta(days=365 * 200)  # wider than any range of `stored` (no overflow)
EMPTY_GROWTH = 8  # an empty window: the next is this much wider
HEADROOM = 1.25  # a short window: the next is sized for this many times what is missing
DENSITY_MEMORY = 4096  # filters whose density is remembered (per process)
# Which filter value picks the index range, most selective first; the rest are checked on
# the documents the range returns.
KEY_PREFERENCE = ("registration|", "agent|", "ragent|", "activity|", "ractivity|")
Wanted = tuple[str, ...]  # one filter: a statement meets it with any of these keys
Bound = tuple[datetime, bool]  # (moment, inclusive)
Window = tuple[Bound | None, Bound | None]  # lower, upper


class _Densities:
    """How many statements per second the last page of the same kind found from its start,
    per (tenant, filter key, direction, first page or not): to size the first window. A first
    page starts at now, so its density counts the quiet time since the last statement."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, ...], float] = {}

    def first_width(self, kind: tuple[str, ...], wanted: int) -> timedelta:
        density = self._seen.get(kind)
        if not density:
            return FIRST_WIDTH
        return min(timedelta(seconds=max(wanted / density, 0.001)), MAX_WIDTH)

    def note(self, kind: tuple[str, ...], found: int, span: timedelta) -> None:
        seconds = span.total_seconds()
        if found and seconds > 0:
            self._seen.pop(kind, None)
            self._seen[kind] = found / seconds
            while len(self._seen) > DENSITY_MEMORY:
                del self._seen[next(iter(self._seen))]


class _Windows:
    """The `stored` range a page may still read, cut into windows in page order.

    Bounds are `(moment, inclusive)`; None is open. Newest first, windows are cut from the
    upper end down (the first below `now` when the upper end is open); ascending, from the
    lower end up (from EPOCH_FLOOR when open). The last window takes all that is left, so the
    windows cover the range exactly and never overlap.
    """

    def __init__(self, query: StatementQuery, now: datetime, width: timedelta) -> None:
        self.ascending = query.ascending
        self.lower: Bound | None = (query.since, False) if query.since else None
        self.upper: Bound | None = (query.until, True) if query.until else None
        if query.cursor and self.ascending:
            self.lower = (query.cursor.stored, False)
        elif query.cursor:
            self.upper = (query.cursor.stored, False)
        self.now = now
        self.width = width
        self.done = False

    def start(self) -> datetime:
        """Where the page starts, in page order (to measure how far it reached)."""
        if self.ascending:
            return self.lower[0] if self.lower else EPOCH_FLOOR
        return self.upper[0] if self.upper else self.now

    def next(self) -> Window:
        start = self.lower[0] if self.lower else EPOCH_FLOOR
        end = self.upper[0] if self.upper else self.now
        if self.width >= end - start:
            self.done = True
            return self.lower, self.upper
        if self.ascending:
            edge = start + self.width
            window: Window = (self.lower, (edge, False))
            self.lower = (edge, True)
        else:
            edge = end - self.width
            window = ((edge, True), self.upper)
            self.upper = (edge, False)
        return window

    def widen(self, found: list[Doc], needed: int) -> None:
        """After a short window that found `found` (in page order), `needed` more wanted: the
        next is sized by the density between its first statement and the window's far edge,
        where the walk goes on (any quiet time before the first statement does not count)."""
        if not found or self.done:
            self.width = min(self.width * EMPTY_GROWTH, MAX_WIDTH)
            return
        edge = self.lower if self.ascending else self.upper  # where this window ended
        assert edge is not None
        seconds = max(abs(edge[0] - _aware(found[0]["stored"])).total_seconds(), 0.001)
        width = timedelta(seconds=HEADROOM * needed * seconds / len(found))
        self.width = min(max(width, ONE_MS), MAX_WIDTH)


class _PageReader:
    """Reads one page: the statements tied with the cursor's `stored` first, then windows."""

    def __init__(
        self,
        statements: AsyncCollection[Doc],
        tenant: str,
        query: StatementQuery,
        densities: _Densities,
    ) -> None:
        self._statements = statements
        self._query = query
        self._densities = densities
        wanted = _wanted_keys(query)
        self._key = min(wanted, key=_selectivity_rank) if wanted else ()
        self._others = [w for w in wanted if w != self._key]
        # One range per key of the filter that picks it: SecantusDB scans the collection for
        # an `$in` on this index (its `explain`), so a filter of several keys is several finds.
        base: Doc = {"tenant": tenant, "voided": False}
        self._ranges = [{**base, "keys": key} for key in self._key] or [base]
        direction = ASCENDING if query.ascending else DESCENDING
        self._sort = [("stored", direction), ("id", direction)]
        first = self._key[0] if self._key else ""
        self._kind = (tenant, first, str(direction), "next" if query.cursor else "first")

    async def read(self, wanted: int) -> list[Doc]:
        found: list[Doc] = []
        cursor = self._query.cursor
        if cursor:
            op = "$gt" if self._query.ascending else "$lt"
            ties = {"stored": cursor.stored, "id": {op: cursor.statement_id}}
            found += await self._find(ties, wanted)
        width = self._densities.first_width(self._kind, wanted)
        windows = _Windows(self._query, datetime.now(UTC), width)
        start = windows.start()
        while len(found) < wanted and not windows.done:
            lower, upper = windows.next()
            batch = await self._find(_stored_range(lower, upper), wanted)
            found += batch[: wanted - len(found)]
            windows.widen(batch, wanted - len(found))
        if found:
            span = abs(_aware(found[-1]["stored"]) - start)
            self._densities.note(self._kind, len(found), span)
        return found

    async def _find(self, within: Doc, limit: int) -> list[Doc]:
        """The first `limit` statements meeting every filter among those `within` selects.
        With no filter besides the one whose keys pick the ranges, each range is read with
        bodies, `limit` at most (all but one of a related filter's ranges are mostly empty);
        with others, the ranges are read without bodies and only the page's bodies fetched
        (reading by `_id` costs the embedded store several times what an index range does,
        docs/decisions/0026)."""
        if not self._others:
            found = await self._bodies(within, limit)
            return found if len(self._ranges) == 1 else _first(found, limit, self._query.ascending)
        page = await self._heads(within, limit)
        if not page:
            return []
        wanted = {"_id": {"$in": [d["_id"] for d in page]}}
        bodies = {d["_id"]: d["body"] async for d in self._statements.find(wanted, {"body": 1})}
        return [{**d, "body": bodies[d["_id"]]} for d in page if d["_id"] in bodies]

    async def _bodies(self, within: Doc, limit: int) -> list[Doc]:
        """The first `limit` statements of each range, with bodies."""
        found: list[Doc] = []
        for keyed in self._ranges:
            cursor = self._statements.find({**keyed, **within}, {"body": 1, "stored": 1, "id": 1})
            found += await cursor.sort(self._sort).limit(limit).to_list(limit)
        return found

    async def _heads(self, within: Doc, limit: int) -> list[Doc]:
        """The first `limit` statements of the ranges meeting every other filter, without
        bodies."""
        heads: list[Doc] = []
        for keyed in self._ranges:
            found = self._statements.find({**keyed, **within}, {"stored": 1, "id": 1, "keys": 1})
            meeting = [d async for d in found.sort(self._sort) if _meets(d["keys"], self._others)]
            heads += meeting[:limit]
        return _first(heads, limit, self._query.ascending)


def _first(docs: list[Doc], limit: int, ascending: bool) -> list[Doc]:
    """The first `limit` of documents read from one or more ranges, in page order, each once
    (a document under two keys of a related filter is in two ranges)."""
    unique = {d["_id"]: d for d in docs}.values()
    ordered = sorted(unique, key=lambda d: (d["stored"], d["id"]), reverse=not ascending)
    return ordered[:limit]


def _stored_range(lower: Bound | None, upper: Bound | None) -> Doc:
    """The `stored` condition of a window as `$gte`/`$lt`, which SecantusDB bounds exactly on
    an ascending key (docs/decisions/0015). `stored` is kept to the millisecond, so an
    exclusive lower or inclusive upper bound is the next millisecond."""
    condition: Doc = {}
    if lower:
        condition["$gte"] = lower[0] if lower[1] else _next_ms(lower[0])
    if upper:
        condition["$lt"] = _next_ms(upper[0]) if upper[1] else upper[0]
    return {"stored": condition} if condition else {}


def _next_ms(moment: datetime) -> datetime:
    """The first millisecond after `moment` (MongoDB dates have millisecond precision). The
    last millisecond of year 9999 has none after it (a `since`/`until` there is clamped by
    lrs.xapi.timefmt): it stays itself, as no statement is stored that late."""
    floor = floor_to_millis(moment)
    try:
        return floor + ONE_MS
    except OverflowError:
        return floor


def _selectivity_rank(wanted: Wanted) -> int:
    return next(
        (i for i, prefix in enumerate(KEY_PREFERENCE) if wanted[0].startswith(prefix)),
        len(KEY_PREFERENCE),
    )


def _meets(keys: Sequence[str], wanted: Sequence[Wanted]) -> bool:
    """Whether a statement's keys meet every filter: one of each filter's keys."""
    return all(any(k in keys for k in alternatives) for alternatives in wanted)


def _wanted_keys(query: StatementQuery) -> list[Wanted]:
    """Each filter of the query as the keys of which a statement must have one (Communication
    2.1.3). A related filter takes every prefix its value is written under (`filter_keys`
    writes each value once), the narrow one's prefix second."""
    wanted: list[Wanted] = []
    if query.agent:
        wanted.append(
            agent_keys(query.agent) if query.related_agents else (f"agent|{query.agent}",)
        )
    if query.verb:
        wanted.append((f"verb|{query.verb}",))
    if query.activity:
        narrow = f"activity|{query.activity}"
        wanted.append(
            (f"ractivity|{query.activity}", narrow) if query.related_activities else (narrow,)
        )
    if query.registration:
        wanted.append((f"registration|{query.registration}",))
    if query.authority:
        wanted.append((f"{AUTHORITY_PREFIX}{query.authority}",))
    return wanted


class MongoCredentialStore:
    """CredentialStore on MongoDB: `credentials` collection keyed by the public key."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._credentials: AsyncCollection[Doc] = db["credentials"]

    async def find(self, key: str) -> Credential | None:
        doc = await self._credentials.find_one({"_id": key})
        return _credential(doc) if doc is not None else None

    async def list_credentials(self, tenant: str | None) -> list[Credential]:
        flt: Doc = {"tenant": tenant} if tenant is not None else {}
        docs = await self._credentials.find(flt).sort("_id", ASCENDING).to_list(None)
        return [_credential(d) for d in docs]

    async def revoke(self, key: str) -> Credential | None:
        doc = await self._credentials.find_one_and_update(
            {"_id": key}, {"$set": {"revoked": True}}, return_document=ReturnDocument.AFTER
        )
        return _credential(doc) if doc is not None else None

    async def insert(self, credential: Credential) -> None:
        await self._credentials.insert_one(
            {
                "_id": credential.key,
                "secret_hash": credential.secret_hash,
                "tenant": credential.tenant,
                "scopes": sorted(credential.scopes),
                "authority": orjson.dumps(credential.authority).decode(),
                "created_at": credential.created_at,
                "expires_at": credential.expires_at,
                "revoked": credential.revoked,
                "label": credential.label,
            }
        )

    async def count(self) -> int:
        return await self._credentials.count_documents({})


def _credential(doc: Mapping[str, Any]) -> Credential:
    return Credential(
        key=doc["_id"],
        secret_hash=doc["secret_hash"],
        tenant=doc["tenant"],
        scopes=frozenset(doc["scopes"]),
        authority=orjson.loads(doc["authority"]),
        created_at=_aware(doc["created_at"]),
        expires_at=_aware(doc["expires_at"]) if doc.get("expires_at") else None,
        revoked=bool(doc.get("revoked", False)),
        label=doc.get("label", ""),
    )


def connect(uri: str, *, answer_within: float | None = None) -> AsyncMongoClient[Doc]:
    """A client with timeouts short enough for readiness checks to answer promptly. With
    `answer_within` (seconds, LRS_STORE_TIMEOUT_SECONDS), a read of the store's answer on an
    open connection that waits longer fails with NetworkTimeout (an outage: lrs.outages), and
    that connection is closed; without it, such a read waits for ever (or as long as the URI's
    own `socketTimeoutMS` says)."""
    options: dict[str, Any] = {"tz_aware": True, "uuidRepresentation": "standard"}
    if answer_within is not None:
        options["socketTimeoutMS"] = int(answer_within * 1000)
    return AsyncMongoClient(uri, serverSelectionTimeoutMS=5000, **options)


async def wait_until_reachable(
    client: AsyncMongoClient[Doc], within: float, clock: Callable[[], float] = time.monotonic
) -> None:
    """At a process's start: `ping` until the store answers, for up to `within` seconds (each
    try waits the client's own server selection, 5 s), then the last error. The short selection
    timeout is for readiness checks; a process starting while its store is still starting or
    busy waits this long instead of failing at once."""
    deadline = clock() + within
    while True:
        try:
            await client.admin.command("ping")
            return
        except ConnectionFailure:
            if clock() >= deadline:
                raise
