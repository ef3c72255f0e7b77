"""The persister remembers the Agents it read or merged, and the Activities when it is their only
writer (lrs.adapters.mongo_definitions.KnownDigests, LRS_PERSIST_KNOWN_DEFINITIONS,
docs/decisions/0030), on the real store: a remembered document is not read again, and an erased
Agent always is, so that a statement accepted after the erasure gives its Person back
(Communication 2.4, docs/erasure.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.persist import PersistHandler
from lrs.adapters.mongo_definitions import KnownDigests, MongoActivityStore, MongoAgentStore
from lrs.adapters.mongo_erasure import MongoErasedAgents, MongoErasureStore
from lrs.adapters.mongo_store import MongoStatementStore, connect
from lrs.codec import encode_accepted
from lrs.erasure import agent_hash
from lrs.ports.statements import AcceptedStatement
from lrs.progress import learner_id
from tests.conftest import Infra, unique_name
from tests.support.factories import agent, statement
from tests.support.records import StubRecord

pytestmark = pytest.mark.integration
TENANT = "acme"
AUTHORITY = {"objectType": "Agent", "mbox": "mailto:lms@example.org"}
ANN = learner_id(statement("ann"))
COURSE = "https://content.example.org/course/remembered"


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[Any]:
    client = connect(infra.mongodb_uri)
    try:
        yield client[unique_name("agents")]
    finally:
        await client.close()


def accepted(stored: datetime) -> AcceptedStatement:
    doc = statement("ann")
    doc["actor"] = agent("ann", name="Ann")
    full = {**doc, "stored": stored.isoformat(), "authority": AUTHORITY, "version": "1.0.0"}
    return AcceptedStatement(TENANT, full, stored, learner_id(full))


def record(stored: datetime, offset: int) -> StubRecord:
    message = encode_accepted(accepted(stored), source="/test")
    return StubRecord("xapi.statements", 0, offset, message.key, message.value, message.headers)


async def person(db: Any) -> list[str]:
    """The names of Ann's stored Agent document; [] when there is none."""
    doc = await db["agents"].find_one({"tenant": TENANT, "ifi": ANN})
    return list(doc["names"]) if doc else ["(none)"]


async def test_a_remembered_agent_is_not_read_again_and_an_erased_one_is(db: Any) -> None:
    agents = MongoAgentStore(db, known=KnownDigests(100))
    await agents.merge([accepted(datetime.now(UTC))])
    await db["agents"].delete_many({})  # behind the store's back: it does not read again
    await agents.merge([accepted(datetime.now(UTC))])
    assert await person(db) == ["(none)"]
    await agents.merge([accepted(datetime.now(UTC))], erased=[(TENANT, ANN)])
    assert await person(db) == ["Ann"]


async def test_a_statement_accepted_after_an_erasure_gives_the_person_back(db: Any) -> None:
    statements = MongoStatementStore(db)
    await statements.create_indexes()
    handler = PersistHandler(
        statements,
        MongoActivityStore(db),
        MongoAgentStore(db, known=KnownDigests(100)),
        erased=MongoErasedAgents(db),
    )
    before = datetime.now(UTC) - timedelta(minutes=1)
    await handler.handle([record(before, 0)])
    assert await person(db) == ["Ann"]
    erasure = MongoErasureStore(db)
    await erasure.begin(TENANT, [agent_hash(TENANT, ANN)], "admin", before + timedelta(seconds=1))
    await erasure.erase_documents(TENANT, [ANN])
    assert await person(db) == ["(none)"]
    await handler.handle([record(datetime.now(UTC), 1)])  # new data, after the erasure
    assert await person(db) == ["Ann"]


async def test_the_only_persister_remembers_activities_and_sends_only_changes(db: Any) -> None:
    """Activities are remembered when one persister writes them all (docs/decisions/0030): an
    unchanged definition is neither read nor written again; a changed one is written."""
    activities = MongoActivityStore(db, known=KnownDigests(100))
    await activities.merge([defining("Course")])
    await db["activities"].delete_many({})  # behind the store's back: it does not read again
    await activities.merge([defining("Course")])
    assert await db["activities"].count_documents({}) == 0
    await activities.merge([defining("Course, renamed")])
    assert await activities.get(TENANT, COURSE) == {"name": {"en-US": "Course, renamed"}}


def defining(name: str) -> AcceptedStatement:
    """A statement defining the course `name`."""
    doc = statement("ann", obj={"id": COURSE, "definition": {"name": {"en-US": name}}})
    stored = datetime.now(UTC)
    full = {**doc, "stored": stored.isoformat(), "authority": AUTHORITY, "version": "1.0.0"}
    return AcceptedStatement(TENANT, full, stored, learner_id(full))
