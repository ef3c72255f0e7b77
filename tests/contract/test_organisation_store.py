"""The organisation progress contract (lrs.ports.organisation.OrganisationProgressStore: what
the organisation-progress consumer reads and writes), run against the in-memory fake and the
MongoDB adapter on the real (embedded) store. Each side is given the learners' progress, the
team registry and the goals' progress it reads, written through their own ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest

from lrs.adapters.memory_organisation import InMemoryOrganisationProgress
from lrs.adapters.mongo_goals import MongoGoalProgress
from lrs.adapters.mongo_organisation import MongoOrganisationProgress, MongoOrganisationReader
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_teams import MongoTeamRegistry
from lrs.ports.goals import GoalProgressDoc, GoalProgressStore
from lrs.ports.organisation import OrganisationDoc, OrganisationProgressStore, OrganisationReader
from lrs.ports.progress import LearnerDoc, ProgressStore
from lrs.ports.teams import TeamRegistry
from lrs.progress import LearnerState, apply, learner_id
from lrs.progress.organisation import ActivityMark, LearnerFigures
from lrs.progress.registry import Team
from tests.contract.conftest import KINDS, fresh_database
from tests.support.factories import activity, statement

T0 = datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)  # milliseconds, as stores keep


@dataclass
class World:
    organisation: OrganisationProgressStore
    progress: ProgressStore
    registry: TeamRegistry
    goals: GoalProgressStore
    reader: OrganisationReader


@pytest.fixture(params=KINDS)
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "memory":
        store = InMemoryOrganisationProgress()
        yield World(store, store.progress, store.progress.registry, store.goals, store)
        return
    async with fresh_database(request) as db:
        organisation = MongoOrganisationProgress(db)
        await organisation.create_indexes()
        progress, registry = MongoProgressStore(db), MongoTeamRegistry(db)
        reader = MongoOrganisationReader(db)
        yield World(organisation, progress, registry, MongoGoalProgress(db), reader)


def value(learners: int) -> dict[str, object]:
    return {"learners": learners, "teams": [{"team": "sales", "members": 2}]}


def learner(n: int, *teams: str, tenant: str = "acme", rows: int = 1) -> LearnerDoc:
    done = statement(n, obj=activity(f"course/{n}"), timestamp=f"2026-11-{10 + n}T08:00:00Z")
    state = apply(LearnerState(learner_id(done)), done)
    summary = {"activities": [{"activity": f"course/{i}", "completion": True} for i in range(rows)]}
    return LearnerDoc(tenant, state.learner, state, tuple(teams), summary, 1)


async def test_the_value_is_written_by_compare_and_set(world: World) -> None:
    store = world.organisation
    assert await store.load("acme") == OrganisationDoc("acme")
    first = OrganisationDoc("acme", value(1), 1, T0 + timedelta(days=1))
    assert await store.save(first, T0)
    assert await store.load("acme") == first
    assert not await store.save(replace(first, value=value(9)), T0)  # another version 1
    second = replace(first, value=value(2), version=2, next_check_at=None)
    assert await store.save(second, T0)
    assert not await store.save(replace(second, value=value(9)), T0)
    assert await store.load("acme") == second
    assert await store.save(OrganisationDoc("other", value(5), 5), T0)  # nothing to replace
    assert await store.load("other") == OrganisationDoc("other", value(5), 5)
    assert await store.load("acme") == second


async def test_the_api_reads_the_last_value_written_with_its_tenant_and_version(
    world: World,
) -> None:
    assert await world.reader.read_organisation("acme") is None
    first = OrganisationDoc("acme", value(1), 1, T0 + timedelta(days=1))
    assert await world.organisation.save(first, T0)
    assert await world.reader.read_organisation("acme") == {
        **value(1),
        "tenant": "acme",
        "version": 1,
    }
    assert await world.organisation.save(replace(first, value=value(3), version=2), T0)
    assert not await world.organisation.save(replace(first, value=value(9)), T0)
    assert await world.reader.read_organisation("acme") == {
        **value(3),
        "tenant": "acme",
        "version": 2,
    }
    assert await world.reader.read_organisation("other") is None


async def test_due_tenants_are_those_whose_check_has_come(world: World) -> None:
    store = world.organisation
    soon, later = T0 + timedelta(hours=1), T0 + timedelta(days=1)
    for tenant, check in (("a", soon), ("b", later), ("c", None), ("d", T0)):
        assert await store.save(OrganisationDoc(tenant, value(1), 1, check), T0)
    assert await store.due(T0 - timedelta(seconds=1), 10) == []
    assert sorted(await store.due(soon, 10)) == ["a", "d"]
    assert sorted(await store.due(later, 10)) == ["a", "b", "d"]
    assert await store.due(later, 2) == ["d", "a"]  # the longest due first


async def test_learners_figures_come_from_their_stored_progress(world: World) -> None:
    ann, bob = learner(1, "sales", rows=2), learner(2, rows=0)
    await world.progress.save_learners([ann, bob, learner(3, tenant="other")], T0)
    figures = sorted(await world.organisation.learners("acme"), key=lambda f: f.learner)
    assert figures == sorted(
        [
            LearnerFigures(
                ann.learner,
                (date(2026, 11, 11),),
                tuple(ActivityMark(f"course/{i}", None, False, True, False) for i in range(2)),
                ("sales",),
            ),
            LearnerFigures(bob.learner, (date(2026, 11, 12),)),
        ],
        key=lambda f: f.learner,
    )
    assert await world.organisation.learners("nobody") == []


async def test_named_learners_are_those_of_them_with_progress_in_the_tenant(
    world: World,
) -> None:
    ann, bob, other = learner(1, "sales", rows=2), learner(2), learner(1, tenant="other")
    await world.progress.save_learners([ann, bob, other], T0)
    every = {f.learner: f for f in await world.organisation.learners("acme")}
    named = await world.organisation.named_learners("acme", [ann.learner, "mbox:mailto:no@x.org"])
    assert named == [every[ann.learner]]
    both = await world.organisation.named_learners("acme", [ann.learner, bob.learner])
    assert sorted(both, key=lambda f: f.learner) == sorted(every.values(), key=lambda f: f.learner)
    assert await world.organisation.named_learners("acme", []) == []
    assert await world.organisation.named_learners("nobody", [ann.learner]) == []


async def test_the_registry_is_every_team_not_deleted(world: World) -> None:
    registry = world.registry
    await registry.create(Team("acme", "sales", "Sales", T0, ("ann", "bob")))
    await registry.create(Team("acme", "ops", "Ops", T0, ()))
    await registry.create(Team("acme", "gone", "Gone", T0, ("cat",)))
    await registry.delete("acme", "gone")
    await registry.create(Team("other", "red", "Red", T0, ("dan",)))
    teams = sorted(await world.organisation.registry("acme"))
    assert teams == [("ops", "Ops", []), ("sales", "Sales", ["ann", "bob"])]
    assert await world.organisation.registry("nobody") == []


async def test_goal_values_are_the_tenants_stored_goal_progress(world: World) -> None:
    values = [{"goal": g, "status": "on_track"} for g in ("g1", "g2")]
    docs = [GoalProgressDoc("acme", v["goal"], v, (), 1) for v in values]
    await world.goals.save([*docs, GoalProgressDoc("other", "g3", {"goal": "g3"}, (), 1)], T0)
    found = await world.organisation.goal_values("acme")
    assert sorted(found, key=lambda v: v["goal"]) == values
    assert await world.organisation.goal_values("nobody") == []
