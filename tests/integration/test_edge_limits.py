"""The edge refuses what the pipeline cannot hold, and the pipeline holds every statement the
edge accepts (issue 9: NUL keys, sizes, depth, identifiers, edge timestamps, definition growth),
on the real broker and store: after each refusal, ordinary statements are still stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from lrs.adapters.mongo_definitions import MongoActivityStore, MongoAgentStore
from lrs.adapters.mongo_store import connect
from lrs.ports.statements import AcceptedStatement
from lrs.settings import LrsSettings
from tests.conftest import Infra
from tests.support.factories import account_agent, activity, agent, statement
from tests.support.polling import eventually
from tests.support.progress import progress_docs, running_progress
from tests.support.stack import (
    api_client,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
V1 = xapi_headers("1.0.3")
V2 = xapi_headers("2.0.0")
MAX_DEFINITION = 64 * 1024


@pytest.fixture(scope="module")
def settings(infra: Infra, module_namespace: str) -> LrsSettings:
    return make_settings(
        infra.kafka_bootstrap,
        infra.mongodb_uri,
        module_namespace,
        max_statement_bytes=48 * 1024,
        max_definition_bytes=MAX_DEFINITION,
        max_agent_names=3,
    )


@pytest.fixture(scope="module")
async def client(settings: LrsSettings) -> AsyncIterator[httpx.AsyncClient]:
    await prepare_infra(settings)
    async with running_persister(settings), api_client(settings) as client:
        yield client


async def post(client: httpx.AsyncClient, body: Any, headers: dict[str, str] = V1) -> Any:
    return await client.post("/xapi/statements", json=body, headers=headers)


async def assert_still_storing(client: httpx.AsyncClient) -> None:
    """An ordinary statement is accepted, stored and readable (nothing stopped storage)."""
    sent = statement(learner=str(uuid.uuid4()))
    assert (await post(client, sent)).status_code == 200
    got = await client.get("/xapi/statements", params={"statementId": sent["id"]}, headers=V1)
    assert got.status_code == 200


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"k": value}
    return value


def with_extensions(extensions: dict[str, Any], obj: dict[str, Any] | None = None) -> Any:
    target = obj or activity(f"course/{uuid.uuid4()}")
    return statement(
        obj={**target, "definition": {**target["definition"], "extensions": extensions}}
    )


async def test_nul_in_an_extension_key_is_400_and_storage_goes_on(
    client: httpx.AsyncClient,
) -> None:
    body = with_extensions({"https://e.x/\x00k": 1})
    for headers in (V1, V2):
        answer = await post(client, body, headers)
        assert answer.status_code == 400
        assert answer.json()["error"]["details"][0]["rule"] == "extension-keys-iri"
    await assert_still_storing(client)


async def test_dollar_and_dotted_keys_are_stored_and_read_back(client: httpx.AsyncClient) -> None:
    extensions = {"https://e.x/a.b$c": {"$set": {"x.y": 1}, "$": "$v"}}
    sent = with_extensions(extensions)
    assert (await post(client, sent)).status_code == 200
    got = await client.get(
        "/xapi/activities", params={"activityId": sent["object"]["id"]}, headers=V1
    )
    assert got.json()["definition"]["extensions"] == extensions
    stored = await client.get("/xapi/statements", params={"statementId": sent["id"]}, headers=V1)
    assert stored.json()["object"]["definition"]["extensions"] == extensions


async def test_too_many_statements_is_413(client: httpx.AsyncClient) -> None:
    batch = [statement(learner=n, context=False, result=False) for n in range(1001)]
    answer = await post(client, batch)
    assert answer.status_code == 413
    assert "LRS_MAX_STATEMENTS_PER_REQUEST" in answer.json()["error"]["message"]
    got = await client.get("/xapi/statements", params={"statementId": batch[0]["id"]}, headers=V1)
    assert got.status_code == 404


async def test_too_large_statement_is_413(client: httpx.AsyncClient) -> None:
    answer = await post(client, with_extensions({"https://e.x/big": "x" * 50_000}))
    assert answer.status_code == 413
    assert "LRS_MAX_STATEMENT_BYTES" in answer.json()["error"]["message"]


async def test_extension_nested_300_levels_is_400(client: httpx.AsyncClient) -> None:
    answer = await post(client, with_extensions({"https://e.x/deep": nested(300)}))
    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["rule"] == "json-depth"
    await assert_still_storing(client)


async def test_huge_account_name_is_400(client: httpx.AsyncClient) -> None:
    answer = await post(client, statement(actor=account_agent("n" * 40_000)))
    assert answer.status_code == 400
    assert answer.json()["error"]["details"][0]["rule"] == "identifier-length"


@pytest.mark.parametrize(
    ("headers", "timestamp", "returned"),
    [
        (V1, "2026-12-31T23:59:60Z", "2026-12-31T23:59:60Z"),
        (V1, "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+01:00"),
        (V1, "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59-01:00"),
        (V2, "2027-01-01T00:59:60+01:00", "2026-12-31T23:59:60Z"),
        (V2, "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+01:00"),
        (V2, "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59-01:00"),
    ],
)
async def test_edge_timestamps_are_stored(
    client: httpx.AsyncClient, headers: dict[str, str], timestamp: str, returned: str
) -> None:
    sent = statement(learner=str(uuid.uuid4()), timestamp=timestamp)
    answer = await post(client, sent, headers)
    assert answer.status_code == 200, answer.text
    got = await client.get("/xapi/statements", params={"statementId": sent["id"]}, headers=headers)
    assert got.json()["timestamp"] == returned
    await assert_still_storing(client)


async def test_an_activity_definition_stays_bounded(client: httpx.AsyncClient) -> None:
    """Each statement adds a 40 kB extension to one Activity: merged while the definition
    fits MAX_DEFINITION, replaced by the latest statement's when it would not."""
    target = activity(f"course/{uuid.uuid4()}")
    for n in range(4):
        sent = with_extensions({f"https://e.x/ext/{n}": "x" * 40_000}, target)
        assert (await post(client, sent)).status_code == 200
        await assert_still_storing(client)
    got = await client.get("/xapi/activities", params={"activityId": target["id"]}, headers=V1)
    assert list(got.json()["definition"]["extensions"]) == ["https://e.x/ext/3"]


