"""The progress reader contract (lrs.ports.progress.ProgressReader: what the API reads of the
progress the consumers derived), run against the in-memory fake and the MongoDB reader on the
real (embedded) store. Each side is written as the progress consumers write it: the MongoDB
side through `MongoProgressStore`, the fake through `put_learner` / `put_team`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from lrs.adapters.memory_teams import InMemoryProgressReader
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_teams import MongoProgressReader
from lrs.ports.progress import (
    LearnerDoc,
    LearnerProgressDoc,
    ProgressReader,
    TeamDoc,
    TeamProgressDoc,
)
from lrs.progress import LearnerState, apply, fold, learner_id
from lrs.progress.model import seal
from tests.contract.conftest import KINDS, fresh_database
from tests.support.factories import activity, statement

T0 = datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)


@dataclass
class World:
    reader: ProgressReader
    write_learners: Callable[[Sequence[LearnerDoc], datetime], Awaitable[None]]
    write_teams: Callable[[Sequence[TeamDoc]], Awaitable[None]]


@pytest.fixture(params=KINDS)
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if request.param == "memory":
        yield memory_world()
        return
    async with fresh_database(request) as db:
        store = MongoProgressStore(db)
        await store.create_indexes()

        async def write_learners(docs: Sequence[LearnerDoc], updated: datetime) -> None:
            assert await store.save_learners(docs, updated) == set()

        async def write_teams(docs: Sequence[TeamDoc]) -> None:
            assert await store.save_teams(docs, T0) == set()

        yield World(MongoProgressReader(db), write_learners, write_teams)


def memory_world() -> World:
    reader = InMemoryProgressReader()

    async def write_learners(docs: Sequence[LearnerDoc], updated: datetime) -> None:
        for d in docs:
            kept = {} if d.resealed else reader.sealed_facts.get((d.tenant, d.learner)) or {}
            sealed = {**kept, **{f.id: f.to_dict() for f in d.sealing}}
            reader.put_learner(d.tenant, as_read(d), sealed)

    async def write_teams(docs: Sequence[TeamDoc]) -> None:
        for d in docs:
            reader.put_team(
                d.tenant, TeamProgressDoc(d.team, d.summary, list(d.members), d.version)
            )

    return World(reader, write_learners, write_teams)


def learner(
    n: int, *teams: str, tenant: str = "acme", version: int = 1, done: int = 1
) -> LearnerDoc:
    first = statement(n, obj=activity(f"course/{n}"))
    state = apply(LearnerState(learner_id(first)), first)
    summary = {"learner": state.learner, "completed": done} if done else {}
    return LearnerDoc(tenant, state.learner, state, tuple(teams), summary, version)


def as_read(doc: LearnerDoc) -> LearnerProgressDoc:
    """What a reader answers for a stored learner document."""
    return LearnerProgressDoc(
        doc.learner, doc.state.to_dict(), doc.summary, list(doc.teams), doc.version
    )


async def test_learners_are_read_by_id_within_the_tenant(world: World) -> None:
    ann, bob = learner(1, "sales"), learner(2)
    await world.write_learners([ann, bob, learner(3, tenant="other")], T0)
    reader = world.reader
    assert await reader.learner("acme", ann.learner) == as_read(ann)
    assert await reader.learner("other", ann.learner) is None
    assert await reader.learner("acme", "nobody") is None
    found = await reader.learners("acme", [ann.learner, bob.learner, learner(3).learner])
    assert found == {ann.learner: as_read(ann), bob.learner: as_read(bob)}
    assert await reader.learners("acme", []) == {}


async def test_teams_are_read_by_id_and_listed_with_their_names(world: World) -> None:
    sales = TeamDoc("acme", "sales", {"name": "Sales", "completed": 3}, ("a", "b"), 2)
    ops = TeamDoc("acme", "ops", {"completed": 1}, (), 1)
    await world.write_teams([sales, ops, TeamDoc("other", "red", {"name": "Red"}, ("c",), 1)])
    reader = world.reader
    assert await reader.team("acme", "sales") == TeamProgressDoc(
        "sales", {"name": "Sales", "completed": 3}, ["a", "b"], 2
    )
    assert await reader.team("other", "sales") is None
    listed = sorted(await reader.teams("acme"), key=lambda d: d.team)
    assert listed == [
        TeamProgressDoc("ops", {}, [], 1),
        TeamProgressDoc("sales", {"name": "Sales"}, ["a", "b"], 2),
    ]
    assert await reader.teams("nobody") == []


async def test_summaries_are_the_most_recently_changed_first(world: World) -> None:
    ann, bob, cat = learner(1), learner(2), learner(3)
    await world.write_learners([ann], T0)
    await world.write_learners([bob], T0 + timedelta(seconds=1))
    await world.write_learners([cat, learner(4, done=0)], T0 + timedelta(seconds=2))
    await world.write_learners([learner(5, tenant="other")], T0 + timedelta(seconds=3))
    changed = learner(1, version=2, done=2)
    await world.write_learners([changed], T0 + timedelta(seconds=4))
    reader = world.reader
    assert await reader.summaries("acme", 10) == [changed.summary, cat.summary, bob.summary]
    assert await reader.summaries("acme", 2) == [changed.summary, cat.summary]
    assert await reader.summaries("nobody", 10) == []


async def test_a_learner_is_read_as_stored_or_whole(world: World) -> None:
    """`learners`: the state as stored (held facts and the tally of the sealed ones, all a
    summary needs); `whole_learners`: every live fact back in it (docs/decisions/0025)."""
    done = [statement(1, obj=activity(f"module/{n}")) for n in range(5)]
    state, sealing = seal(fold(learner_id(done[0]), done), 2)
    ann = LearnerDoc.empty("acme", state.learner).successor(
        state, {"learner": state.learner}, (), sealing=sealing
    )
    await world.write_learners([ann], T0)
    stored = await world.reader.learners("acme", [ann.learner])
    assert stored == {ann.learner: as_read(ann)}
    assert await world.reader.learner("acme", ann.learner) == as_read(ann)
    whole = await world.reader.whole_learners("acme", [ann.learner, "nobody"])
    everything = fold(state.learner, done)
    assert whole == {ann.learner: replace(as_read(ann), state=everything.to_dict())}
    assert await world.reader.whole_learners("other", [ann.learner]) == {}
