"""Only statements the store keeps change the Activities and Agents projections
(Communication 2.4, 2.5; docs/decisions/0004), and they change them before they can be read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from consumers.persist import PersistHandler
from lrs.adapters.memory import InMemoryStatementStore
from lrs.adapters.memory_definitions import InMemoryActivityStore, InMemoryAgentStore
from lrs.codec import encode_accepted
from lrs.ports.statements import AcceptedStatement, InsertReport
from lrs.progress import learner_id
from tests.support.factories import activity, agent, statement
from tests.support.records import StubRecord

STORED = datetime(2026, 11, 30, 9, tzinfo=UTC)
AUTHORITY = {"objectType": "Agent", "mbox": "mailto:lms@example.org"}
COURSE = activity("course/projection", name="Original name")["id"]


def said(name: str, learner_name: str, statement_id: str | None = None) -> dict[str, Any]:
    """A statement naming the course `name` and the learner `learner_name`."""
    doc = statement(1, obj=activity("course/projection", name=name))
    doc["actor"] = agent(1, name=learner_name)
    if statement_id is not None:
        doc["id"] = statement_id
    return doc


def record(doc: dict[str, Any], offset: int) -> StubRecord:
    full = {**doc, "stored": STORED.isoformat(), "authority": AUTHORITY, "version": "1.0.0"}
    accepted = AcceptedStatement("acme", full, STORED, learner_id(full))
    message = encode_accepted(accepted, source="/test")
    return StubRecord(
        "xapi.statements", 0, offset, message.key, message.value, list(message.headers)
    )


class Stores:
    def __init__(self) -> None:
        self.statements = InMemoryStatementStore()
        self.activities = InMemoryActivityStore()
        self.agents = InMemoryAgentStore()
        self.handler = PersistHandler(self.statements, self.activities, self.agents)

    async def course_name(self) -> str:
        definition = await self.activities.get("acme", COURSE)
        assert definition is not None
        return str(definition["name"]["en-US"])

    async def learner_names(self) -> list[str]:
        known = await self.agents.get("acme", learner_id(statement(1)))
        assert known is not None
        return known.names


async def test_a_conflicting_duplicate_changes_no_projection() -> None:
    stores = Stores()
    kept = said("Original name", "Learner One")
    await stores.handler.handle([record(kept, 0)])
    conflict = said("Hijacked name", "Mallory", statement_id=kept["id"])
    outcome = await stores.handler.handle([record(conflict, 1)])
    assert len(outcome.poison) == 1  # refused (dead-lettered as a conflict)
    assert await stores.course_name() == "Original name"
    assert await stores.learner_names() == ["Learner One"]


async def test_the_second_of_one_id_in_a_batch_changes_no_projection() -> None:
    stores = Stores()
    kept = said("Original name", "Learner One")
    conflict = said("Hijacked name", "Mallory", statement_id=kept["id"])
    outcome = await stores.handler.handle([record(kept, 0), record(conflict, 1)])
    assert len(outcome.poison) == 1
    assert await stores.course_name() == "Original name"
    assert await stores.learner_names() == ["Learner One"]


async def test_a_replay_does_not_undo_a_later_statement() -> None:
    """At-least-once delivery: a redelivered (equivalent) statement was merged when it was
    stored; merging it again would bring back the name a later statement replaced."""
    stores = Stores()
    first = record(said("Original name", "Learner One"), 0)
    await stores.handler.handle([first])
    await stores.handler.handle([record(said("Renamed", "Learner One"), 1)])
    await stores.handler.handle([first])
    assert await stores.course_name() == "Renamed"


class CheckingStore(InMemoryStatementStore):
    """Records what the projections held at the moment each statement was inserted."""

    def __init__(self, stores: Stores) -> None:
        super().__init__()
        self._stores = stores
        self.names_at_insert: list[str] = []

    async def insert_many(self, records: Sequence[AcceptedStatement]) -> InsertReport:
        self.names_at_insert.append(await self._stores.course_name())
        return await super().insert_many(records)


async def test_projections_are_merged_before_the_statement_is_stored() -> None:
    """Read-after-write (docs/decisions/0004): once a statement can be read, its Activity
    definition can be too."""
    stores = Stores()
    checking = CheckingStore(stores)
    stores.handler = PersistHandler(checking, stores.activities, stores.agents)
    await stores.handler.handle([record(said("Original name", "Learner One"), 0)])
    await stores.handler.handle([record(said("Renamed", "Learner One"), 1)])
    assert checking.names_at_insert == ["Original name", "Renamed"]
