"""Activities and Agents are written when new or changed, decided from the stored document, so
it holds across persister processes and restarts (docs/decisions/0004, 0014)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from lrs.adapters.mongo_definitions import MongoActivityStore, MongoAgentStore
from lrs.adapters.mongo_store import connect
from lrs.ports.statements import AcceptedStatement
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.writes import counter_for

pytestmark = pytest.mark.integration
COURSE = "https://content.example.org/course/writes"


def named(name: str) -> list[AcceptedStatement]:
    """One statement whose Activity is called `name` (and whose learner is Learner 1)."""
    obj: dict[str, Any] = {"id": COURSE, "definition": {"name": {"en-US": name}}}
    doc = statement(1, obj=obj)
    return [AcceptedStatement("t", doc, datetime.now(UTC), "mbox:mailto:learner1@example.org")]


async def test_a_change_back_is_written_though_another_process_wrote_in_between(
    infra: Infra,
) -> None:
    """A (process 1) -> B (process 2) -> A (process 1): the Activity ends as A."""
    client = connect(infra.mongodb_uri)
    try:
        db = client[unique_name("defs")]
        first, second = MongoActivityStore(db), MongoActivityStore(db)
        await first.merge(named("A"))
        await second.merge(named("B"))
        await first.merge(named("A"))
        assert await first.get("t", COURSE) == {"name": {"en-US": "A"}}
    finally:
        await client.close()


async def test_what_is_stored_already_is_not_written_again_even_after_a_restart(
    infra: Infra,
) -> None:
    name = unique_name("defs")
    counter = counter_for(name)
    client = connect(infra.mongodb_uri)
    try:
        db = client[name]
        batch = named(f"Course {uuid.uuid4()}")
        await MongoActivityStore(db).merge(batch)
        await MongoAgentStore(db).merge(batch)
        first, _ = counter.snapshot()
        assert first["activities"] >= 1, first  # new: written
        assert first["agents"] >= 1, first
        counter.reset()
        await MongoActivityStore(db).merge(batch)  # a new instance: a restarted persister
        await MongoAgentStore(db).merge(batch)
        again, _ = counter.snapshot()
        assert again["activities"] + again["agents"] == 0, again
    finally:
        await client.close()
