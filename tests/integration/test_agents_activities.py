"""The Agents and Activities Resources (xAPI Communication 2.4, 2.5) end to end on the real
broker and store: statements POSTed over HTTP, merged by the persist consumer, read back at once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from lrs.adapters.mongo_definitions import MongoActivityStore, MongoAgentStore
from lrs.adapters.mongo_store import MongoCredentialStore, connect
from lrs.ports.credentials import Credential
from lrs.ports.statements import AcceptedStatement
from lrs.security import hash_secret
from lrs.services.auth import credential_authority, ensure_bootstrap_credential
from lrs.settings import LrsSettings
from tests.conftest import Infra
from tests.support.factories import agent, statement
from tests.support.stack import (
    api_client,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
H = xapi_headers()
OTHER = xapi_headers(key="other-key", secret="other-secret")
WRITER_ONLY = xapi_headers(key="writer-key", secret="writer-secret")


async def add_credentials(settings: LrsSettings) -> None:
    """A second tenant's credential, and one of the first tenant that may only write."""
    assert settings.mongodb_uri
    mongo = connect(settings.mongodb_uri)
    try:
        store = MongoCredentialStore(mongo[settings.mongodb_database])
        now = datetime.now(UTC)
        await ensure_bootstrap_credential(
            store,
            tenant="other-org",
            base_url="http://testserver",
            now=now,
            key="other-key",
            secret="other-secret",
            only_if_empty=False,
        )
        await store.insert(
            Credential(
                key="writer-key",
                secret_hash=hash_secret("writer-secret"),
                tenant="default",
                scopes=frozenset({"statements/write"}),
                authority=credential_authority("writer-key", "http://testserver"),
                created_at=now,
            )
        )
    finally:
        await mongo.close()


@pytest.fixture(scope="module")
async def settings(infra: Infra, module_namespace: str) -> LrsSettings:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, module_namespace)
    await prepare_infra(settings)
    await add_credentials(settings)
    return settings


