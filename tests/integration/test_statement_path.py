"""The statement path end to end in one process: HTTP -> Kafka -> persist consumer -> MongoDB ->
HTTP, on the real broker and store, acknowledging only once stored (ack_mode=stored)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from lrs.adapters.kafka_dead_letters import KafkaDeadLetters
from lrs.adapters.mongo_store import MongoCredentialStore, connect
from lrs.ports.dead_letters import DeadLetter, Selection
from lrs.services.auth import ensure_bootstrap_credential
from lrs.settings import LrsSettings
from lrs.xapi.timefmt import parse_timestamp
from tests.conftest import Infra
from tests.support.factories import statement, voiding
from tests.support.stack import (
    api_client,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
H = xapi_headers()


@pytest.fixture(scope="module")
async def settings(infra: Infra, module_namespace: str) -> LrsSettings:
    settings = make_settings(
        infra.kafka_bootstrap, infra.mongodb_uri, module_namespace, max_body_bytes=64 * 1024
    )
    await prepare_infra(settings)
    return settings


@pytest.fixture(scope="module")
async def client(settings: LrsSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_persister(settings), api_client(settings) as client:
        yield client


async def post(client: httpx.AsyncClient, body: Any, **kw: Any) -> httpx.Response:
    return await client.post("/xapi/statements", json=body, headers=kw.pop("headers", H), **kw)


async def get_by_id(client: httpx.AsyncClient, statement_id: str) -> httpx.Response:
    return await client.get("/xapi/statements", params={"statementId": statement_id}, headers=H)


async def collect(client: httpx.AsyncClient, params: dict[str, str]) -> list[str]:
    """Every statement id of a query, following `more` links."""
    seen: list[str] = []
    url: str | None = "/xapi/statements"
    query: dict[str, str] | None = params
    while url:
        page = await client.get(url, params=query, headers=H)
        assert page.status_code == 200
        body = page.json()
        seen += [s["id"] for s in body["statements"]]
        url, query = body["more"] or None, None
    return seen


async def test_posted_statement_is_stored_before_acknowledgement(client: httpx.AsyncClient) -> None:
    sent = statement()
    response = await post(client, sent)
    assert response.status_code == 200
    assert response.json() == [sent["id"]]
    fetched = await get_by_id(client, sent["id"])
    assert fetched.status_code == 200
    body = fetched.json()
    assert body["id"] == sent["id"]
    assert body["actor"] == sent["actor"]
    assert body["version"] == "1.0.0"
    assert body["authority"]["account"]["name"] == "test-key"
    assert fetched.headers["X-Experience-API-Version"] == "1.0.3"
    assert "X-Experience-API-Consistent-Through" in fetched.headers


async def test_statement_without_id_gets_one(client: httpx.AsyncClient) -> None:
    response = await post(client, statement(with_id=False))
    assert response.status_code == 200
    (new_id,) = response.json()
    assert uuid.UUID(new_id)
    assert (await get_by_id(client, new_id)).status_code == 200


async def test_batch_is_all_stored(client: httpx.AsyncClient) -> None:
    batch = [statement(learner=n) for n in range(10)]
    response = await post(client, batch)
    assert response.status_code == 200
    assert response.json() == [s["id"] for s in batch]
    for sent in batch:
        assert (await get_by_id(client, sent["id"])).status_code == 200


async def test_invalid_statement_rejects_whole_batch(client: httpx.AsyncClient) -> None:
    good = statement()
    bad = statement(actor={"mbox": "learner@example.org"})
    response = await post(client, [good, bad])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_statement"
    assert "$[1].actor.mbox" in error["message"]
    assert (await get_by_id(client, good["id"])).status_code == 404


async def test_duplicate_ids_in_batch_are_rejected(client: httpx.AsyncClient) -> None:
    first = statement()
    second = statement(id=first["id"])
    response = await post(client, [first, second])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "duplicate_statement_id"
    assert (await get_by_id(client, first["id"])).status_code == 404


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"42", "application/json", 400, "statement object or an array"),
        (b"[]", "application/json", 400, "empty"),
        (b"", "application/json", 400, "empty"),
        (b'{"actor": null}', "application/json", 400, "$[0]"),
    ],
)
async def test_bad_bodies_get_400_naming_the_problem(
    client: httpx.AsyncClient, body: bytes, content_type: str, status: int, fragment: str
) -> None:
    headers = {**H, "Content-Type": content_type}
    response = await client.post("/xapi/statements", content=body, headers=headers)
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]


async def test_body_over_limit_gets_413_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    big = statement(result=False)
    big["object"]["definition"]["description"] = {"en-US": "x" * 70_000}
    response = await post(client, big)
    assert response.status_code == 413
    assert (await get_by_id(client, big["id"])).status_code == 404


async def dead_lettered(settings: LrsSettings, statement_id: str) -> list[DeadLetter]:
    """The dead letters of the module's topics whose value holds `statement_id`. Call it after
    a later statement was acknowledged: the persister then committed the batch before, and
    a batch's dead letters are written before its commit."""
    assert settings.kafka_bootstrap
    reader = KafkaDeadLetters(settings.kafka_bootstrap, settings.topic_prefix)
    letters = await reader.all(Selection())
    return [d for d in letters if statement_id.encode() in (d.value or b"")]


