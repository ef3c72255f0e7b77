"""The progress state contract (lrs.ports.progress.ProgressStore: what the progress consumers and
`lrs progress rebuild` read and write), run against the in-memory fake and the MongoDB adapter
on the real (embedded) store. Each side is given the statement store and team registry it
reads, written through their own ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.write_concern import WriteConcern

from lrs.adapters.memory import InMemoryStatementStore
from lrs.adapters.memory_progress import InMemoryProgressStore
from lrs.adapters.memory_teams import InMemoryTeamRegistry
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_store import MongoStatementStore
from lrs.adapters.mongo_teams import MongoTeamRegistry
from lrs.adapters.state_cache import StateCache
from lrs.ports.progress import LearnerDoc, LearnerSummary, ProgressStore, TeamDoc
from lrs.ports.statements import AcceptedStatement, StatementWriter
from lrs.ports.teams import TeamRegistry
from lrs.progress import LearnerState, StatementFacts, apply, fold, learner_id
from lrs.progress.model import seal, unseal
from lrs.progress.registry import Team
from lrs.xapi.ifi import actor_ifi
from tests.contract.conftest import KINDS, fresh_database
from tests.support.factories import activity, statement, voiding

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class World:
    progress: ProgressStore
    statements: StatementWriter
    registry: TeamRegistry


@pytest.fixture(params=[*KINDS, "mongo-journaled", "mongo-kept"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """`mongo-journaled`: every write journaled, as `lrs serve` asks of its embedded store; the
    adapter then writes learners and teams unjournaled and seals them (JournalFence).
    `mongo-kept`: with learner states kept decoded between loads, as the progress consumer's."""
    if request.param == "memory":
        statements, registry = InMemoryStatementStore(), InMemoryTeamRegistry()
        yield World(InMemoryProgressStore(statements, registry), statements, registry)
        return
    async with fresh_database(request) as plain:
        journaled = request.param == "mongo-journaled"
        db = plain.with_options(write_concern=WriteConcern(j=True)) if journaled else plain
        kept = StateCache(10_000 if request.param == "mongo-kept" else 0)
        progress = MongoProgressStore(db, kept)
        await progress.create_indexes()
        yield World(progress, MongoStatementStore(db), MongoTeamRegistry(db))


async def store(world: World, *docs: dict[str, Any], tenant: str = "acme") -> None:
    records = [
        AcceptedStatement(tenant, {**d, "stored": T0.isoformat()}, T0, actor_ifi(d["actor"]))
        for d in docs
    ]
    await world.statements.insert_many(records)


def learner_doc(learner: int, tenant: str = "acme", *teams: str, version: int = 1) -> LearnerDoc:
    done = statement(learner, obj=activity(f"course/{learner}"))
    state = apply(LearnerState(learner_id(done)), done)
    summary = {"learner": state.learner, "teams": list(teams), "completed": 1}
    return LearnerDoc(tenant, state.learner, state, tuple(teams), summary, version)


def registry_team(name: str, *members: str, tenant: str = "acme") -> Team:
    return Team(tenant, name, name, T0, tuple(members))


async def test_voids_are_remembered_per_tenant_and_idempotently(world: World) -> None:
    progress = world.progress
    await progress.remember_voids("acme", {"s1", "s2"})
    await progress.remember_voids("acme", {"s2", "s3"})
    await progress.remember_voids("other", {"s4"})
    assert await progress.voided_among("acme", {"s1", "s3", "s4", "s5"}) == {"s1", "s3"}
    assert await progress.voided_among("other", {"s1", "s4"}) == {"s4"}
    assert await progress.voided_among("acme", set()) == set()


async def test_owners_are_the_learners_of_stored_non_voiding_statements(world: World) -> None:
    first, second = statement(1), statement(2)
    void = voiding(first["id"], learner=3)
    await store(world, first, second, void)
    await store(world, statement(4, id=first["id"].replace("-", "-", 1)), tenant="other")
    wanted = {first["id"], second["id"], void["id"], "never-stored"}
    assert await world.progress.owners_of("acme", wanted) == {
        first["id"]: learner_id(first),
        second["id"]: learner_id(second),
    }
    assert await world.progress.owners_of("acme", set()) == {}


async def test_learners_are_written_by_compare_and_set(world: World) -> None:
    progress = world.progress
    ann = learner_doc(1, "acme", "t1")
    assert await progress.save_learners([ann], T0) == set()
    assert await progress.load_learners("acme", [ann.learner, "nobody"]) == {ann.learner: ann}
    assert await progress.load_learners("other", [ann.learner]) == {}
    stale = replace(ann, summary={"stale": True})
    assert await progress.save_learners([stale], T0) == {ann.learner}
    newer = ann.successor(ann.state, {"completed": 2}, ("t2",))
    bob = learner_doc(2)
    assert await progress.save_learners([newer, bob], T0 + timedelta(seconds=1)) == set()
    loaded = await progress.load_learners("acme", [ann.learner, bob.learner])
    assert loaded == {ann.learner: newer, bob.learner: bob}
    assert loaded[ann.learner].teams_left == ("t1",)


