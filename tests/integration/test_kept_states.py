"""The progress consumer keeps the learner states it read or wrote decoded between batches
(lrs.adapters.state_cache, LRS_PROGRESS_STATE_CACHE_FACTS), on the real store: a kept state is
used while the stored document is the one it was kept for, and never once any other writer has
changed it: another consumer instance, a rebuild's reset, an erasure followed by new
statements, even when the document's version is back to the kept one's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from bson import Binary

from lrs.adapters.mongo_erasure import MongoErasureStore
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.state_cache import StateCache
from lrs.ports.progress import LearnerDoc
from lrs.progress import LearnerState, apply, learner_id
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.stack import database, make_settings

pytestmark = pytest.mark.integration

TENANT = "default"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WHO = learner_id(statement("kept"))


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[Any]:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("kept"))
    async with database(settings) as db:
        yield db


def more(state: LearnerState, statements: int) -> LearnerState:
    for _ in range(statements):
        state = apply(state, statement("kept"))
    return state


async def write(store: MongoProgressStore, statements: int) -> LearnerDoc:
    """Load the learner, add statements, save; the saved document."""
    loaded = await store.load_learners(TENANT, [WHO])
    current = loaded.get(WHO) or LearnerDoc.empty(TENANT, WHO)
    doc = current.successor(more(current.state, statements), {"tenant": TENANT}, ())
    assert await store.save_learners([doc], NOW) == set()
    return doc


async def loaded_state(store: MongoProgressStore) -> LearnerState:
    return (await store.load_learners(TENANT, [WHO]))[WHO].state


async def test_a_kept_state_is_what_the_load_gives_without_reading_the_stored_one(db: Any) -> None:
    consumer = MongoProgressStore(db, StateCache(1000))
    written = await write(consumer, 3)
    # The stored state overwritten behind the adapter's back, stamp unchanged: only a load
    # that takes the kept state still gives the written one.
    empty = Binary(orjson.dumps({"facts": {}, "voided": []}))
    await db["progress_learners"].update_one({"_id": f"{TENANT}/{WHO}"}, {"$set": {"state": empty}})
    assert await loaded_state(consumer) == written.state
    assert await loaded_state(MongoProgressStore(db)) == LearnerState(WHO)


async def test_a_write_by_another_instance_is_read_from_the_store(db: Any) -> None:
    consumer, other = MongoProgressStore(db, StateCache(1000)), MongoProgressStore(db)
    await write(consumer, 2)
    theirs = await write(other, 1)
    assert len((await loaded_state(consumer)).facts) == 3
    assert await loaded_state(consumer) == theirs.state


async def test_a_rebuild_reset_empties_the_state_the_consumer_sees(db: Any) -> None:
    consumer = MongoProgressStore(db, StateCache(1000))
    await write(consumer, 2)
    await MongoProgressStore(db).reset_learners(TENANT)  # `lrs progress` rebuild, elsewhere
    assert await loaded_state(consumer) == LearnerState(WHO)


async def test_an_erased_learner_written_again_to_the_same_version_is_not_the_kept_one(
    db: Any,
) -> None:
    consumer, other = MongoProgressStore(db, StateCache(1000)), MongoProgressStore(db)
    kept = await write(consumer, 2)  # version 1
    await MongoErasureStore(db).erase_progress(TENANT, [WHO])
    again = await write(other, 1)  # version 1 again, new statements only
    assert again.version == kept.version
    assert await loaded_state(consumer) == again.state
