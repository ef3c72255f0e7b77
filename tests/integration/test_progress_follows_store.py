"""Progress counts exactly what the store holds (issue 9, item 10).

Two POSTs of one statement id with different content (different actors, so different
partitions) race; the persister keeps one and dead-letters the other as a conflict. Progress
must count the kept one and never the other, for every pair.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import orjson
import pytest

from lrs.progress import learner_id
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.polling import eventually
from tests.support.progress import (
    FIXED_NOW,
    oracle,
    progress_docs,
    running_pipeline,
    stored_statements,
)
from tests.support.stack import (
    make_settings,
    prepare_infra,
    xapi_headers,
)

pytestmark = pytest.mark.integration
TENANT = "default"
PAIRS = 40
Doc = dict[str, Any]


def conflicting_pair(n: int) -> tuple[Doc, Doc]:
    """One id, two statements by two learners (two keys, so usually two partitions)."""
    statement_id = str(uuid.uuid4())
    first = statement(f"pair{n}a", "completed", id=statement_id)
    second = statement(f"pair{n}b", "passed", id=statement_id)
    return first, second


async def post(client: httpx.AsyncClient, doc: Doc) -> int:
    response = await client.post("/xapi/statements", json=doc, headers=xapi_headers())
    assert response.status_code in (200, 409), response.text
    return response.status_code


async def kept_actor(client: httpx.AsyncClient, statement_id: str) -> str:
    """The learner of the statement the store holds under `statement_id` (GET ?statementId)."""
    response = await client.get(
        "/xapi/statements", params={"statementId": statement_id}, headers=xapi_headers()
    )
    assert response.status_code == 200, response.text
    return learner_id(response.json())


async def test_progress_counts_the_stored_one_of_concurrent_conflicting_posts(
    infra: Infra,
) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("c"))
    await prepare_infra(settings)
    pairs = [conflicting_pair(n) for n in range(PAIRS)]
    async with running_pipeline(settings) as (client, db):
        statuses = await asyncio.gather(*(post(client, doc) for pair in pairs for doc in pair))
        assert statuses.count(200) >= PAIRS  # one of each pair at least; the other may be 409
        kept = {first["id"]: await kept_actor(client, first["id"]) for first, _ in pairs}
        learners = {learner_id(doc) for pair in pairs for doc in pair}

        async def problems() -> list[str]:
            stored = await stored_statements(db, TENANT)
            expected = oracle(TENANT, stored, {}, FIXED_NOW).learners
            docs = await progress_docs(db, "progress_learners", TENANT)
            counted = {
                learner
                for learner, d in docs.items()
                if learner in learners and d["summary"]["statements"]
            }
            found = []
            if counted != set(kept.values()):
                wrong = sorted(counted ^ set(kept.values()))
                found.append(f"{len(wrong)} learners counted against the store, e.g. {wrong[:3]}")
            for learner in set(kept.values()):
                summary = expected[learner]
                doc = docs.get(learner)
                if doc is None or doc["summary"]["totals"] != summary["totals"]:
                    found.append(f"learner {learner}: progress differs from the stored statement")
            return found

        assert await eventually(problems, within=40) == []
        for learner in kept.values():
            response = await client.get(
                "/progress/learners",
                params={"agent": orjson.dumps(agent_of(learner)).decode()},
                headers=xapi_headers(),
            )
            assert response.status_code == 200, response.text
            assert response.json()["statements"] == 1


def agent_of(learner: str) -> Doc:
    prop, _, value = learner.partition(":")
    assert prop == "mbox"
    return {"mbox": value}
