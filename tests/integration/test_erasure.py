"""Erasure of a learner (docs/erasure.md) on the real broker and store.

After `DELETE /admin/agents`, nothing the LRS serves or derives holds the learner's identifier:
no API route, no last value of a progress or registry topic, no document of any collection of
the tenant's database; team progress equals the oracle's recomputation from what is left.
Statements in flight when the erasure ran are dropped (the learner's) or redacted (others'
naming them); statements posted afterwards are kept. A re-run changes nothing more, and an
erasure that died halfway is completed by the next run, on the same audit record.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import bson
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from lrs import topics
from lrs.adapters.mongo_erasure import MongoErasureStore
from lrs.adapters.mongo_progress import state_fields
from lrs.services.erasure import erase_agent
from lrs.settings import LrsSettings
from lrs.wiring.erasure import connected_erasure
from tests.conftest import Infra, unique_name
from tests.support.factories import activity, agent, statement
from tests.support.polling import eventually
from tests.support.progress import (
    FIXED_NOW,
    oracle,
    progress_docs,
    registry,
    running_pipeline,
    running_progress,
    stored_statements,
)
from tests.support.stack import (
    api_client,
    database,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
TENANT = "default"
Doc = dict[str, Any]

ERASED = agent("erased")  # mailto:learnererased@example.org
NEEDLE = "learnererased@example.org"  # in every form of their identifier but the SHA-1
ERASED_JSON = orjson.dumps({"mbox": ERASED["mbox"]}).decode()
TEAM_GROUP = {
    "objectType": "Group",
    "name": "Team X",
    "account": {"homePage": "https://lms.example.org", "name": "team-x"},
}
TEAM_X = "account:https://lms.example.org|team-x"
REGISTRY_TEAM = "team-reg"


def in_team(learner: int | str, verb: str = "completed") -> Doc:
    return statement(learner, verb, context=False) | {"context": {"team": TEAM_GROUP}}


def workload() -> list[Doc]:
    """The learner's own statements, and other learners' statements naming them: as object
    Agent, as instructor, as a member of an anonymous Group actor, and a StatementRef to one
    of theirs."""
    own = [in_team("erased"), statement("erased", "attempted"), in_team("erased", verb="passed")]
    ref = own[0]["id"]
    others = [
        in_team(1),
        in_team(2, verb="attempted"),
        statement(1, context=False) | {"context": {"instructor": ERASED, "team": TEAM_GROUP}},
        statement(2, "experienced", obj=dict(ERASED), context=False),
        statement(1, context=False)
        | {"actor": {"objectType": "Group", "member": [agent(1), ERASED]}},
        statement(2, context=False) | {"object": {"objectType": "StatementRef", "id": ref}},
    ]
    return own + others


@contextlib.asynccontextmanager
async def kafka_producer(settings: LrsSettings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def post(client: httpx.AsyncClient, statements: list[Doc]) -> None:
    response = await client.post("/xapi/statements", json=statements, headers=xapi_headers())
    assert response.status_code == 200, response.text


async def registry_team(client: httpx.AsyncClient, members: list[Doc]) -> None:
    """A team of the registry, through the team API."""
    created = await client.post(
        "/teams", json={"team": REGISTRY_TEAM, "name": "Registry team"}, headers=xapi_headers()
    )
    assert created.status_code == 201, created.text
    changed = await client.put(
        f"/teams/{REGISTRY_TEAM}/members", json=members, headers=xapi_headers()
    )
    assert changed.status_code == 200, changed.text


async def put_documents(client: httpx.AsyncClient, who: Doc) -> None:
    agent_param = orjson.dumps({"mbox": who["mbox"]}).decode()
    activity_id = activity()["id"]
    answers = [
        await client.put(
            "/xapi/activities/state",
            params={"activityId": activity_id, "agent": agent_param, "stateId": "bookmark"},
            json={"page": 3, "email": who["mbox"]},
            headers=xapi_headers(),
        ),
        await client.put(
            "/xapi/agents/profile",
            params={"agent": agent_param, "profileId": "preferences"},
            json={"theme": "dark"},
            headers={**xapi_headers(), "If-None-Match": "*"},
        ),
    ]
    assert [a.status_code for a in answers] == [204, 204], [a.text for a in answers]


async def erase(client: httpx.AsyncClient) -> Doc:
    response = await client.delete(
        "/admin/agents", params={"agent": ERASED_JSON}, headers=xapi_headers()
    )
    assert response.status_code == 200, response.text
    answer: Doc = response.json()
    return answer


# --- where the identifier could still be --------------------------------------------------


async def mongo_traces(db: AsyncDatabase[Doc]) -> list[str]:
    """Every document of every collection holding the identifier (BSON bytes, so statement
    bodies stored as binary JSON are searched too)."""
    found = []
    for name in sorted(await db.list_collection_names()):
        async for doc in db[name].find({}):
            if NEEDLE.encode() in bson.encode(doc):
                found.append(f"{name}: {doc['_id']}")
    return found


async def last_values(settings: LrsSettings, topic: str, quiet: float = 1.5) -> dict[bytes, Any]:
    """A topic read from the beginning until quiet: the last value of every key (None for a
    tombstone)."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=unique_name("reader"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    latest: dict[bytes, Any] = {}
    try:
        loop = asyncio.get_running_loop()
        last_seen = loop.time()
        while loop.time() - last_seen < quiet:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                for record in batch:
                    assert record.key is not None
                    latest[record.key] = record.value
                    last_seen = loop.time()
    finally:
        await consumer.stop()
    return latest


