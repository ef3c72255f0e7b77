"""Bulk writes without a journal sync each, sealed by one journaled write
(lrs.adapters.mongo_bulk.JournalFence), on the real store: only where every write is asked to
be journaled on one node, as `lrs serve`'s address asks of its embedded store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.write_concern import WriteConcern

from lrs.adapters.mongo_bulk import JournalFence
from tests.contract.conftest import fresh_database

pytestmark = pytest.mark.integration
Db = AsyncDatabase[dict[str, Any]]


@pytest.fixture
async def db(request: pytest.FixtureRequest) -> AsyncIterator[Db]:
    async with fresh_database(request) as fresh:
        yield fresh


async def seals(db: Db) -> int:
    fence = await db["journal_fences"].find_one({"_id": "test"})
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
