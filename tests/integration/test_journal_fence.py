"""Bulk writes without a journal sync each, sealed by one journaled write
(lrs.adapters.mongo_bulk.JournalFence), on the real store: only where every write is asked to
be journaled on one node, as `lrs serve`'s address asks of its embedded store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.write_concern import WriteConcern

from lrs.adapters.mongo_bulk import JournalFence
from lrs.adapters.mongo_progress import MongoProgressStore
from tests.contract.conftest import fresh_database

pytestmark = pytest.mark.integration
Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Db]:
    async with fresh_database(request) as fresh:
        yield fresh


async def seals(db: Db, name: str = "test") -> int:
    fence = await db["journal_fences"].find_one({"_id": name})
    return int(fence["seals"]) if fence else 0


async def test_with_journaled_writes_the_bulk_skips_the_sync_and_the_seal_is_journaled(
    db: Db,
) -> None:
    journaled = db.with_options(write_concern=WriteConcern(j=True))
    fence = JournalFence(journaled, "test")
    assert fence.active
    writes = fence.unjournaled(journaled["docs"])
    assert writes.write_concern.document == {"j": False}
    await writes.insert_many([{"_id": n} for n in range(3)])
    await fence.seal()
    await fence.seal()
    assert await seals(db) == 2
    assert await db["docs"].count_documents({}) == 3


@pytest.mark.parametrize(
    "concern", [WriteConcern(), WriteConcern(w="majority", j=True), WriteConcern(j=False)]
)
async def test_under_any_other_write_concern_nothing_changes(db: Db, concern: WriteConcern) -> None:
    """A replica set's majority (the fence would make one node's journal durable, not the
    majority's), or no journaling asked: the writes keep their concern, `seal` writes nothing."""
    other = db.with_options(write_concern=concern)
    fence = JournalFence(other, "test")
    assert not fence.active
    assert fence.unjournaled(other["docs"]).write_concern == concern
    await fence.seal()
    assert await seals(db) == 0


async def test_the_progress_store_seals_every_save_even_with_nothing_to_write(db: Db) -> None:
    """The progress consumers also publish documents they found up to date, which may be
    unsealed writes (an attempt whose seal failed, another writer's): a save with nothing to
    write seals all the same, before the consumer publishes or commits."""
    store = MongoProgressStore(db.with_options(write_concern=WriteConcern(j=True)))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    await store.save_learners([], now)
    await store.save_teams([], now)
    assert await seals(db, "progress") == 2
