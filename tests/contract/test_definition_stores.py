"""The ActivityStore and AgentStore contracts (lrs.ports.definitions), run against the in-memory
references and the MongoDB adapters on the real (embedded) store (Data 2.4.4.1: the LRS keeps a
canonical definition per Activity)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from lrs.adapters.memory_definitions import InMemoryActivityStore, InMemoryAgentStore
from lrs.adapters.mongo_definitions import MongoActivityStore, MongoAgentStore
from lrs.ports.definitions import ActivityStore, AgentStore, KnownAgent
from lrs.ports.statements import AcceptedStatement
from lrs.xapi.ifi import actor_ifi
from tests.contract.conftest import KINDS, fresh_database
from tests.support.factories import activity, agent, statement

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
COURSE = "https://content.example.org/course/1"


def record(doc: dict[str, Any], tenant: str = "acme") -> AcceptedStatement:
    return AcceptedStatement(tenant, doc, T0, actor_ifi(doc["actor"]))


def about(definition: dict[str, Any], learner: int | str = 1) -> AcceptedStatement:
    return record(statement(learner, obj={**activity(), "definition": definition}))


@pytest.fixture(params=KINDS)
async def activities(request: pytest.FixtureRequest) -> AsyncIterator[ActivityStore]:
    if request.param == "memory":
        yield InMemoryActivityStore(max_bytes=400)
        return
    async with fresh_database(request) as db:
        store = MongoActivityStore(db, max_bytes=400)
        await store.create_indexes()
        yield store


@pytest.fixture(params=KINDS)
async def agents(request: pytest.FixtureRequest) -> AsyncIterator[AgentStore]:
    if request.param == "memory":
        yield InMemoryAgentStore(max_names=3)
        return
    async with fresh_database(request) as db:
        store = MongoAgentStore(db, max_names=3)
        await store.create_indexes()
        yield store


async def test_language_maps_merge_and_other_fields_are_replaced(activities: ActivityStore) -> None:
    await activities.merge([about({"name": {"en-US": "Course"}, "type": "http://t/one"})])
    await activities.merge(
        [
            about({"name": {"de-DE": "Kurs"}, "description": {"en-US": "All of it"}}),
            about({"type": "http://t/two", "name": {"en-US": "Course 1"}}),
        ]
    )
    assert await activities.get("acme", COURSE) == {
        "name": {"en-US": "Course 1", "de-DE": "Kurs"},
        "description": {"en-US": "All of it"},
        "type": "http://t/two",
    }


async def test_definitions_are_per_tenant_and_unknown_ones_none(activities: ActivityStore) -> None:
    await activities.merge([about({"name": {"en-US": "Acme's"}})])
    assert await activities.get("other", COURSE) is None
    assert await activities.get("acme", "https://content.example.org/never") is None
    other = statement(obj={**activity(), "definition": {"name": {"en-US": "Other's"}}})
    await activities.merge([record(other, tenant="other")])
    assert await activities.get("acme", COURSE) == {"name": {"en-US": "Acme's"}}
    assert await activities.get("other", COURSE) == {"name": {"en-US": "Other's"}}


async def test_merging_again_changes_nothing(activities: ActivityStore) -> None:
    batch = [about({"name": {"en-US": "Course"}}), about({"name": {"fr-FR": "Cours"}})]
    await activities.merge(batch)
    first = await activities.get("acme", COURSE)
    await activities.merge(batch)
    assert (
        await activities.get("acme", COURSE)
        == first
        == {"name": {"en-US": "Course", "fr-FR": "Cours"}}
    )


async def test_a_definition_past_the_bound_replaces_the_stored_one(
    activities: ActivityStore,
) -> None:
    await activities.merge([about({"name": {"en-US": "x" * 150}})])
    await activities.merge([about({"name": {"de-DE": "y" * 300}})])
    assert await activities.get("acme", COURSE) == {"name": {"de-DE": "y" * 300}}


async def test_an_agent_keeps_its_identifier_and_latest_names(agents: AgentStore) -> None:
    ifi = actor_ifi(agent(1))
    assert await agents.get("acme", ifi) is None
    for name in ("Ann", "Ann B", "Ann", "A. B.", "Annie"):
        await agents.merge([record(statement(obj=activity(), actor=agent(1, name=name)))])
    assert await agents.get("acme", ifi) == KnownAgent(
        {"mbox": "mailto:learner1@example.org"}, ["Ann B", "A. B.", "Annie"]
    )
    assert await agents.get("other", ifi) is None


async def test_names_in_one_batch_count_in_order(agents: AgentStore) -> None:
    names = ["One", "Two", "Three", "Four", "Two"]
    await agents.merge([record(statement(actor=agent(2, name=n))) for n in names])
    known = await agents.get("acme", actor_ifi(agent(2)))
    assert known is not None
    assert known.names == ["Two", "Three", "Four"]
