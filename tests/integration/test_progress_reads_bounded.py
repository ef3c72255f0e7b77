"""Reads of learner progress are bounded by an index on the real store, by its own `explain`:
what team-progress reads for a batch (the changed learners and every learner listing a touched
team) examines those learners' documents, not the collection. SecantusDB runs an `$or` of two
indexed conditions as a scan of every document, states included (at 20,000 learners, about
1 s per read against 2 ms for the two reads, `bench/learner_reads.py`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.ports.progress import LearnerDoc
from lrs.progress import LearnerState
from tests.conftest import Infra, unique_name
from tests.support.explain import examined, recorded_finds
from tests.support.stack import database, make_settings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def learner(tenant: str, n: int) -> LearnerDoc:
    who = f"mailto:l{n}@example.org"
    team = f"team{n % 20}"
    summary = {"tenant": tenant, "learner": who, "teams": [team]}
    return LearnerDoc.empty(tenant, who).successor(LearnerState(who), summary, (team,))


async def test_the_summaries_of_a_batch_are_read_through_indexes(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("pb"))
    async with database(settings) as db:
        store = MongoProgressStore(db)
        await store.create_indexes()
        for tenant in ("acme", "other"):
            assert await store.save_learners([learner(tenant, n) for n in range(200)], NOW) == set()
        finds = recorded_finds(monkeypatch, "progress_learners")
        changed = [learner("acme", n).learner for n in (1, 2)]
        found = await store.learner_summaries("acme", changed, ["team3"])
        monkeypatch.undo()
        total, scans = await examined(db, finds)
    in_team3 = {learner("acme", n).learner for n in range(3, 200, 20)}
    assert set(found) == {*changed, *in_team3}
    assert found[changed[0]].teams == ("team1",)
    assert scans == {"IXSCAN"}
    assert total <= len(found) + len(changed)  # a learner both read is examined twice at most


async def test_documents_written_before_links_are_linked_at_start_up_and_the_old_indexes_go(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database an earlier version wrote: learner documents with `teams` and (Groups)
    `members` but no `links`, under the indexes `tenant_teams` and `group_members`. The
    progress store's start-up links every document, then drops both indexes; a team's
    learners are then read through `tenant_links`, as are the Groups naming a member."""
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("pl"))
    group = "group:[mbox:mailto:a@example.org,mbox:mailto:b@example.org]"
    async with database(settings) as db:
        collection = db["progress_learners"]
        await collection.create_index([("tenant", 1), ("teams", 1)], name="tenant_teams")
        await collection.create_index([("members", 1)], name="group_members", sparse=True)
        earlier = [
            {"_id": f"acme/{d.learner}", "tenant": "acme", "learner": d.learner, "version": 1}
            | {"teams": list(d.teams), "summary": {"tenant": "acme"}}
            for d in (learner("acme", n) for n in range(60))
        ]
        earlier.append({"_id": f"acme/{group}", "tenant": "acme", "learner": group, "version": 1})
        await collection.insert_many(earlier)
        store = MongoProgressStore(db)
        await store.create_indexes()
        indexes = {ix["name"] async for ix in await collection.list_indexes()}
        group_doc = await collection.find_one({"_id": f"acme/{group}"})
        finds = recorded_finds(monkeypatch, "progress_learners")
        found = await store.learner_summaries("acme", [], ["team3"])
        monkeypatch.undo()
        total, scans = await examined(db, finds)
    assert indexes == {"_id_", "tenant_links"}
    assert group_doc is not None
    assert group_doc["links"] == [
        "member|mbox:mailto:a@example.org",
        "member|mbox:mailto:b@example.org",
    ]
    assert set(found) == {learner("acme", n).learner for n in (3, 23, 43)}
    assert (total, scans) == (3, {"IXSCAN"})
