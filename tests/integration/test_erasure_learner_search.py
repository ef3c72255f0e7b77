"""An erasure's search for the learners to delete (lrs.adapters.mongo_erasure
`progress_learners`: the learner named, and every anonymous Group listing it) is bounded by
indexes on the real store, by its own `explain`: reads by `_id` (of the learners and of the
roster) and by the member links that only Group learners have in the roster (index
`tenant_links`). A database written before the roster existed is searched by reading every
Group until the progress store's start-up has listed every learner in it; then by the index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from lrs.adapters.mongo_erasure import MongoErasureStore
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.ports.progress import LearnerDoc
from lrs.progress import LearnerState
from tests.conftest import Infra, unique_name
from tests.support.explain import examined, recorded_finds
from tests.support.stack import database, make_settings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TENANT = "acme"
ANN = "mbox:mailto:ann@example.org"


def person(n: int) -> str:
    return f"mbox:mailto:l{n}@example.org"


def group(*members: str) -> str:
    return f"group:[{','.join(sorted(members))}]"


def learner(who: str, tenant: str = TENANT) -> LearnerDoc:
    return LearnerDoc.empty(tenant, who).successor(LearnerState(who), {"tenant": tenant}, ())


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[Any]:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("es"))
    async with database(settings) as db:
        yield db


async def searched(
    db: Any, monkeypatch: pytest.MonkeyPatch, identifiers: list[str]
) -> tuple[list[str], int, set[str]]:
    """What the erasure's search finds, and what the store examined for it, and how."""
    finds = recorded_finds(monkeypatch, "progress_learners", "progress_roster")
    found = await MongoErasureStore(db).progress_learners(TENANT, identifiers)
    monkeypatch.undo()
    total, scans = await examined(db, finds)
    return sorted(found), total, scans


async def test_the_learner_and_the_groups_naming_it_are_found_through_indexes(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MongoProgressStore(db)
    await store.create_indexes()
    others = [learner(person(n)) for n in range(300)]
    groups = [learner(group(ANN, person(1))), learner(group(person(2), person(3)))]
    elsewhere = [learner(ANN, "other"), learner(group(ANN, person(4)), "other")]
    docs = [learner(ANN), *others, *groups, *elsewhere]
    assert await store.save_learners(docs, NOW) == set()
    found, total, scans = await searched(db, monkeypatch, [ANN])
    assert found == sorted([ANN, group(ANN, person(1))])
    assert scans == {"IXSCAN"}
    assert total == 3  # ANN's learner and roster documents, the Group's roster document


async def test_an_erasure_interrupted_after_the_learner_documents_finds_them_again(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between deleting the learner documents and their roster documents leaves the
    roster naming them: a retry's search still finds the learner and the Group, and erasing
    them again removes what the roster keeps."""
    store = MongoProgressStore(db)
    await store.create_indexes()
    ours = group(ANN, person(1))
    assert await store.save_learners([learner(ANN), learner(ours)], NOW) == set()
    ids = [f"{TENANT}/{ANN}", f"{TENANT}/{ours}"]
    await db["progress_learners"].delete_many({"_id": {"$in": ids}})  # then the crash
    found, _, _ = await searched(db, monkeypatch, [ANN])
    assert found == sorted([ANN, ours])
    await MongoErasureStore(db).erase_progress(TENANT, found)
    assert await db["progress_roster"].count_documents({"_id": {"$in": ids}}) == 0
    assert (await searched(db, monkeypatch, [ANN]))[0] == []


async def test_groups_stored_before_the_roster_existed_are_found_and_then_indexed(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = group(ANN, person(1))
    legacy = [
        {"_id": f"{TENANT}/{who}", "tenant": TENANT, "learner": who, "version": 1}
        for who in [ours, group(person(2), person(3)), *(person(n) for n in range(50))]
    ]
    await db["progress_learners"].insert_many(legacy)  # as an earlier version wrote them
    found, total, _ = await searched(db, monkeypatch, [ANN])
    assert found == [ours]
    assert total >= 2  # every Group was read
    await MongoProgressStore(db).create_indexes()  # a progress consumer's start-up
    stored = await db["progress_roster"].find_one({"_id": f"{TENANT}/{ours}"})
    assert stored is not None
    assert stored["links"] == [f"member|{ANN}", f"member|{person(1)}"]
    found, total, scans = await searched(db, monkeypatch, [ANN])
    assert found == [ours]
    assert (total, scans) == (1, {"IXSCAN"})  # the Group's roster document
