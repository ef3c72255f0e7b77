"""The GoalStore contract (lrs.ports.goals), run against the in-memory reference and the
MongoDB adapter on the real (embedded) store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from lrs.adapters.memory_goals import InMemoryGoalStore
from lrs.adapters.mongo_goals import MongoGoalStore
from lrs.goals import Goal
from lrs.goals.model import Owner, Target
from lrs.ports.goals import GoalIndex, GoalStore
from tests.contract.conftest import KINDS, fresh_database

UPDATED = datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)  # milliseconds, as stores keep
COURSE = "https://content.example.org/course/1"


def goal(goal_id: str, owner: Owner, tenant: str = "acme", **changes: object) -> Goal:
    made = Goal(
        tenant=tenant,
        goal_id=goal_id,
        name=f"Goal {goal_id}",
        owner=owner,
        start=date(2026, 11, 1),
        targets=(
            Target("complete", activities=(COURSE,)),
            Target("score", activity=COURSE, score=0.8),
        ),
        achieved_by=date(2026, 12, 31),
        description="Finish the course",
        updated=UPDATED,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


ANN = Owner("learner", "mbox:mailto:ann@x.org")
SALES = Owner("team", "sales")
ORG = Owner("organisation")


@pytest.fixture(params=KINDS)
async def goals(request: pytest.FixtureRequest) -> AsyncIterator[GoalStore]:
    if request.param == "memory":
        yield InMemoryGoalStore()
        return
    async with fresh_database(request) as db:
        store = MongoGoalStore(db)
        await store.create_indexes()
        yield store


async def test_a_created_goal_reads_back_whole_and_once(goals: GoalStore) -> None:
    recurring = goal(
        "g1",
        SALES,
        achieved_by=None,
        recurrence="month",
        type="self",
        targets=(Target("members", share=0.5, of=Target("learning_days", days=3, per="week")),),
    )
    assert await goals.create(recurring)
    assert not await goals.create(goal("g1", ANN))
    assert await goals.get("acme", "g1") == recurring
    assert await goals.get("other", "g1") is None
    assert await goals.get("acme", "g2") is None


async def test_goals_are_listed_by_id_per_owner_archived_on_request(goals: GoalStore) -> None:
    for made in (
        goal("g3", ANN),
        goal("g1", SALES),
        goal("g2", ANN, archived=True),
        goal("g4", ORG),
        goal("g0", ANN, tenant="other"),
    ):
        await goals.create(made)
    assert [g.goal_id for g in await goals.list_goals("acme")] == ["g1", "g3", "g4"]
    listed = await goals.list_goals("acme", archived=True)
    assert [g.goal_id for g in listed] == ["g1", "g2", "g3", "g4"]
    assert [g.goal_id for g in await goals.list_goals("acme", ANN.key)] == ["g3"]
    assert [g.goal_id for g in await goals.list_goals("acme", ANN.key, archived=True)] == [
        "g2",
        "g3",
    ]
    assert [g.goal_id for g in await goals.list_goals("acme", "organisation")] == ["g4"]
    assert await goals.list_goals("nobody") == []


async def test_replacing_needs_the_version_read(goals: GoalStore) -> None:
    await goals.create(goal("g1", ANN))
    renamed = goal("g1", ANN, name="Renamed", version=2)
    assert not await goals.replace(2, renamed)
    assert await goals.replace(1, renamed)
    assert not await goals.replace(1, goal("g1", ANN, name="Lost", version=2))
    assert await goals.get("acme", "g1") == renamed
    archived = replace(renamed, archived=True, version=3)
    assert await goals.replace(2, archived)
    assert await goals.list_goals("acme") == []
    assert not await goals.replace(1, goal("unknown", ANN, version=2))
    assert await goals.get("acme", "unknown") is None


async def test_goal_ids_are_those_of_the_live_goals_of_the_owners(goals: GoalStore) -> None:
    index: GoalIndex = goals  # type: ignore[assignment]  # both stores are also a GoalIndex
    for made in (
        goal("g1", ANN),
        goal("g2", SALES),
        goal("g3", ANN, archived=True),
        goal("g4", ORG),
        goal("g5", ANN, tenant="other"),
    ):
        assert await goals.create(made)
    assert sorted(await index.goal_ids_for("acme", {ANN.key, SALES.key})) == ["g1", "g2"]
    assert await index.goal_ids_for("acme", {ORG.key}) == ["g4"]
    assert await index.goal_ids_for("acme", set()) == []
