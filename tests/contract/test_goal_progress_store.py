"""The goal progress contract (lrs.ports.goals.GoalProgressStore: what the goal consumers read
and write), run against the in-memory fake and the MongoDB adapter on the real (embedded)
store. Each side is given the learners' progress and the team registry it reads, written
through their own ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from lrs.adapters.memory_goals import InMemoryGoalProgress
from lrs.adapters.memory_progress import InMemoryProgressStore
from lrs.adapters.mongo_goals import MongoGoalProgress
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_teams import MongoTeamRegistry
from lrs.ports.goals import GoalProgressDoc, GoalProgressStore
from lrs.ports.progress import LearnerDoc, ProgressStore
from lrs.ports.teams import TeamRegistry
from lrs.progress import LearnerState, apply, learner_id
from lrs.progress.registry import Team
from tests.contract.conftest import KINDS, fresh_database
from tests.support.factories import activity, statement

T0 = datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)  # milliseconds, as stores keep


@dataclass
class World:
    goals: GoalProgressStore
    progress: ProgressStore
    registry: TeamRegistry


@pytest.fixture(params=KINDS)
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "memory":
        progress = InMemoryProgressStore()
        yield World(InMemoryGoalProgress(progress), progress, progress.registry)
        return
    async with fresh_database(request) as db:
        goals, stored = MongoGoalProgress(db), MongoProgressStore(db)
        await goals.create_indexes()
        await stored.create_indexes()
        yield World(goals, stored, MongoTeamRegistry(db))


def goal(name: str, *members: str, tenant: str = "acme", **changes: object) -> GoalProgressDoc:
    value = {"goal": name, "status": "on_track", "members": len(members)}
    made = GoalProgressDoc(tenant, name, value, tuple(members), 1, None, "team:sales")
    return replace(made, **changes)  # type: ignore[arg-type]


def learner(n: int, *teams: str, tenant: str = "acme") -> LearnerDoc:
    done = statement(n, obj=activity(f"course/{n}"))
    state = apply(LearnerState(learner_id(done)), done)
    return LearnerDoc(tenant, state.learner, state, tuple(teams), {"completed": 1}, 1)


async def test_goal_progress_is_written_by_compare_and_set(world: World) -> None:
    goals = world.goals
    due = T0 + timedelta(days=1)
    g1 = goal("g1", "ann", "bob", next_check_at=due, owner_key="learner:ann")
    assert await goals.save([g1, goal("g2", tenant="other")], T0) == set()
    assert await goals.load("acme", ["g1", "g2", "nobody"]) == {"g1": g1}
    assert await goals.load("other", ["g2"]) == {"g2": goal("g2", tenant="other")}
    assert await goals.save([replace(g1, value={"lost": True})], T0) == {"g1"}
    newer = replace(g1, value={"status": "achieved"}, members=("ann",), version=2)
    assert await goals.save([newer, replace(goal("g3"), version=4)], T0) == set()
    assert await goals.save([replace(newer, version=2), replace(goal("g3"), version=5)], T0) == {
        "g1"
    }
    loaded = await goals.load("acme", ["g1", "g3"])
    assert loaded == {"g1": newer, "g3": replace(goal("g3"), version=5)}
    assert await goals.load("acme", []) == {}


async def test_goals_listing_any_learner_are_those_that_counted_them(world: World) -> None:
    goals = world.goals
    docs = [goal("g1", "ann", "bob"), goal("g2", "bob"), goal("g3"), goal("g4", "ann", tenant="b")]
    await goals.save(docs, T0)
    assert sorted(await goals.goals_listing_any("acme", ["ann", "cat"])) == ["g1"]
    assert sorted(await goals.goals_listing_any("acme", {"bob"})) == ["g1", "g2"]
    assert await goals.goals_listing_any("acme", ["cat"]) == []
    assert await goals.goals_listing_any("acme", []) == []


async def test_due_goals_are_those_whose_check_has_come(world: World) -> None:
    goals = world.goals
    soon, later = T0 + timedelta(hours=1), T0 + timedelta(days=1)
    await goals.save(
        [
            goal("g1", next_check_at=soon),
            goal("g2", next_check_at=later),
            goal("g3"),
            goal("g4", tenant="other", next_check_at=T0),
        ],
        T0,
    )
    assert await goals.due(T0 - timedelta(seconds=1), 10) == []
    assert sorted(await goals.due(soon, 10)) == [("acme", "g1"), ("other", "g4")]
    assert sorted(await goals.due(later, 10)) == [("acme", "g1"), ("acme", "g2"), ("other", "g4")]
    assert await goals.due(later, 2) == [("other", "g4"), ("acme", "g1")]  # longest due first


async def test_members_come_from_the_registry_and_from_the_learners_progress(
    world: World,
) -> None:
    ann, bob, cat = learner(1, "sales"), learner(2), learner(3, "ops")
    elsewhere = learner(4, "sales", tenant="other")
    await world.progress.save_learners([ann, bob, cat, elsewhere], T0)
    await world.registry.create(Team("acme", "sales", "Sales", T0, (bob.learner, "dan")))
    await world.registry.create(Team("acme", "gone", "Gone", T0, ("eve",)))
    await world.registry.delete("acme", "gone")
    await world.registry.create(Team("other", "sales", "Sales", T0, ("fay",)))
    goals = world.goals
    assert await goals.team_members("acme", "sales") == {ann.learner, bob.learner, "dan"}
    assert await goals.team_members("acme", "ops") == {cat.learner}
    assert await goals.team_members("acme", "gone") == set()
    assert await goals.team_members("acme", "nobody") == set()
    everyone = {ann.learner, bob.learner, cat.learner, "dan"}
    assert await goals.tenant_members("acme") == everyone
    assert await goals.tenant_members("nobody") == set()


async def test_a_learners_teams_are_the_inverse_of_team_members(world: World) -> None:
    ann = learner(1, "sales", "ops")
    await world.progress.save_learners([ann, learner(1, "x", tenant="other")], T0)
    await world.registry.create(Team("acme", "blue", "Blue", T0, (ann.learner,)))
    await world.registry.create(Team("other", "red", "Red", T0, (ann.learner,)))
    reader: MongoGoalProgress | InMemoryGoalProgress = world.goals  # type: ignore[assignment]
    assert await reader.learner_teams("acme", ann.learner) == {"sales", "ops", "blue"}
    assert await reader.learner_teams("acme", "dan") == set()


async def test_states_are_the_stored_states_of_the_learners_with_progress(world: World) -> None:
    ann, bob = learner(1), learner(2)
    await world.progress.save_learners([ann, bob, learner(3, tenant="other")], T0)
    states = await world.goals.states("acme", [ann.learner, "nobody", learner(3).learner])
    assert states == {ann.learner: ann.state}
    assert await world.goals.states("acme", []) == {}