@pytest.fixture(scope="module")
async def client(settings: LrsSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_persister(settings), api_client(settings) as client:
        yield client


def new_activity(**definition: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "objectType": "Activity",
        "id": f"https://content.example.org/activities/{uuid.uuid4().hex}",
    }
    if definition:
        found["definition"] = definition
    return found


def new_learner(name: str = "A Learner") -> dict[str, Any]:
    return agent(uuid.uuid4().hex[:12], name=name)


async def post(client: httpx.AsyncClient, body: Any, headers: dict[str, str] = H) -> httpx.Response:
    response = await client.post("/xapi/statements", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def get_activity(
    client: httpx.AsyncClient, activity_id: str, headers: dict[str, str] = H
) -> httpx.Response:
    return await client.get("/xapi/activities", params={"activityId": activity_id}, headers=headers)


async def get_agent(
    client: httpx.AsyncClient, who: dict[str, Any], headers: dict[str, str] = H
) -> httpx.Response:
    return await client.get("/xapi/agents", params={"agent": json.dumps(who)}, headers=headers)


async def test_activity_definition_is_readable_right_after_the_post(
    client: httpx.AsyncClient,
) -> None:
    sent = new_activity(
        name={"en-US": "Meeting"},
        description={"en-US": "A meeting"},
        type="http://adlnet.gov/expapi/activities/meeting",
        moreInfo="https://content.example.org/more",
        extensions={"http://example.com/ext/location.v1": {"room.number": 12, "$ref": "x"}},
    )
    await post(client, statement(obj=sent, context=False))
    response = await get_activity(client, sent["id"])
    assert response.status_code == 200
    assert response.json() == sent
    body_sha1 = hashlib.sha1(response.content, usedforsecurity=False).hexdigest()
    assert response.headers["ETag"] == f'"{body_sha1}"'


async def test_two_statements_in_two_languages_give_both(client: httpx.AsyncClient) -> None:
    activity = new_activity(name={"en-US": "Meeting"}, type="http://example.com/types/meeting")
    french = {**activity, "definition": {"name": {"fr-FR": "Réunion"}}}
    await post(client, [statement(obj=activity), statement(obj=french)])
    definition = (await get_activity(client, activity["id"])).json()["definition"]
    assert definition["name"] == {"en-US": "Meeting", "fr-FR": "Réunion"}
    assert definition["type"] == "http://example.com/types/meeting"


async def test_context_activities_are_defined_too(client: httpx.AsyncClient) -> None:
    parent = new_activity(name={"en-GB": "Programme"})
    sent = statement(context=False, obj=new_activity())
    sent["context"] = {"contextActivities": {"parent": [parent]}}
    await post(client, sent)
    assert (await get_activity(client, parent["id"])).json() == parent


async def test_unknown_activity_is_an_activity_object_with_its_id(
    client: httpx.AsyncClient,
) -> None:
    activity_id = f"https://content.example.org/never-seen/{uuid.uuid4().hex}"
    for version in ("1.0.3", "2.0.0"):
        response = await get_activity(client, activity_id, xapi_headers(version))
        assert response.status_code == 200
        assert response.json() == {"objectType": "Activity", "id": activity_id}


async def test_person_has_the_names_seen(client: httpx.AsyncClient) -> None:
    learner = new_learner("Ada")
    renamed = {**learner, "name": "Ada L."}
    await post(client, [statement(learner=0, actor=learner), statement(actor=renamed)])
    response = await get_agent(client, {"mbox": learner["mbox"]})
    assert response.status_code == 200
    assert response.json() == {
        "objectType": "Person",
        "name": ["Ada", "Ada L."],
        "mbox": [learner["mbox"]],
    }


async def test_group_members_and_instructor_are_people(client: httpx.AsyncClient) -> None:
    member, teacher = new_learner("Member"), new_learner("Teacher")
    team = {"objectType": "Group", "name": "Team", "member": [member]}
    sent = statement(context=False)
    sent["context"] = {"instructor": teacher, "team": team}
    await post(client, sent)
    assert (await get_agent(client, member)).json()["name"] == ["Member"]
    assert (await get_agent(client, teacher)).json()["name"] == ["Teacher"]


async def test_unknown_agent_is_a_person_with_what_was_asked(client: httpx.AsyncClient) -> None:
    who = {
        "objectType": "Agent",
        "name": "Rick",
        "account": {"homePage": "http://www.example.com/agentId/1", "name": uuid.uuid4().hex},
    }
    response = await get_agent(client, who)
    assert response.status_code == 200
    assert response.json() == {
        "objectType": "Person",
        "name": ["Rick"],
        "account": [who["account"]],
    }


async def test_head_has_the_headers_without_a_body(client: httpx.AsyncClient) -> None:
    activity = new_activity(name={"en": "Head"})
    await post(client, statement(obj=activity))
    got = await get_activity(client, activity["id"])
    head = await client.head("/xapi/activities", params={"activityId": activity["id"]}, headers=H)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["ETag"] == got.headers["ETag"]
    head = await client.head("/xapi/agents", params={"agent": json.dumps(agent(1))}, headers=H)
    assert (head.status_code, head.content) == (200, b"")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/xapi/activities", {}),
        ("/xapi/activities", {"activityId": "not an IRI"}),
        ("/xapi/activities", {"activityId": "http://example.com/a", "agent": "{}"}),
        ("/xapi/agents", {}),
        ("/xapi/agents", {"agent": "{not json"}),
        ("/xapi/agents", {"agent": json.dumps({"objectType": "Agent", "name": "No IFI"})}),
        ("/xapi/agents", {"agent": json.dumps({"objectType": "Group", "mbox": "mailto:g@x.org"})}),
        ("/xapi/agents", {"agent": json.dumps({"mbox": "learner@example.org"})}),
        ("/xapi/agents", {"agent": json.dumps(agent(1)), "activityId": "http://example.com/a"}),
    ],
)
async def test_bad_requests_are_400(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params, headers=H)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


