"""MongoDB adapters for the Activities and Agents Resources (xAPI Communication 2.4, 2.5),
written by the persist consumer before it inserts a batch's statements (so a statement that
can be read has its Activities and Agents already merged) and read by the API.

One Activity is one document, one Agent (one canonical IFI) is one document::

    activities: {_id: "<tenant>/<activity id>", tenant, id,
                 definition: {name: {<lang>: ...}, description: {...}, type, moreInfo,
                              interactionType, correctResponsesPattern, choices, ...},
                 extensions: {<encoded IRI>: "<the value as JSON text>"}}
    agents:     {_id: "<tenant>/<ifi>", tenant, ifi, identifier: {mbox: ...}, names: [...]}
    (both also: merged: the digest of the last update applied)

Every change is one atomic update of the document (an update pipeline), field by field, never
read-modify-write: ``$set`` per language-map entry (``definition.name.<lang>``), ``$set`` per
scalar or list property (``definition.type``, ``definition.choices``), ``$set`` per extension
(``extensions.<encoded IRI>``), names appended once each. Every update also records its digest
in the document (``merged``); an update is sent only when its document is missing, or (unless it
only inserts) when the last update applied to it was another one, so a document is written when
it is new or changes (`to_send`, docs/decisions/0014). Concurrent batches touching one Activity
therefore never lose each other's entries, and a batch written twice in a row changes nothing.
The persister's Agent store also remembers the digests it read and wrote (`KnownDigests`) and
reads only the Agents it does not remember, or that an erasure named; so does its Activity
store when it is the only writer (docs/decisions/0030).

Which value wins is the one of the update applied last, not of the statement stored last: within
a batch later statements win, but batches are applied in the order persisters write them, so a
batch written again after a newer one (a redelivery, or two persisters racing) puts its older
values back until the next statement naming those properties. An Agent's names keep the order in
which each was first added (a name seen again does not move). Growth is bounded
(docs/decisions/0004): an Activity whose merged document would pass `max_bytes` takes the
batch's definition instead; an Agent keeps the `max_names` names added most recently.

Field names: language tags cannot contain ``.`` or ``$``, but extension keys are IRIs full of
dots, and extension values are any JSON (keys with dots or dollars included). So extension keys
are percent-encoded (``%`` -> ``%25``, ``.`` -> ``%2E``, ``$`` -> ``%24``, NUL -> ``%00``;
reversible; the edge already refuses NUL in IRIs, this is defence in depth) and
values are kept as JSON text; the same key encoding is applied to language tags as a safeguard
(a no-op for valid tags).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from lrs.adapters.mongo_bulk import DUPLICATE_KEY
from lrs.ports.definitions import KnownAgent
from lrs.ports.statements import AcceptedStatement
from lrs.xapi.definitions import (
    DEFAULT_MAX_AGENT_NAMES,
    DEFAULT_MAX_DEFINITION_BYTES,
    EXTENSIONS,
    LANGUAGE_MAPS,
    activities_in,
    agents_in,
)

UPSERT_ATTEMPTS = 5
Doc = dict[str, Any]


_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24", "\x00": "%00"}
_UNESCAPES = {code: char for char, code in _ESCAPES.items()}
_TO_ESCAPE = re.compile("[%.$\x00]")
_TO_UNESCAPE = re.compile("%(?:25|2E|24|00)")


def encode_key(key: str) -> str:
    """A map key as a MongoDB field name: no ``.``, no ``$``, no NUL (which BSON field names
    cannot hold at all); reversible, and the identity for keys without ``%.$`` or NUL."""
    return _TO_ESCAPE.sub(lambda m: _ESCAPES[m.group()], key)


def decode_key(field: str) -> str:
    """The key `encode_key` encoded (every ``%`` of a field starts one of its escapes)."""
    return _TO_UNESCAPE.sub(lambda m: _UNESCAPES[m.group()], field)


def doc_id(tenant: str, key: str) -> str:
    return f"{tenant}/{key}"


def definition_sets(definition: Mapping[str, Any]) -> Doc:
    """The ``$set`` fields merging one statement's definition (see module docstring)."""
    sets: Doc = {}
    for prop, value in definition.items():
        if prop in LANGUAGE_MAPS:
            for tag, text in _items(value):
                sets[f"definition.{prop}.{encode_key(tag)}"] = text
        elif prop == EXTENSIONS:
            for iri, ext in _items(value):
                sets[f"extensions.{encode_key(iri)}"] = orjson.dumps(ext).decode()
        else:
            sets[f"definition.{encode_key(prop)}"] = value
    return sets