async def test_put_then_equivalent_put_then_conflicting_put(
    client: httpx.AsyncClient, settings: LrsSettings
) -> None:
    """One statement is not looked up before it is produced (`stored` mode): the persister
    finds the held id, and the stored statement it forwards answers each PUT. A conflict is
    the client's to know (409), not a dead letter."""
    sent = statement()
    params = {"statementId": sent["id"]}
    first = await client.put("/xapi/statements", params=params, json=sent, headers=H)
    assert first.status_code == 204
    again = await client.put("/xapi/statements", params=params, json=sent, headers=H)
    assert again.status_code == 204
    changed = {**sent, "verb": {"id": "http://adlnet.gov/expapi/verbs/failed"}}
    conflict = await client.put("/xapi/statements", params=params, json=changed, headers=H)
    assert conflict.status_code == 409
    assert "already exists" in conflict.json()["error"]["message"]
    stored = (await get_by_id(client, sent["id"])).json()
    assert stored["verb"]["id"] == sent["verb"]["id"]
    assert (await post(client, statement())).status_code == 200  # the persister moved on
    assert await dead_lettered(settings, sent["id"]) == []


async def test_concurrent_conflicting_posts_store_one_and_report_409(
    client: httpx.AsyncClient, settings: LrsSettings
) -> None:
    statement_id = str(uuid.uuid4())
    variants = [statement(id=statement_id, verb=v) for v in ("passed", "failed")]
    responses = await asyncio.gather(*(post(client, v) for v in variants))
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert (await get_by_id(client, statement_id)).status_code == 200
    assert (await post(client, statement())).status_code == 200  # the persister moved on
    assert await dead_lettered(settings, statement_id) == []


