"""The goal progress reader contract (lrs.ports.goals.GoalProgressReader: what the API reads of
the goal progress the goal consumer derived), run against the in-memory fake and the MongoDB
reader on the real (embedded) store. Each side is written through the goal consumer's store,
the learners' progress and the team registry of its own kind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from lrs.adapters.memory_goals import InMemoryGoalProgress, InMemoryGoalProgressReader
from lrs.adapters.memory_progress import InMemoryProgressStore
from lrs.adapters.mongo_goals import MongoGoalProgress, MongoGoalProgressReader
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_teams import MongoTeamRegistry
from lrs.ports.goals import GoalProgressDoc, GoalProgressReader, GoalProgressStore
from lrs.ports.progress import LearnerDoc, ProgressStore
from lrs.ports.teams import TeamRegistry
from lrs.progress import LearnerState
from lrs.progress.registry import Team
from tests.contract.conftest import KINDS, fresh_database

T0 = datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)
ANN = "mbox:mailto:ann@x.org"


@dataclass
class World:
    reader: GoalProgressReader
    goals: GoalProgressStore
    progress: ProgressStore
    registry: TeamRegistry


@pytest.fixture(params=KINDS)
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "memory":
        progress = InMemoryProgressStore()
        goals = InMemoryGoalProgress(progress)
        yield World(InMemoryGoalProgressReader(goals), goals, progress, progress.registry)
        return
    async with fresh_database(request) as db:
        stored = MongoGoalProgress(db)
        await stored.create_indexes()
        reader = MongoGoalProgressReader(db)
        yield World(reader, stored, MongoProgressStore(db), MongoTeamRegistry(db))


def progress(goal: str, owner_key: str, tenant: str = "acme", version: int = 1) -> GoalProgressDoc:
    value = {"goalId": goal, "owner": owner_key, "status": "on_track"}
    return GoalProgressDoc(tenant, goal, value, (ANN,), version, None, owner_key)


async def test_goals_are_read_per_owner_in_goal_order_with_their_version(world: World) -> None:
    docs = [
        progress("g3", "team:sales", version=4),
        progress("g1", f"learner:{ANN}"),
        progress("g2", "team:sales", version=2),
        progress("g4", "organisation"),
        progress("g0", "team:sales", tenant="other"),
    ]
    assert await world.goals.save(docs, T0) == set()
    reader = world.reader
    everything = await reader.read_progress("acme", None)
    assert everything == [d.published() for d in sorted(docs[:4], key=lambda d: d.goal)]
    assert [v["version"] for v in everything] == [1, 2, 4, 1]
    assert [v["goalId"] for v in await reader.read_progress("acme", "team:sales")] == ["g2", "g3"]
    assert await reader.read_progress("acme", "team:ops") == []
    assert await reader.read_progress("nobody", None) == []


async def test_goals_of_any_of_several_owners(world: World) -> None:
    docs = [
        progress("g1", f"learner:{ANN}"),
        progress("g2", "team:sales"),
        progress("g3", "organisation"),
        progress("g4", "team:ops"),
    ]
    await world.goals.save(docs, T0)
    owners = {f"learner:{ANN}", "organisation", "team:nobody"}
    found = await world.reader.read_progress_of("acme", owners)
    assert [v["goalId"] for v in found] == ["g1", "g3"]
    assert await world.reader.read_progress_of("acme", []) == []
    assert await world.reader.read_progress_of("other", owners) == []


async def test_a_learners_teams_are_the_registrys_and_those_their_progress_names(
    world: World,
) -> None:
    doc = LearnerDoc("acme", ANN, LearnerState(ANN), ("statement-team",), {}, 1)
    await world.progress.save_learners([doc], T0)
    await world.registry.create(Team("acme", "sales", "Sales", T0, (ANN,)))
    await world.registry.create(Team("acme", "ops", "Ops", T0, ("mbox:mailto:bob@x.org",)))
    await world.registry.create(Team("other", "red", "Red", T0, (ANN,)))
    assert await world.reader.learner_teams("acme", ANN) == {"sales", "statement-team"}
    await world.registry.delete("acme", "sales")
    assert await world.reader.learner_teams("acme", ANN) == {"statement-team"}
    assert await world.reader.learner_teams("other", ANN) == {"red"}
    assert await world.reader.learner_teams("acme", "mbox:mailto:cat@x.org") == set()