def _items(value: Any) -> Iterable[tuple[str, Any]]:
    return value.items() if isinstance(value, Mapping) else ()


Update = Doc | list[Doc]  # an update document or an update pipeline
Upsert = tuple[Doc, Update]  # (filter, update) of one upsert


@dataclass
class _ActivityMerge:
    """What one batch says about one Activity: its `$set` fields and their sizes."""

    on_insert: Doc
    sets: Doc = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    total: int = 0

    def add(self, sets: Doc, max_bytes: int) -> None:
        """Later statements win per field; when the batch's own fields would outgrow the
        bound, the statement that outgrows it starts the batch's fields afresh (the rule of
        `bounded_merge`, applied within the batch)."""
        sizes = {path: len(path) + len(orjson.dumps(value)) for path, value in sets.items()}
        grown = self.total + sum(n - self.sizes.get(path, 0) for path, n in sizes.items())
        if grown > max_bytes:
            self.sets, self.sizes, grown = {}, {}, sum(sizes.values())
        self.sets.update(sets)
        self.sizes.update(sizes)
        self.total = grown


def activity_updates(
    records: Iterable[AcceptedStatement], max_bytes: int = DEFAULT_MAX_DEFINITION_BYTES
) -> list[Upsert]:
    """One upsert per Activity of the batch; later statements' values win within the batch."""
    merged: dict[str, _ActivityMerge] = {}
    for record in records:
        for seen in activities_in(record.statement):
            key = doc_id(record.tenant, seen.activity_id)
            on_insert = {"tenant": record.tenant, "id": seen.activity_id}
            merge = merged.setdefault(key, _ActivityMerge(on_insert))
            merge.add(definition_sets(seen.definition), max_bytes)
    return [
        ({"_id": key}, bounded_merge(m.on_insert, m.sets, max_bytes) if m.sets else _insert(m))
        for key, m in merged.items()
    ]


def _insert(merge: _ActivityMerge) -> Doc:
    return {"$setOnInsert": merge.on_insert}


def bounded_merge(on_insert: Doc, sets: Doc, max_bytes: int) -> list[Doc]:
    """The update pipeline merging `sets` into an Activity document, atomically, bounded
    (docs/decisions/0004): the fields are merged as always (`$set` per field); if the merged
    document is then larger than `max_bytes` (BSON), its definition and extensions are
    replaced by `sets` alone, the batch's latest word on the Activity. Replaying the same
    update changes nothing; the document never grows past the bound by merging."""
    over = {"$gt": [{"$bsonSize": "$$ROOT"}, max_bytes]}
    fresh = _nested(sets)
    return [
        {"$set": {**_literals(on_insert), **_literals(sets)}},
        {
            "$set": {
                part: {"$cond": [over, {"$literal": fresh.get(part, {})}, f"${part}"]}
                for part in ("definition", "extensions")
            }
        },
    ]


def _literals(fields: Doc) -> Doc:
    """Pipeline values are expressions: `$literal` keeps strings like "$x" as they are."""
    return {path: {"$literal": value} for path, value in fields.items()}


def _nested(sets: Doc) -> Doc:
    """`{"definition.name.en": v}` -> `{"definition": {"name": {"en": v}}}`."""
    nested: Doc = {}
    for path, value in sets.items():
        *parents, leaf = path.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def agent_updates(
    records: Iterable[AcceptedStatement], max_names: int = DEFAULT_MAX_AGENT_NAMES
) -> list[Upsert]:
    """One upsert per Agent of the batch, adding the names it was given."""
    merged: dict[str, tuple[Doc, list[str]]] = {}
    for record in records:
        for seen in agents_in(record.statement):
            key = doc_id(record.tenant, seen.ifi)
            on_insert = {"tenant": record.tenant, "ifi": seen.ifi, "identifier": seen.identifier}
            names = merged.setdefault(key, (on_insert, []))[1]
            if seen.name is not None and seen.name not in names:
                names.append(seen.name)
    return [
        ({"_id": key}, _agent_update(on_insert, names, max_names))
        for key, (on_insert, names) in merged.items()
    ]


