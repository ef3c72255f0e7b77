"""Bulk writes that treat "this _id (or unique key) already exists" as an answer, not a failure:
the idempotent writes of the consumers rely on it; compare-and-set writes of versioned
documents; and bulk writes made durable by one journaled write after them (`JournalFence`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from pymongo.write_concern import WriteConcern

DUPLICATE_KEY = 11000
IMMUTABLE_FIELD = 66  # an update that would change `_id`: how a stale compare-and-set is refused


async def bulk_write_tolerating_duplicates(
    collection: AsyncCollection[dict[str, Any]], ops: Sequence[Any]
) -> set[int]:
    """Unordered bulk write; return the positions refused with a duplicate key. Any other
    write error is raised."""
    return await _bulk_write_answering(collection, ops, {DUPLICATE_KEY})


async def _bulk_write_answering(
    collection: AsyncCollection[dict[str, Any]], ops: Sequence[Any], answers: set[int]
) -> set[int]:
    """Unordered bulk write; return the positions refused with an error code of `answers`.
    Any other write error is raised."""
    if not ops:
        return set()
    try:
        await collection.bulk_write(list(ops), ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") not in answers for e in errors):
            raise
        return {int(e["index"]) for e in errors}
    return set()


def compare_and_set(
    key: str, read_version: int, replacement: dict[str, Any], *, read_stamp: str | None = None
) -> UpdateOne:
    """Write `replacement` as document `key` if that is still at `read_version` (the version
    its writer read; 0: none), or where there is none; a document at another version is left
    as it is, and the write refused (see `bulk_compare_and_set`). With `read_stamp` (the
    random `stamp` of the write that stored what the writer holds, lrs.adapters.state_cache),
    the document must still be there with that stamp: one written by anyone since, or deleted,
    refuses the write, whatever its version.

    The filter is `_id` alone and the version is compared in an update pipeline: the embedded
    store (SecantusDB) looks up a filter of `_id` alone as a point, while `{_id, version}` went
    through its other index pickers first (about a fifth of the store's CPU for a progress
    document's write, docs/benchmarks.md). A stale write replaces the document with one whose
    `_id` differs, which MongoDB (4.2 and later) and SecantusDB refuse with IMMUTABLE_FIELD,
    changing nothing; a document without `version` counts as none.
    """
    refused = {"_id": None}
    if read_stamp is not None:
        allowed: dict[str, Any] = {"$eq": ["$stamp", read_stamp]}
    else:
        unchanged = {"$eq": ["$version", read_version]}
        none = {"$eq": [{"$type": "$version"}, "missing"]}
        allowed = {"$or": [unchanged, none]}
    chosen = {"$cond": [allowed, {"$literal": replacement}, refused]}
    return UpdateOne({"_id": key}, [{"$replaceWith": chosen}], upsert=True)


async def bulk_compare_and_set(
    collection: AsyncCollection[dict[str, Any]], ops: Sequence[UpdateOne]
) -> set[int]:
    """Unordered bulk write of `compare_and_set` writes; return the positions refused: stale,
    or two writers inserting one new `_id` at once (a duplicate key). Any other write error is
    raised."""
    return await _bulk_write_answering(collection, ops, {DUPLICATE_KEY, IMMUTABLE_FIELD})


class JournalFence:
    """Writes that need not each wait for the store's journal, made durable together by one
    journaled write after them (the fence).

    `lrs serve` asks every write of its embedded store to be journaled (`journal=true` in the
    address: each commit syncs the journal to disk before it is acknowledged, so a kill -9 of
    the store loses nothing acknowledged, docs/decisions/0010). A bulk write of N documents is
    then N journal syncs. The journal is written in order, so syncing it for one write makes
    every write committed before it durable too: `unjournaled` gives a handle on a collection
    whose writes do not wait for the sync, and `seal` is one small journaled write that must
    follow them before anything relies on them (before the consumer publishes what they
    record or commits its offsets). If the store dies before the seal, the writes may be
    lost: the batch fails and is handled again. Only readers of the store may have seen them
    meanwhile (a progress page or stream may show a version that the store's restart takes
    back, until the batch is handled again and writes the same values). The journal is the
    store's, not the session's: a seal also makes other writers' earlier writes durable.

    Only for a store whose writes are journaled on one node (write concern `j: true`, `w`
    unset or 1, as the embedded store's address sets it); under any other write concern
    (a replica set's `w: majority`, or no journaling asked) the writes keep it and `seal`
    does nothing.
    """

    def __init__(self, db: AsyncDatabase[dict[str, Any]], name: str) -> None:
        concern = db.write_concern.document
        self.active = concern.get("j") is True and concern.get("w", 1) == 1
        self._fences: AsyncCollection[dict[str, Any]] = db["journal_fences"]
        self._name = name  # one fence document per writer kind

    def unjournaled(self, collection: AsyncCollection[Any]) -> AsyncCollection[Any]:
        if not self.active:
            return collection
        concern = {**collection.write_concern.document, "j": False}
        return collection.with_options(write_concern=WriteConcern(**concern))

    async def seal(self) -> None:
        if self.active:
            await self._fences.update_one({"_id": self._name}, {"$inc": {"seals": 1}}, upsert=True)