def accepted(stmt: dict[str, Any]) -> AcceptedStatement:
    return AcceptedStatement("bounds", stmt, datetime.now(UTC), "mbox:mailto:x@example.org")


async def test_bounded_merges_on_the_store_are_deterministic_and_idempotent(
    settings: LrsSettings,
) -> None:
    assert settings.mongodb_uri
    mongo = connect(settings.mongodb_uri)
    try:
        db = mongo[settings.mongodb_database]
        activities, agents = MongoActivityStore(db, 4096), MongoAgentStore(db, 3)
        target, learner = activity(f"course/{uuid.uuid4()}"), agent(str(uuid.uuid4()))
        batches = [
            [
                accepted(
                    statement(
                        actor={**learner, "name": f"Name {n}"},
                        obj={
                            **target,
                            "definition": {"extensions": {f"https://e.x/{n}": "x" * 1500}},
                        },
                    )
                )
            ]
            for n in range(5)
        ]
        kept = []  # two 1.5 kB extensions fit in 4 kB, a third does not: it starts afresh
        for batch, keys in zip(batches, [[0], [0, 1], [2], [2, 3], [4]], strict=True):
            await activities.merge(batch)
            await agents.merge(batch)
            kept = [f"https://e.x/{n}" for n in keys]
            definition = await activities.get("bounds", target["id"])
            assert definition is not None
            assert list(definition["extensions"]) == kept
        expected = {"extensions": dict.fromkeys(kept, "x" * 1500)}
        await activities.merge(batches[-1])
        await MongoActivityStore(db, 4096).merge(batches[-1])
        assert await activities.get("bounds", target["id"]) == expected
        known = await agents.get("bounds", f"mbox:{learner['mbox']}")
        assert known is not None
        assert known.names == ["Name 2", "Name 3", "Name 4"]
        await MongoAgentStore(db, 3).merge(batches[0])
        known = await agents.get("bounds", f"mbox:{learner['mbox']}")
        assert known is not None
        assert known.names == ["Name 3", "Name 4", "Name 0"]
    finally:
        await mongo.close()


async def test_progress_counts_edge_timestamps_and_everyone_after(
    client: httpx.AsyncClient, settings: LrsSettings
) -> None:
    """Issue 9 item 3: one statement with a leap second or a year-1 time with an offset used to
    halt progress for every learner. Now each is counted, and so are 20 learners after it."""
    edge_learner = agent(str(uuid.uuid4()))
    edge = [
        statement(actor=edge_learner, timestamp=t)
        for t in ("2026-12-31T23:59:60Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")
    ]
    for sent in edge:
        assert (await post(client, sent)).status_code == 200
    ordinary = [statement(learner=str(uuid.uuid4())) for _ in range(20)]
    assert (await post(client, ordinary, V2)).status_code == 200
    expected = {f"mbox:{s['actor']['mbox']}": 1 for s in ordinary}
    expected[f"mbox:{edge_learner['mbox']}"] = len(edge)
    assert settings.mongodb_uri
    mongo = connect(settings.mongodb_uri)
    try:
        db = mongo[settings.mongodb_database]
        async with running_progress(settings, db):

            async def missing() -> dict[str, Any]:
                docs = await progress_docs(db, "progress_learners", "default")
                counts = {k: d["summary"].get("statements") for k, d in docs.items()}
                return {k: n for k, n in expected.items() if counts.get(k) != n}

            assert await eventually(missing, within=60) == {}
    finally:
        await mongo.close()