def _agent_update(on_insert: Doc, names: list[str], max_names: int) -> Update:
    """Names are added in order, each once; beyond `max_names` the oldest are dropped
    (docs/decisions/0004). An Agent without new names is only inserted if missing."""
    if not names:
        return {"$setOnInsert": on_insert}
    known = {"$ifNull": ["$names", []]}
    added = {
        "$filter": {"input": {"$literal": names}, "cond": {"$not": [{"$in": ["$$this", known]}]}}
    }
    keep = {"$slice": [{"$concatArrays": [known, added]}, -max_names]}
    return [
        {
            "$set": {
                "tenant": {"$literal": on_insert["tenant"]},
                "ifi": {"$literal": on_insert["ifi"]},
                "identifier": {"$ifNull": ["$identifier", {"$literal": on_insert["identifier"]}]},
                "names": keep,
            }
        }
    ]


def definition_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical definition kept in an `activities` document."""
    definition: dict[str, Any] = {}
    for prop, value in (doc.get("definition") or {}).items():
        if prop in LANGUAGE_MAPS and isinstance(value, Mapping):
            definition[prop] = {decode_key(tag): text for tag, text in value.items()}
        else:
            definition[decode_key(prop)] = value
    extensions = doc.get("extensions") or {}
    if extensions:
        definition[EXTENSIONS] = {decode_key(k): orjson.loads(v) for k, v in extensions.items()}
    return definition


MERGED = "merged"  # the digest of the last upsert applied to the document


def upsert_digest(upsert: Upsert) -> str:
    """What identifies an upsert: its filter and update, whatever their keys' order."""
    raw = orjson.dumps(list(upsert), option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def insert_only(update: Update) -> bool:
    """An update that only creates the document when it is missing (`$setOnInsert`)."""
    return isinstance(update, dict) and set(update) == {"$setOnInsert"}


def stamped(update: Update, digest: str) -> Update:
    """The update that also records, in the document, that it was the last one applied."""
    if isinstance(update, list):
        return [*update, {"$set": {MERGED: {"$literal": digest}}}]
    if insert_only(update):
        return {"$setOnInsert": {**update["$setOnInsert"], MERGED: digest}}
    return {**update, "$set": {**update.get("$set", {}), MERGED: digest}}


def to_send(upserts: Sequence[Upsert], current: Mapping[str, str | None]) -> list[Upsert]:
    """The upserts that may change their document, each stamped with its digest. `current`:
    the stored documents of the batch (`_id` -> the digest of the last upsert applied to
    each; a document missing from it does not exist). An upsert is left out when its
    document exists and it only inserts, or when the last upsert applied to the document was
    this one: applying an upsert again changes nothing, so leaving it out is as if it were
    applied when the document was read, whichever writer changes the document next."""
    fresh: list[Upsert] = []
    for flt, update in upserts:
        digest = upsert_digest((flt, update))
        key = flt["_id"]
        if key in current and (insert_only(update) or current[key] == digest):
            continue
        fresh.append((flt, stamped(update, digest)))
    return fresh


class KnownDigests:
    """What one process last read or wrote of documents' `merged` digests: `_id` -> the digest
    of the last upsert applied to it (None: the document exists, digest unknown). At most
    `size` documents, the least recently used dropped first (docs/decisions/0030)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._digests: OrderedDict[str, str | None] = OrderedDict()

    def known(self, keys: Iterable[str]) -> dict[str, str | None]:
        found = {}
        for key in keys:
            if key in self._digests:
                self._digests.move_to_end(key)
                found[key] = self._digests[key]
        return found

    def remember(self, digests: Mapping[str, str | None]) -> None:
        for key, digest in digests.items():
            self._digests[key] = digest
            self._digests.move_to_end(key)
        while len(self._digests) > self.size:
            self._digests.popitem(last=False)

    def forget(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._digests.pop(key, None)


async def upsert_fresh(
    collection: AsyncCollection[Doc], upserts: Sequence[Upsert], known: KnownDigests | None = None
) -> None:
    """Read which of the upserts' documents exist and the last upsert applied to each, then
    apply only the upserts that may change them (see `to_send`): a document is written when
    it is new or changes, by whichever process (docs/decisions/0004, 0014). With `known`, the
    documents it holds are not read: what it holds stands for what the store holds (an upsert
    it lets pass is as if applied when it was remembered, docs/decisions/0030)."""
    if not upserts:
        return
    keys = [flt["_id"] for flt, _ in upserts]
    current = known.known(keys) if known is not None else {}
    unread = [key for key in keys if key not in current]
    read: dict[str, str | None] = {}
    if unread:
        cursor = collection.find({"_id": {"$in": unread}}, {MERGED: 1})
        read = {d["_id"]: d.get(MERGED) async for d in cursor}
    fresh = to_send(upserts, current | read)
    await upsert_all(collection, [UpdateOne(f, u, upsert=True) for f, u in fresh])
    if known is not None:
        applied = {flt["_id"]: applied_digest(update) for flt, update in fresh}
        known.remember(read | applied)


def applied_digest(update: Update) -> str:
    """The digest a `stamped` update records in its document."""
    if isinstance(update, list):
        return str(update[-1]["$set"][MERGED]["$literal"])
    if insert_only(update):
        return str(update["$setOnInsert"][MERGED])
    return str(update["$set"][MERGED])


async def upsert_all(collection: AsyncCollection[Doc], updates: Sequence[UpdateOne]) -> None:
    """Unordered bulk upserts. Two writers upserting the same new document at once can make
    one fail with a duplicate key; by then the document exists, so the failed updates are
    simply sent again (they are idempotent)."""
    pending = list(updates)
    for attempt in range(UPSERT_ATTEMPTS):
        if not pending:
            return
        try:
            await collection.bulk_write(pending, ordered=False)
            return
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if attempt == UPSERT_ATTEMPTS - 1 or any(
                e.get("code") != DUPLICATE_KEY for e in errors
            ):
                raise
            pending = [pending[int(e["index"])] for e in errors]


class MongoActivityStore:
    """ActivityStore on MongoDB: the `activities` collection."""

    def __init__(
        self,
        db: AsyncDatabase[Doc],
        max_bytes: int = DEFAULT_MAX_DEFINITION_BYTES,
        known: KnownDigests | None = None,
    ) -> None:
        """`known`: the memory of the Activities this store read or wrote, for the only
        writer of `activities` (one persister reading every partition): with several, a
        remembered digest could hold back a later statement's definition (docs/decisions/0030);
        None reads every Activity of each batch."""
        self._db = db
        self._activities: AsyncCollection[Doc] = db["activities"]
        self._max_bytes = max_bytes
        self._known = known

    async def create_indexes(self) -> None:
        await self._activities.create_indexes(
            [IndexModel([("tenant", ASCENDING), ("id", ASCENDING)], name="tenant_id", unique=True)]
        )

    async def merge(self, records: Sequence[AcceptedStatement]) -> None:
        updates = activity_updates(records, self._max_bytes)
        await upsert_fresh(self._activities, updates, self._known)

    async def get(self, tenant: str, activity_id: str) -> dict[str, Any] | None:
        doc = await self._activities.find_one(
            {"_id": doc_id(tenant, activity_id), "tenant": tenant, "id": activity_id}
        )
        return definition_of(doc) if doc else None

    async def ping(self) -> None:
        await self._db.command("ping")


class MongoAgentStore:
    """AgentStore on MongoDB: the `agents` collection."""

    def __init__(
        self,
        db: AsyncDatabase[Doc],
        max_names: int = DEFAULT_MAX_AGENT_NAMES,
        known: KnownDigests | None = None,
    ) -> None:
        """`known`: the persister's memory of the Agents it read or wrote (their documents are
        then not read again); None reads every Agent of each batch."""
        self._db = db
        self._agents: AsyncCollection[Doc] = db["agents"]
        self._max_names = max_names
        self._known = known

    async def create_indexes(self) -> None:
        await self._agents.create_indexes(
            [
                IndexModel(
                    [("tenant", ASCENDING), ("ifi", ASCENDING)], name="tenant_ifi", unique=True
                )
            ]
        )

    async def merge(
        self, records: Sequence[AcceptedStatement], erased: Collection[tuple[str, str]] = ()
    ) -> None:
        if self._known is not None:  # an erasure deleted their documents: read them
            self._known.forget(doc_id(tenant, ifi) for tenant, ifi in erased)
        await upsert_fresh(self._agents, agent_updates(records, self._max_names), self._known)

    async def get(self, tenant: str, ifi: str) -> KnownAgent | None:
        doc = await self._agents.find_one(
            {"_id": doc_id(tenant, ifi), "tenant": tenant, "ifi": ifi}
        )
        if doc is None:
            return None
        return KnownAgent(identifier=doc["identifier"], names=list(doc.get("names") or []))

    async def ping(self) -> None:
        await self._db.command("ping")