async def test_teams_are_written_by_compare_and_set(world: World) -> None:
    progress = world.progress
    sales = TeamDoc("acme", "sales", {"members": 2}, ("a", "b"), 1)
    assert await progress.save_teams([sales], T0) == set()
    assert await progress.save_teams([replace(sales, summary={"lost": 1})], T0) == {"sales"}
    moved = TeamDoc("acme", "sales", {"members": 1}, ("a",), 2)
    assert await progress.save_teams([moved, TeamDoc("acme", "ops", {}, (), 1)], T0) == set()
    loaded = await progress.load_teams("acme", ["sales", "ops", "nobody"])
    assert loaded == {"sales": moved, "ops": TeamDoc("acme", "ops", {}, (), 1)}
    assert await progress.load_teams("other", ["sales"]) == {}


async def test_summaries_of_learners_and_of_teams_members(world: World) -> None:
    progress = world.progress
    ann, bob, cat = learner_doc(1, "acme", "t1"), learner_doc(2, "acme", "t2"), learner_doc(3)
    await progress.save_learners([ann, bob, cat, learner_doc(4, "other", "t1")], T0)
    found = await progress.learner_summaries("acme", [cat.learner], ["t1"])
    assert found == {
        ann.learner: LearnerSummary(ann.learner, ann.summary, ("t1",)),
        cat.learner: LearnerSummary(cat.learner, cat.summary, ()),
    }
    assert await progress.learners_in_team("acme", "t2") == [bob.learner]
    assert await progress.learners_in_team("acme", "t3") == []


async def test_the_registry_is_read_per_learner_and_per_team(world: World) -> None:
    await world.registry.create(registry_team("t1", "ann", "bob"))
    await world.registry.create(registry_team("t2", "ann"))
    await world.registry.create(registry_team("t3", "ann", tenant="other"))
    progress = world.progress
    teams_of = await progress.registry_teams_of("acme", ["ann", "bob", "cat"])
    assert teams_of == {"ann": {"t1", "t2"}, "bob": {"t1"}}
    members = await progress.registry_members("acme", ["t1", "t2", "t3"])
    assert members == {"t1": {"ann", "bob"}, "t2": {"ann"}}


async def test_reset_empties_states_keeps_versions_and_forgets_voids(world: World) -> None:
    progress = world.progress
    ann, other = learner_doc(1, "acme", "t1", version=1), learner_doc(1, "other")
    await progress.save_learners([ann, other], T0)
    await progress.remember_voids("acme", {"s1"})
    await progress.remember_voids("other", {"s2"})
    await progress.reset_learners("acme")
    loaded = await progress.load_learners("acme", [ann.learner])
    assert loaded == {ann.learner: replace(ann, state=LearnerState(ann.learner))}
    assert await progress.voided_among("acme", {"s1"}) == set()
    assert await progress.load_learners("other", [other.learner]) == {other.learner: other}
    assert await progress.voided_among("other", {"s2"}) == {"s2"}
    await progress.reset_learners(None)
    assert await progress.voided_among("other", {"s2"}) == set()