async def topic_traces(settings: LrsSettings) -> list[str]:
    """Keys of the progress and registry topics whose last value is not a tombstone and whose
    key or value names the learner."""
    found = []
    compacted = (
        topics.LEARNER_PROGRESS,
        topics.TEAM_PROGRESS,
        topics.TEAMS,
        topics.TEAM_CHANGES,
    )
    for topic in compacted:
        for key, value in (await last_values(settings, topic)).items():
            if value is not None and (NEEDLE.encode() in key or NEEDLE.encode() in value):
                found.append(f"{topic}: {key!r}")
    return found


async def api_traces(client: httpx.AsyncClient) -> list[str]:
    """Answers of the read routes that still name the learner. Two may echo the identifier
    asked for: GET /agents answers with a Person built from the request (Communication 2.4),
    so it must be nothing more; GET /progress/learners must be 404."""
    headers = xapi_headers()
    activity_id = activity()["id"]
    answers = {
        "statements by agent": await client.get(
            "/xapi/statements", params={"agent": ERASED_JSON}, headers=headers
        ),
        "statements related": await client.get(
            "/xapi/statements",
            params={"agent": ERASED_JSON, "related_agents": "true"},
            headers=headers,
        ),
        "statements": await client.get("/xapi/statements", params={"limit": 0}, headers=headers),
        "state ids": await client.get(
            "/xapi/activities/state",
            params={"activityId": activity_id, "agent": ERASED_JSON},
            headers=headers,
        ),
        "agent profile ids": await client.get(
            "/xapi/agents/profile", params={"agent": ERASED_JSON}, headers=headers
        ),
        "progress team x": await client.get(
            f"/progress/teams/{quote(TEAM_X, safe='')}", headers=headers
        ),
        "progress registry team": await client.get(
            f"/progress/teams/{REGISTRY_TEAM}", headers=headers
        ),
        "overview": await client.get("/progress/overview", headers=headers),
        "teams": await client.get(f"/teams/{REGISTRY_TEAM}", headers=headers),
    }
    found = [f"{name}: {a.status_code}" for name, a in answers.items() if NEEDLE in a.text]
    found += [f"{name}: {a.status_code}" for name, a in answers.items() if a.status_code >= 500]
    progress = await client.get(
        "/progress/learners", params={"agent": ERASED_JSON}, headers=headers
    )
    if progress.status_code != 404:  # its message may echo the identifier asked for
        found.append(f"progress learners: {progress.status_code}")
    person = await client.get("/xapi/agents", params={"agent": ERASED_JSON}, headers=headers)
    if person.json() != {"objectType": "Person", "mbox": [ERASED["mbox"]]}:
        found.append(f"agents: {person.json()}")
    return found


async def team_problems(db: AsyncDatabase[Doc]) -> list[str]:
    """Team progress against the oracle's recomputation from what the store now holds."""
    teams = await progress_docs(db, "progress_teams", TENANT)
    expected = oracle(
        TENANT,
        await stored_statements(db, TENANT),
        await registry(db, TENANT),
        FIXED_NOW,
        set(teams),
    )
    problems = [] if set(teams) == set(expected.teams) else [f"teams {sorted(teams)}"]
    for team, (summary, members) in expected.teams.items():
        doc = teams.get(team)
        if doc is None or doc["summary"] != summary or doc["members"] != members:
            problems.append(f"team {team}: {doc and doc['members']} != {members}")
    return problems