async def test_version_header_is_required(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": H["Authorization"]}
    response = await client.get(
        "/xapi/activities", params={"activityId": "http://example.com/a"}, headers=headers
    )
    assert response.status_code == 400


async def test_reading_needs_a_read_scope(client: httpx.AsyncClient) -> None:
    response = await get_activity(client, "http://example.com/a", WRITER_ONLY)
    assert response.status_code == 403
    assert (await get_agent(client, agent(1), WRITER_ONLY)).status_code == 403


async def test_tenants_see_only_their_own_definitions(client: httpx.AsyncClient) -> None:
    mine = new_activity(name={"en": "Mine"})
    theirs = {**mine, "definition": {"name": {"de": "Ihre"}}}
    learner = new_learner("Known here")
    await post(client, statement(obj=mine, actor=learner))
    await post(client, statement(obj=theirs), headers=OTHER)
    assert (await get_activity(client, mine["id"])).json()["definition"] == {"name": {"en": "Mine"}}
    seen_by_them = (await get_activity(client, mine["id"], OTHER)).json()
    assert seen_by_them["definition"] == {"name": {"de": "Ihre"}}
    person = (await get_agent(client, {"mbox": learner["mbox"]}, OTHER)).json()
    assert "name" not in person


async def test_fifty_concurrent_posts_each_add_a_language(client: httpx.AsyncClient) -> None:
    activity = new_activity()
    tags = [f"x-lang{n:02d}" for n in range(50)]

    async def one(n: int, tag: str) -> int:
        definition = {"name": {tag: f"Name {n}"}, "type": "http://example.com/types/course"}
        obj = {**activity, "definition": definition}
        sent = statement(learner=f"concurrent-{n}-{uuid.uuid4().hex[:6]}", obj=obj)
        response = await client.post("/xapi/statements", json=sent, headers=H)
        return response.status_code

    statuses = await asyncio.gather(*(one(n, tag) for n, tag in enumerate(tags)))
    assert statuses == [200] * 50
    definition = (await get_activity(client, activity["id"])).json()["definition"]
    assert definition["name"] == {tag: f"Name {n}" for n, tag in enumerate(tags)}
    assert definition["type"] == "http://example.com/types/course"


def accepted(tenant: str, stmt: dict[str, Any]) -> AcceptedStatement:
    return AcceptedStatement(tenant, stmt, datetime.now(UTC), "mbox:mailto:x@example.org")


async def test_concurrent_merges_on_the_store_lose_nothing_and_replay_is_idempotent(
    settings: LrsSettings,
) -> None:
    """Fifty writers racing on one new Activity and one new Agent, as fifty persister
    instances would: every language and every name survives; replaying changes nothing."""
    assert settings.mongodb_uri
    mongo = connect(settings.mongodb_uri)
    try:
        db = mongo[settings.mongodb_database]
        activities, agents = MongoActivityStore(db), MongoAgentStore(db)
        activity, learner = new_activity(), new_learner()
        batches = [
            [
                accepted(
                    "race",
                    statement(
                        actor={**learner, "name": f"Name {n}"},
                        obj={**activity, "definition": {"name": {f"x-l{n:02d}": f"N{n}"}}},
                    ),
                )
            ]
            for n in range(50)
        ]
        await asyncio.gather(*(activities.merge(b) for b in batches))
        await asyncio.gather(*(agents.merge(b) for b in batches))
        expected = {f"x-l{n:02d}": f"N{n}" for n in range(50)}
        assert (await activities.get("race", activity["id"])) == {"name": expected}
        await asyncio.gather(*(activities.merge(b) for b in batches[:10]))
        assert (await activities.get("race", activity["id"])) == {"name": expected}
        known = await agents.get("race", f"mbox:{learner['mbox']}")
        assert known is not None
        assert sorted(known.names) == sorted(f"Name {n}" for n in range(50))
        assert await activities.get("other-tenant", activity["id"]) is None
    finally:
        await mongo.close()
