"""The progress consumer keeps the learner documents it read or wrote decoded between batches
(lrs.adapters.state_cache, LRS_PROGRESS_STATE_CACHE_FACTS, docs/decisions/0029), on the real
store: a load gives a kept document without reading the store, and a write of its successor is
refused once any other writer has changed or deleted the stored one (another consumer instance,
a rebuild's reset, an erasure, even one followed by new statements up to the kept version): the
consumer then reads the stored document again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from bson import Binary

from consumers.progress.learner import LearnerProgress
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
    doc = await successor(store, statements)
    assert await store.save_learners([doc], NOW) == set()
    return doc


async def successor(store: MongoProgressStore, statements: int) -> LearnerDoc:
    """The loaded learner's next document, with `statements` more."""
    loaded = await store.load_learners(TENANT, [WHO])
    current = loaded.get(WHO) or LearnerDoc.empty(TENANT, WHO)
    return current.successor(more(current.state, statements), {"tenant": TENANT}, ())


async def refused_then_read_again(consumer: MongoProgressStore) -> LearnerState:
    """The consumer's write from its kept document is refused; the state it loads next."""
    assert await consumer.save_learners([await successor(consumer, 1)], NOW) == {WHO}
    return await loaded_state(consumer)


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


async def test_a_write_by_another_instance_refuses_the_kept_ones_successor(db: Any) -> None:
    consumer, other = MongoProgressStore(db, StateCache(1000)), MongoProgressStore(db)
    await write(consumer, 2)
    theirs = await write(other, 1)
    assert await refused_then_read_again(consumer) == theirs.state
    assert len((await write(consumer, 1)).state.facts) == 4


async def test_the_consumer_folds_its_batch_into_what_another_instance_wrote(db: Any) -> None:
    """Through `LearnerProgress`: the refused write is retried on the stored document."""
    consumer, other = MongoProgressStore(db, StateCache(1000)), MongoProgressStore(db)
    folding = LearnerProgress(consumer, lambda: NOW)
    await folding.apply_statements(TENANT, [statement("kept"), statement("kept")])
    await write(other, 1)
    await folding.apply_statements(TENANT, [statement("kept")])
    assert len((await loaded_state(MongoProgressStore(db))).facts) == 4


async def test_a_rebuild_reset_refuses_the_kept_ones_successor(db: Any) -> None:
    consumer = MongoProgressStore(db, StateCache(1000))
    await write(consumer, 2)
    await MongoProgressStore(db).reset_learners(TENANT)  # `lrs progress` rebuild, elsewhere
    assert await refused_then_read_again(consumer) == LearnerState(WHO)


async def test_an_erased_learner_written_again_to_the_same_version_is_not_the_kept_one(
    db: Any,
) -> None:
    consumer, other = MongoProgressStore(db, StateCache(1000)), MongoProgressStore(db)
    kept = await write(consumer, 2)  # version 1
    await MongoErasureStore(db).erase_progress(TENANT, [WHO])
    again = await write(other, 1)  # version 1 again, new statements only
    assert again.version == kept.version
    assert await refused_then_read_again(consumer) == again.state


async def test_an_erased_learner_is_not_written_back_from_the_kept_document(db: Any) -> None:
    consumer = MongoProgressStore(db, StateCache(1000))
    await write(consumer, 2)
    await MongoErasureStore(db).erase_progress(TENANT, [WHO])
    assert await consumer.save_learners([await successor(consumer, 1)], NOW) == {WHO}
    assert await db["progress_learners"].count_documents({}) == 0
    assert await consumer.load_learners(TENANT, [WHO]) == {}


async def test_a_kept_document_another_writer_changed_is_never_published_as_current(
    db: Any,
) -> None:
    """A batch that changes nothing (a statement delivered again) reports the learner's
    current document: the stored one, not the one kept before another instance wrote."""
    consumer, other = MongoProgressStore(db, StateCache(1000)), MongoProgressStore(db)
    folding = LearnerProgress(consumer, lambda: NOW)
    again = statement("kept")
    await folding.apply_statements(TENANT, [again])
    theirs = await write(other, 1)
    changes = await folding.apply_statements(TENANT, [again])
    [current] = changes.learners
    assert current.version >= theirs.version  # theirs, or its successor (a new summary)
    assert current.state == theirs.state