async def erased_learner_gone(db: AsyncDatabase[Doc], settings: LrsSettings) -> list[str]:
    return [*await mongo_traces(db), *await team_problems(db), *await topic_traces(settings)]


# --- the tests ----------------------------------------------------------------------------


async def test_erasure_leaves_no_trace_and_corrects_teams(infra: Infra) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("er"))
    await prepare_infra(settings)
    statements = workload()
    async with running_pipeline(settings) as (client, db):
        await registry_team(client, [ERASED, agent(1)])
        await post(client, statements)
        await put_documents(client, ERASED)
        await put_documents(client, agent(1))

        async def progress_ready() -> list[str]:
            teams = await progress_docs(db, "progress_teams", TENANT)
            return [] if len(teams.get(TEAM_X, {}).get("members", [])) == 3 else ["waiting"]

        assert await eventually(progress_ready) == []
        assert await mongo_traces(db), "the check must see the learner before the erasure"

        answer = await erase(client)
        assert answer["completed_at"] is not None
        counts = answer["counts"]
        assert counts["statements_deleted"] == 3
        assert counts["statements_redacted"] == 4
        assert counts["documents_deleted"] == 2
        assert counts["persons_deleted"] == 1
        assert counts["progress_learners_deleted"] == 2  # theirs and the anonymous Group's
        assert counts["registry_teams_changed"] == 1

        assert await eventually(lambda: erased_learner_gone(db, settings), within=60) == []
        assert await api_traces(client) == []
        kept = {s["id"] for s in await stored_statements(db, TENANT)}
        assert kept == {s["id"] for s in statements[3:]}
        gone = await client.get(
            "/xapi/statements", params={"statementId": statements[0]["id"]}, headers=xapi_headers()
        )
        assert gone.status_code == 404  # the target of the kept StatementRef

        again = await erase(client)  # idempotent: nothing left to remove
        assert again["id"] != answer["id"]
        assert {k: again["counts"][k] for k in ("statements_deleted", "statements_redacted")} == {
            "statements_deleted": 0,
            "statements_redacted": 0,
        }
        assert again["counts"]["progress_learners_deleted"] == 0
        assert await eventually(lambda: erased_learner_gone(db, settings), within=60) == []
        listed = await client.get("/admin/erasures", headers=xapi_headers())
        assert listed.status_code == 200
        assert [e["id"] for e in listed.json()] == [again["id"], answer["id"]]
        assert NEEDLE not in listed.text
        assert {e["agent_hash"] for e in listed.json()} == {answer["agent_hash"]}
        assert {e["requested_by"] for e in listed.json()} == {"test-key"}


async def test_in_flight_statements_are_dropped_and_later_ones_kept(infra: Infra) -> None:
    settings = make_settings(
        infra.kafka_bootstrap, infra.mongodb_uri, unique_name("ef"), ack_mode="kafka"
    )
    await prepare_infra(settings)
    before = statement("erased")
    async with running_pipeline(settings) as (client, db):
        await post(client, [before])

        async def stored_and_counted() -> list[str]:
            learners = await progress_docs(db, "progress_learners", TENANT)
            return [] if f"mbox:{ERASED['mbox']}" in learners else ["waiting"]

        assert await eventually(stored_and_counted) == []
    in_flight_own = statement("erased", "attempted")
    in_flight_other = statement(1, context=False) | {"context": {"instructor": ERASED}}
    after = statement("erased", "passed")
    uncounted = statement("erased", "experienced")  # stored, not yet counted by progress
    async with database(settings) as db:
        async with api_client(settings) as client:
            async with running_persister(settings):
                await post(client, [uncounted])

                async def stored_ids() -> set[str]:
                    return {s["id"] for s in await stored_statements(db, TENANT)}

                await eventually(stored_ids, lambda ids: uncounted["id"] in ids)
            # no persister now: these wait on the topic while the learner is erased
            await post(client, [in_flight_own, in_flight_other])
            answer = await erase(client)
            assert answer["counts"]["statements_deleted"] == 2  # `before` and `uncounted`
            await post(client, [after])
        async with running_persister(settings), running_progress(settings, db):
            wanted = {after["id"], in_flight_other["id"]}

            async def persisted() -> set[str]:
                return {s["id"] for s in await stored_statements(db, TENANT)}

            assert wanted <= await eventually(persisted, lambda ids: wanted <= ids)

            async def counted() -> list[Doc]:
                learners = await progress_docs(db, "progress_learners", TENANT)
                doc = learners.get(f"mbox:{ERASED['mbox']}")
                return [doc] if doc else []

            docs = await eventually(counted, bool)
        stored = {s["id"]: s for s in await stored_statements(db, TENANT)}
        assert set(stored) == wanted  # `before`, `uncounted` erased; `in_flight_own` dropped
        assert NEEDLE not in orjson.dumps(stored[in_flight_other["id"]]).decode()
        assert NEEDLE in orjson.dumps(stored[after["id"]]).decode()  # new data: kept
        facts = state_fields(docs[0])["facts"]
        assert set(facts) == {after["id"]}  # progress counts only what came after


