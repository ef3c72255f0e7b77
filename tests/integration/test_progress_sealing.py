"""Learner progress with sealed facts (docs/decisions/0025), folded by the consumer's own code
(`LearnerProgress`) into the in-memory fake and the MongoDB adapter on the real store: with a
state that holds at most a few facts, random streams (duplicates, voids before and after their
targets, statements arriving late) in random batches end in exactly the summary of the live
statements, and the sealed facts stored apart are exactly the live ones not held."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from consumers.progress.learner import LearnerProgress, comparable
from lrs.adapters.memory import InMemoryStatementStore
from lrs.adapters.memory_progress import InMemoryProgressStore
from lrs.adapters.memory_teams import InMemoryTeamRegistry
from lrs.adapters.mongo_progress import CHUNKS, MERGE_AT, SINGLE_MARK, MongoProgressStore
from lrs.adapters.mongo_store import MongoStatementStore
from lrs.ports.progress import ProgressStore
from lrs.ports.statements import AcceptedStatement, StatementWriter
from lrs.progress import fold, summarize_learner
from lrs.xapi.ifi import actor_ifi
from tests.contract.conftest import fresh_database
from tests.support.factories import voided_by_admin
from tests.unit.progress.test_properties import learner_id, random_statement, workload

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
TENANT = "acme"


@pytest.fixture(params=["memory", "mongo"])
async def stores(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[ProgressStore, StatementWriter]]:
    if request.param == "memory":
        statements = InMemoryStatementStore()
        yield InMemoryProgressStore(statements, InMemoryTeamRegistry()), statements
        return
    async with fresh_database(request) as db:
        progress = MongoProgressStore(db)
        await progress.create_indexes()
        yield progress, MongoStatementStore(db)


async def persist(statements: StatementWriter, batch: list[dict[str, Any]], seen: set[str]) -> None:
    """Store a batch's statements not stored yet, as the persister does before forwarding."""
    new = {s["id"]: s for s in batch if s["id"] not in seen}
    seen.update(new)
    records = [
        AcceptedStatement(TENANT, {**s, "stored": NOW.isoformat()}, NOW, actor_ifi(s["actor"]))
        for s in new.values()
    ]
    if records:
        await statements.insert_many(records)


async def fold_in_random_batches(
    folding: LearnerProgress,
    statements: StatementWriter,
    stream: list[dict[str, Any]],
    rng: random.Random,
    largest: int,
) -> None:
    """Persist and fold `stream` in batches of 1 to `largest` statements, as they come."""
    seen: set[str] = set()
    while stream:
        cut = rng.randint(1, largest)
        batch, stream = stream[:cut], stream[cut:]
        await persist(statements, batch, seen)
        await folding.apply_statements(TENANT, batch)


@pytest.mark.parametrize("held", [2, 3])
@pytest.mark.parametrize("seed", range(12))
async def test_sealing_learners_end_in_the_summary_of_the_live_statements(
    stores: tuple[ProgressStore, StatementWriter], seed: int, held: int
) -> None:
    progress, statements = stores
    work = workload(seed)
    rng = random.Random(seed)
    folding = LearnerProgress(progress, lambda: NOW, held_facts=held)
    await fold_in_random_batches(folding, statements, list(work.stream), rng, 4)
    learner = learner_id(1)
    oracle = fold(learner, work.live)
    doc = (await progress.load_learners(TENANT, [learner]))[learner]
    expected = summarize_learner(oracle, NOW.date())
    assert comparable(doc.summary) == comparable({**expected, "tenant": TENANT})
    assert len(doc.state.facts) <= held
    sealed = await progress.sealed_facts(doc)
    assert {f.id for f in sealed} | set(doc.state.facts) == set(oracle.facts)
    assert not {f.id for f in sealed} & set(doc.state.facts)


@pytest.fixture
async def mongo_stores(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[MongoProgressStore, MongoStatementStore, Any]]:
    async with fresh_database(request) as db:
        progress = MongoProgressStore(db)
        await progress.create_indexes()
        yield progress, MongoStatementStore(db), db


@pytest.mark.parametrize("seed", range(3))
async def test_a_long_history_keeps_few_chunks_and_only_those_it_refers_to(
    mongo_stores: tuple[MongoProgressStore, MongoStatementStore, Any], seed: int
) -> None:
    """docs/decisions/0031: single-seal chunks are merged at MERGE_AT, replaced chunks are
    deleted, and the facts and summary stay those of the live statements."""
    progress, statements, db = mongo_stores
    rng = random.Random(seed)
    sent = [random_statement(rng, 1) for _ in range(150)]
    voids = [voided_by_admin(s["id"]) for s in rng.sample(sent[:60], 6)]  # some long sealed
    stream = [*sent[:100], *voids, *sent[100:]]  # 50 statements, over a dozen seals, after
    folding = LearnerProgress(progress, lambda: NOW, held_facts=4)
    await fold_in_random_batches(folding, statements, stream, rng, 3)
    learner = learner_id(1)
    voided = {v["object"]["id"] for v in voids}
    oracle = fold(learner, [s for s in sent if s["id"] not in voided])
    doc = (await progress.load_learners(TENANT, [learner]))[learner]
    assert comparable(doc.summary) == comparable(
        {**summarize_learner(oracle, NOW.date()), "tenant": TENANT}
    )
    sealed = await progress.sealed_facts(doc)
    assert {f.id for f in sealed} | set(doc.state.facts) == set(oracle.facts)
    singles = [c for c in doc.chunks if c.rpartition(".")[2].startswith(SINGLE_MARK)]
    assert len(singles) < MERGE_AT <= 8  # a seal seals 3 facts or more here: 16 or more since
    assert len(doc.chunks) - len(singles) <= len(sealed) // ((MERGE_AT - 1) * 3) + 1
    stored = {c["_id"] async for c in db[CHUNKS].find({"learner": learner}, {"_id": 1})}
    assert stored == set(doc.chunks)