async def test_learners_and_teams_are_walked_in_id_order_without_state(world: World) -> None:
    progress = world.progress
    docs = [learner_doc(n, tenant) for tenant in ("a", "a-b", "b") for n in (2, 1)]
    await progress.save_learners(docs, T0)
    await progress.save_teams([TeamDoc(t, n, {}, (), 1) for t in ("b", "a") for n in "yx"], T0)
    walked = [d async for d in progress.iterate_learners(None)]
    expected = sorted(docs, key=lambda d: f"{d.tenant}/{d.learner}")
    assert walked == [replace(d, state=LearnerState(d.learner)) for d in expected]
    assert [(d.tenant, d.learner) async for d in progress.iterate_learners("a")] == [
        (d.tenant, d.learner) for d in expected if d.tenant == "a"
    ]
    teams = [(d.tenant, d.team) async for d in progress.iterate_teams(None)]
    assert teams == [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    assert [d.team async for d in progress.iterate_teams("b")] == ["x", "y"]


async def test_tenants_and_teams_from_learners_and_registry(world: World) -> None:
    progress = world.progress
    await progress.save_learners([learner_doc(1, "acme", "t1"), learner_doc(2, "solo")], T0)
    await world.registry.create(registry_team("t2"))
    await world.registry.create(registry_team("t3", tenant="other"))
    assert await progress.tenants_and_teams(None) == {
        "acme": {"t1", "t2"},
        "solo": set(),
        "other": {"t3"},
    }
    assert await progress.tenants_and_teams("acme") == {"acme": {"t1", "t2"}}


async def test_stored_statements_are_read_whole_voided_or_not(world: World) -> None:
    first, second = statement(1), statement(2)
    void = voiding(first["id"], learner=1)
    await store(world, first, second, void)
    await store(world, statement(3), tenant="other")
    progress = world.progress
    assert await progress.count_statements("acme") == 3
    assert await progress.count_statements(None) == 4
    found = [(t, s["id"]) async for t, s in progress.stored_statements("acme")]
    assert sorted(found) == sorted(("acme", s["id"]) for s in (first, second, void))
    whole = {s["id"]: s async for _, s in progress.stored_statements(None)}
    assert whole[second["id"]] == {**second, "stored": T0.isoformat()}
    assert len(whole) == 4


def sealed_learner(learner: int, statements: int, keep: int, tenant: str = "acme") -> LearnerDoc:
    """A learner of `statements` statements whose state keeps `keep`, the others to seal."""
    done = [statement(learner, obj=activity(f"module/{n}")) for n in range(statements)]
    state, sealing = seal(fold(learner_id(done[0]), done), keep)
    empty = LearnerDoc.empty(tenant, state.learner)
    return empty.successor(state, {"learner": state.learner}, (), sealing=sealing)


async def test_sealed_facts_are_stored_apart_and_found_by_id(world: World) -> None:
    progress = world.progress
    ann = sealed_learner(1, 5, 2)
    assert await progress.save_learners([ann], T0) == set()
    loaded = (await progress.load_learners("acme", [ann.learner]))[ann.learner]
    assert loaded.chunks
    assert loaded.state == ann.state
    assert sorted(await progress.sealed_facts(loaded), key=by_id) == sorted(ann.sealing, key=by_id)
    sealed_ids = {f.id for f in ann.sealing}
    assert await progress.sealed_among("acme", {*sealed_ids, *ann.state.facts, "x"}) == sealed_ids
    assert await progress.sealed_among("other", sealed_ids) == set()


async def test_more_sealed_facts_add_chunks_and_a_reseal_replaces_them(world: World) -> None:
    progress = world.progress
    ann = sealed_learner(1, 6, 4)
    await progress.save_learners([ann], T0)
    first = (await progress.load_learners("acme", [ann.learner]))[ann.learner]
    state, more = seal(first.state, 1)
    assert await progress.save_learners([first.successor(state, {}, (), sealing=more)], T0) == set()
    second = (await progress.load_learners("acme", [ann.learner]))[ann.learner]
    assert set(first.chunks) < set(second.chunks)
    everything = {f.id for f in (*ann.sealing, *more)}
    assert {f.id for f in await progress.sealed_facts(second)} == everything
    whole = unseal(second.state, await progress.sealed_facts(second))
    state, again = seal(whole, 3)
    resealed = second.successor(state, {}, (), sealing=again, resealed=True)
    assert await progress.save_learners([resealed], T0) == set()
    third = (await progress.load_learners("acme", [ann.learner]))[ann.learner]
    assert not set(third.chunks) & set(second.chunks)
    assert {f.id for f in await progress.sealed_facts(third)} == {f.id for f in again}
    assert await progress.sealed_among("acme", everything) == {f.id for f in again}


async def test_a_lost_write_leaves_no_sealed_facts_behind(world: World) -> None:
    progress = world.progress
    ann = sealed_learner(1, 2, 2)  # nothing sealed
    await progress.save_learners([ann], T0)
    late = sealed_learner(1, 5, 1)  # version 1 again: loses
    assert await progress.save_learners([late], T0) == {ann.learner}
    assert await progress.sealed_among("acme", {f.id for f in late.sealing}) == set()


async def test_reset_forgets_sealed_facts(world: World) -> None:
    progress = world.progress
    ann, bob = sealed_learner(1, 5, 2), sealed_learner(2, 5, 2, tenant="other")
    await progress.save_learners([ann, bob], T0)
    await progress.reset_learners("acme")
    loaded = (await progress.load_learners("acme", [ann.learner]))[ann.learner]
    assert loaded.chunks == ()
    assert loaded.state == LearnerState(ann.learner)
    assert await progress.sealed_among("acme", {f.id for f in ann.sealing}) == set()
    other = (await progress.load_learners("other", [bob.learner]))[bob.learner]
    assert len(await progress.sealed_facts(other)) == 3


def by_id(facts: StatementFacts) -> str:
    return facts.id