async def lrs_command(settings: LrsSettings, *args: str) -> str:
    """`python -m lrs ARGS` with the test's settings; its stdout (it must succeed)."""
    env = {
        **os.environ,
        "LRS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "LRS_MONGODB_URI": settings.mongodb_uri or "",
        "LRS_MONGODB_DATABASE": settings.mongodb_database,
        "LRS_TOPIC_PREFIX": settings.topic_prefix,
        "LRS_STATEMENT_PARTITIONS": str(settings.statement_partitions),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lrs", *args, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    return out.decode()


class DiesOnce(MongoErasureStore):
    """The store, failing once halfway through (after the statements, before progress)."""

    died = False

    async def erase_progress(self, tenant: str, learners: Any) -> tuple[int, int]:
        if not DiesOnce.died:
            DiesOnce.died = True
            raise RuntimeError("killed halfway")
        return await super().erase_progress(tenant, learners)


async def test_an_interrupted_erasure_is_completed_by_a_rerun(infra: Infra) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("ei"))
    await prepare_infra(settings)
    async with running_pipeline(settings) as (client, db):
        await post(client, [in_team("erased"), in_team(1)])

        async def ready() -> list[str]:
            teams = await progress_docs(db, "progress_teams", TENANT)
            return [] if len(teams.get(TEAM_X, {}).get("members", [])) == 2 else ["waiting"]

        assert await eventually(ready) == []
        async with connected_erasure(settings) as deps:
            dying = dataclasses.replace(deps, store=DiesOnce(db))
            with pytest.raises(RuntimeError):
                await erase_agent(dying, TENANT, {"mbox": ERASED["mbox"]}, "operator")
        assert await progress_docs(db, "progress_learners", TENANT)  # left halfway
        first = await db["erasures"].find_one({"completed_at": None})
        assert first is not None
        # the re-run, from the command line
        record = orjson.loads(await lrs_command(settings, "agents", "forget", ERASED_JSON))
        assert record["id"] == first["_id"]  # the same audit record, completed
        assert record["requested_by"] == "operator"  # as the first run recorded it
        assert record["counts"]["progress_learners_deleted"] == 1
        listed_by_cli = await lrs_command(settings, "agents", "erasures", "--tenant", TENANT)
        assert [orjson.loads(line)["id"] for line in listed_by_cli.splitlines()] == [first["_id"]]
        assert await eventually(lambda: erased_learner_gone(db, settings), within=60) == []
        listed = (await client.get("/admin/erasures", headers=xapi_headers())).json()
        assert [(e["id"], e["completed_at"] is not None) for e in listed] == [(first["_id"], True)]


async def test_bad_agent_is_400_and_erasures_need_admin(infra: Infra) -> None:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("eb"))
    await prepare_infra(settings)
    async with api_client(settings) as client:
        bad = await client.delete(
            "/admin/agents", params={"agent": '{"name": "x"}'}, headers=xapi_headers()
        )
        assert bad.status_code == 400, bad.text
        tenant = await client.post("/admin/tenants", json={"name": TENANT}, headers=xapi_headers())
        assert tenant.status_code in (201, 409), tenant.text
        created = await client.post(
            "/admin/credentials",
            json={"tenant": TENANT, "scopes": ["all"]},
            headers=xapi_headers(),
        )
        assert created.status_code == 201, created.text
        key, secret = created.json()["key"], created.json()["secret"]
        refused = await client.delete(
            "/admin/agents",
            params={"agent": ERASED_JSON},
            headers=xapi_headers(key=key, secret=secret),
        )
        assert refused.status_code == 403, refused.text