async def test_requests_without_valid_credentials_get_401(client: httpx.AsyncClient) -> None:
    no_auth = {"X-Experience-API-Version": "1.0.3"}
    wrong = xapi_headers(secret="wrong")
    for headers in (no_auth, wrong, {**no_auth, "Authorization": "Basic !!!"}):
        response = await post(client, statement(), headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_missing_version_header_gets_400(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": H["Authorization"]}
    response = await post(client, statement(), headers=headers)
    assert response.status_code == 400
    assert "X-Experience-API-Version" in response.json()["error"]["message"]


async def test_voiding_hides_the_target_whichever_arrives_first(client: httpx.AsyncClient) -> None:
    target_late = statement()
    void_first = voiding(target_late["id"])
    assert (await post(client, void_first)).status_code == 200
    assert (await post(client, target_late)).status_code == 200
    target_early = statement()
    assert (await post(client, target_early)).status_code == 200
    assert (await post(client, voiding(target_early["id"]))).status_code == 200
    for target in (target_late, target_early):
        assert (await get_by_id(client, target["id"])).status_code == 404
        voided = await client.get(
            "/xapi/statements", params={"voidedStatementId": target["id"]}, headers=H
        )
        assert voided.status_code == 200
        assert voided.json()["id"] == target["id"]


async def test_unfiltered_listing_pages_with_more_links(client: httpx.AsyncClient) -> None:
    verb = f"https://verbs.example.org/{uuid.uuid4()}"
    sent = [statement(learner=n, verb=verb) for n in range(7)]
    for item in sent:  # one by one: distinct `stored` times
        assert (await post(client, item)).status_code == 200
    seen = await collect(client, {"verb": verb, "limit": "3"})
    assert seen == [s["id"] for s in reversed(sent)]


async def test_consistent_through_covers_acknowledged_statements(
    client: httpx.AsyncClient, settings: LrsSettings
) -> None:
    sent = statement()
    assert (await post(client, sent)).status_code == 200
    stored = parse_timestamp((await get_by_id(client, sent["id"])).json()["stored"])
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        response = await client.get("/xapi/statements", params={"limit": "1"}, headers=H)
        through = parse_timestamp(response.headers["X-Experience-API-Consistent-Through"])
        assert through <= datetime.now(UTC)
        if through >= stored:
            break
        assert asyncio.get_running_loop().time() < deadline, "consistent-through never advanced"
        await asyncio.sleep(0.2)


async def test_tenants_see_only_their_own_statements(
    client: httpx.AsyncClient, settings: LrsSettings
) -> None:
    assert settings.mongodb_uri
    mongo = connect(settings.mongodb_uri)
    try:
        await ensure_bootstrap_credential(
            MongoCredentialStore(mongo[settings.mongodb_database]),
            tenant="other-org",
            base_url="http://testserver",
            now=datetime.now(UTC),
            key="other-key",
            secret="other-secret",
            only_if_empty=False,
        )
    finally:
        await mongo.close()
    other = xapi_headers(key="other-key", secret="other-secret")
    mine, theirs = statement(), statement()
    theirs["id"] = mine["id"]
    theirs["verb"] = {"id": "http://adlnet.gov/expapi/verbs/failed"}
    assert (await post(client, mine)).status_code == 200
    assert (await post(client, theirs, headers=other)).status_code == 200
    seen_by_me = (await get_by_id(client, mine["id"])).json()
    seen_by_them = await client.get(
        "/xapi/statements", params={"statementId": mine["id"]}, headers=other
    )
    assert seen_by_me["verb"]["id"] == mine["verb"]["id"]
    assert seen_by_them.json()["verb"]["id"] == theirs["verb"]["id"]
    listing = await client.get("/xapi/statements", params={"limit": "100"}, headers=other)
    assert [s["id"] for s in listing.json()["statements"]] == [mine["id"]]


async def test_sixteen_concurrent_clients_every_statement_once(client: httpx.AsyncClient) -> None:
    verb = f"https://verbs.example.org/{uuid.uuid4()}"

    async def one_client(n: int) -> list[str]:
        ids: list[str] = []
        for _ in range(3):
            batch = [statement(learner=f"{n}-{i}", verb=verb) for i in range(10)]
            response = await post(client, batch)
            assert response.status_code == 200
            ids += response.json()
        return ids

    acknowledged = [i for ids in await asyncio.gather(*map(one_client, range(16))) for i in ids]
    stored = await collect(client, {"verb": verb})
    assert len(acknowledged) == 480
    assert sorted(stored) == sorted(acknowledged)


@pytest.mark.parametrize(
    "params",
    [{"statementId": "not-a-uuid"}, {"verb": "no-scheme"}, {"unknown": "x"}, {"limit": "-1"}],
)
async def test_get_errors_still_carry_consistent_through(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    """Communication 2.1.3: the header is returned whatever the status code."""
    response = await client.get("/xapi/statements", params=params, headers=H)
    assert response.status_code == 400
    parse_timestamp(response.headers["X-Experience-API-Consistent-Through"])
