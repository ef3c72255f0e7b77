"""An erasure's search for the learners to delete (lrs.adapters.mongo_erasure
`progress_learners`: the learner named, and every anonymous Group listing it) is bounded by
indexes on the real store, by its own `explain`: two reads, by `_id` and by the member links
that only Group learners have (index `tenant_links`). A database written before `links`
existed is searched by reading every Group until the progress store's start-up has given each
document its `links`; then by the index."""

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
    finds = recorded_finds(monkeypatch, "progress_learners")
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
    assert total == 2


async def test_groups_stored_before_links_existed_are_found_and_then_indexed(
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
    stored = await db["progress_learners"].find_one({"_id": f"{TENANT}/{ours}"})
    assert stored is not None
    assert stored["links"] == [f"member|{ANN}", f"member|{person(1)}"]
    found, total, scans = await searched(db, monkeypatch, [ANN])
    assert found == [ours]
    assert (total, scans) == (1, {"IXSCAN"})
