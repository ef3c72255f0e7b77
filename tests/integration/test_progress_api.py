"""The progress API over HTTP on the real broker and store: the team registry (and its records
on `lrs.teams`), progress recomputed at read time, the live SSE stream (snapshot, changes,
reconnect with Last-Event-ID, stream tokens), tenant isolation, 400/401/403.

Progress documents and topic records are written here by the test itself (the contract shared
with the progress consumers), so these tests do not depend on the consumers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import AsyncMongoClient, monitoring

from lrs import topics
from lrs.adapters.mongo_store import MongoCredentialStore, connect
from lrs.adapters.mongo_teams import MongoProgressReader, MongoTeamRegistry
from lrs.ports.credentials import Credential, Principal
from lrs.progress import fold, summarize_learner, summarize_team
from lrs.security import hash_secret
from lrs.services.progress import ProgressDeps, team_progress
from lrs.services.progress_hub import ProgressHub
from lrs.settings import LrsSettings
from lrs.xapi.ifi import actor_ifi
from tests.conftest import Infra
from tests.support.factories import agent, statement
from tests.support.live import SseReader, live_api
from tests.support.stack import basic, make_settings, prepare_infra, xapi_headers

pytestmark = pytest.mark.integration
H = xapi_headers()
TENANT, OTHER = "default", "other"


@pytest.fixture(scope="module")
async def settings(infra: Infra, module_namespace: str) -> LrsSettings:
    settings = make_settings(
        infra.kafka_bootstrap,
        infra.mongodb_uri,
        module_namespace,
        stream_keepalive_seconds=1.0,
        stream_token_secret="test-stream-secret",
    )
    await prepare_infra(settings)
    client = connect(settings.mongodb_uri or "")
    try:
        store = MongoCredentialStore(client[settings.mongodb_database])
        for key, tenant, scopes in [
            ("other-all", OTHER, {"all"}),
            ("mine-only", TENANT, {"statements/read/mine", "statements/write"}),
            ("write-only", TENANT, {"statements/write"}),
            ("reader", TENANT, {"statements/read"}),
        ]:
            await store.insert(
                Credential(
                    key=key,
                    secret_hash=hash_secret("s3cret"),
                    tenant=tenant,
                    scopes=frozenset(scopes),
                    authority={"objectType": "Agent", "account": {"homePage": "h", "name": key}},
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        await client.close()
    return settings


def as_(key: str) -> dict[str, str]:
    return {"Authorization": basic(key, "s3cret")}


@pytest.fixture(scope="module")
async def base(settings: LrsSettings) -> AsyncIterator[str]:
    async with live_api(settings) as url:
        yield url


@pytest.fixture
async def http(base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base, headers=H, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def db(settings: LrsSettings) -> AsyncIterator[Any]:
    client = connect(settings.mongodb_uri or "")
    yield client[settings.mongodb_database]
    await client.close()


@pytest.fixture(scope="module")
async def producer(settings: LrsSettings) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=False)
    await p.start()
    yield p
    await p.stop()


# ------------------------------------------------------------------------------- fixture data


def today_statements(n: str, count: int = 2, team: dict[str, Any] | None = None) -> list[Any]:
    now = datetime.now(UTC)
    docs = []
    for day in range(count):
        at = (now - timedelta(days=day)).isoformat()
        extra: dict[str, Any] = {"timestamp": at}
        docs.append(statement(n, "passed" if day == 0 else "attempted", **extra))
    if team is not None:
        for doc in docs:
            doc["context"]["team"] = team
    return docs


async def write_learner(
    db: Any, tenant: str, who: dict[str, Any], statements: list[Any], version: int
) -> dict[str, Any]:
    """A `progress_learners` document as the consumer writes it, with a stale stored summary
    (as_of long ago), so a read-time recomputation is visible."""
    learner = actor_ifi(who)
    state = fold(learner, statements)
    stale = {**summarize_learner(state, datetime(2020, 1, 1, tzinfo=UTC).date()), "tenant": tenant}
    await db["progress_learners"].replace_one(
        {"_id": f"{tenant}/{learner}"},
        {
            "_id": f"{tenant}/{learner}",
            "tenant": tenant,
            "learner": learner,
            "state": state.to_dict(),
            "summary": stale,
            "teams": stale["teams"],
            "version": version,
            "updated": datetime.now(UTC),
        },
        upsert=True,
    )
    return {**summarize_learner(state, datetime.now(UTC).date()), "tenant": tenant}


async def produce(
    producer: AIOKafkaProducer, settings: LrsSettings, topic: str, key: bytes, value: Any
) -> None:
    await producer.send_and_wait(settings.topic(topic), orjson.dumps(value), key=key)


async def registry_records(settings: LrsSettings, tenant: str, team: str) -> list[Any]:
    """Every `lrs.teams` record of one team, from the beginning of the topic."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        name = settings.topic(topics.TEAMS)
        tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
        if not tps:
            await consumer.topics()
            tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[Any] = []
        for _ in range(6):
            batches = await consumer.getmany(timeout_ms=300)
            for records in batches.values():
                found += [
                    orjson.loads(r.value) for r in records if r.key == topics.team_key(tenant, team)
                ]
        return found
    finally:
        await consumer.stop()


# ---------------------------------------------------------------------------------- registry


async def test_team_registry_crud_publishes_every_change(
    http: httpx.AsyncClient, settings: LrsSettings
) -> None:
    name = f"Sales EMEA {uuid.uuid4().hex[:6]}"
    created = await http.post("/teams", json={"name": name})
    assert created.status_code == 201, created.text
    team = created.json()["team"]
    assert team.startswith("registry:sales-emea-")
    assert (await http.post("/teams", json={"name": name})).status_code == 200  # a retry
    clash = await http.post("/teams", json={"name": "Other", "team": team})
    assert clash.status_code == 409

    path = f"/teams/{team}/members"
    put = await http.put(path, json={"members": [agent("t1"), agent("t2")]})
    assert put.status_code == 200, put.text
    ids = [m["learner"] for m in put.json()["members"]]
    assert ids == ["mbox:mailto:learnert1@example.org", "mbox:mailto:learnert2@example.org"]
    assert put.json()["members"][0]["name"] == "Learner t1"
    added = await http.post(path, json=[agent("t3")])
    assert len(added.json()["members"]) == 3
    removed = await http.delete(path, params={"agent": orjson.dumps(agent("t1")).decode()})
    t3 = "mbox:mailto:learnert3@example.org"
    assert [m["learner"] for m in removed.json()["members"]] == [*ids[1:], t3]

    listed = (await http.get("/teams")).json()["teams"]
    assert team in [t["team"] for t in listed]
    fetched = await http.get(f"/teams/{team}")
    assert fetched.json()["version"] == 4
    assert (await http.delete(f"/teams/{team}")).status_code == 204
    assert (await http.get(f"/teams/{team}")).status_code == 404
    assert (await http.delete(f"/teams/{team}")).status_code == 404

    records = await registry_records(settings, TENANT, team)
    assert [r["version"] for r in records] == [1, 1, 2, 3, 4, 5]
    assert records[2]["members"] == ids
    assert records[-1] == {
        "tenant": TENANT,
        "team": team,
        "name": name,
        "members": [],
        "deleted": True,
        "version": 5,
    }


async def test_any_team_id_is_accepted_url_encoded(http: httpx.AsyncClient) -> None:
    team = "account:https://lms.example.org/groups|blue team"
    created = await http.post("/teams", json={"team": team, "name": "Blue"})
    assert created.status_code == 201
    fetched = await http.get("/teams/" + quote(team, safe=""))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["team"] == team
    member = await http.post(f"/teams/{team}/members", json={"members": [agent("b1")]})
    assert member.status_code == 200, member.text


@pytest.mark.parametrize(
    ("method", "path", "kw"),
    [
        ("POST", "/teams", {"json": {"name": ""}}),
        ("POST", "/teams", {"content": b"{nope"}),
        ("POST", "/teams", {"json": {"name": "x", "colour": "red"}}),
        ("PUT", "/teams/registry:x/members", {"json": {"members": [{"mbox": "no-mailto"}]}}),
        ("POST", "/teams/registry:x/members", {"json": [{"name": "no ifi"}]}),
        ("DELETE", "/teams/registry:x/members", {"params": {"agent": "{not json"}}),
        ("DELETE", "/teams/registry:x/members", {}),
        ("GET", "/progress/learners", {"params": {"agent": "{not json"}}),
        ("GET", "/progress/learners", {"params": {"agent": '{"mbox": "x@y"}'}}),
        ("GET", "/progress/learners", {}),
        ("GET", "/progress/stream", {"params": {"agent": "[]"}}),
        ("GET", "/progress/stream", {"params": {}}),
        ("GET", "/progress/stream", {"params": {"team": "a", "agent": "{}"}}),
        ("GET", "/progress/stream", {"params": {"team": "a", "since": "x"}}),
    ],
)
async def test_bad_requests_get_400(
    http: httpx.AsyncClient, method: str, path: str, kw: dict[str, Any]
) -> None:
    response = await http.request(method, path, **kw)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"


async def test_credentials_and_scopes(http: httpx.AsyncClient) -> None:
    agent_param = {"agent": orjson.dumps(agent(1)).decode()}
    assert (await http.get("/teams", headers={"Authorization": ""})).status_code == 401
    nobody = {"Authorization": basic("nobody", "x")}
    assert (
        await http.get("/progress/learners", params=agent_param, headers=nobody)
    ).status_code == 401
    mine = await http.get("/progress/learners", params=agent_param, headers=as_("mine-only"))
    assert mine.status_code == 403
    assert "statements/read/mine" in mine.json()["error"]["message"]
    assert (await http.get("/progress/teams/x", headers=as_("write-only"))).status_code == 403
    assert (await http.post("/progress/stream-token", headers=as_("mine-only"))).status_code == 403
    write = await http.post("/teams", json={"name": "Nope"}, headers=as_("reader"))
    assert write.status_code == 403
    assert "define" in write.json()["error"]["message"]
    assert (await http.get("/teams", headers=as_("reader"))).status_code == 200
    assert (await http.get("/teams", headers=as_("write-only"))).status_code == 403
    stream = await http.get("/progress/stream", params={"team": "x", "token": "forged.sig"})
    assert stream.status_code == 401


# ------------------------------------------------------------------------------------ REST


async def test_learner_progress_is_recomputed_at_read_time(
    http: httpx.AsyncClient, db: Any
) -> None:
    who = agent(f"r{uuid.uuid4().hex[:6]}")
    expected = await write_learner(db, TENANT, who, today_statements("x", 3), version=7)
    response = await http.get("/progress/learners", params={"agent": orjson.dumps(who).decode()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of"] == datetime.now(UTC).date().isoformat()
    assert body["version"] == 7
    assert body["tenant"] == TENANT
    assert body["totals"]["current_streak_days"] == 3  # the stored summary said 0 (2020)
    assert body["totals"] == expected["totals"]
    unknown = {"agent": orjson.dumps(agent("never-seen")).decode()}
    assert (await http.get("/progress/learners", params=unknown)).status_code == 404


async def test_team_progress_unions_registry_and_statements(
    http: httpx.AsyncClient, db: Any
) -> None:
    suffix = uuid.uuid4().hex[:6]
    group = {"objectType": "Group", "mbox": f"mailto:team-{suffix}@example.org"}
    team = actor_ifi(group)
    registered, by_statement, idle = agent(f"a{suffix}"), agent(f"b{suffix}"), agent(f"c{suffix}")
    await http.post("/teams", json={"team": team, "name": "Mixed"})
    await http.put(f"/teams/{team}/members", json=[registered, idle])
    a = await write_learner(db, TENANT, registered, today_statements("a"), 1)
    b = await write_learner(db, TENANT, by_statement, today_statements("b", team=group), 1)
    await db["progress_teams"].replace_one(
        {"_id": f"{TENANT}/{team}"},
        {
            "_id": f"{TENANT}/{team}",
            "tenant": TENANT,
            "team": team,
            "summary": {},
            "members": [actor_ifi(by_statement)],
            "version": 3,
            "updated": datetime.now(UTC),
        },
        upsert=True,
    )
    response = await http.get(f"/progress/teams/{team}")
    assert response.status_code == 200, response.text
    body = response.json()
    members = {actor_ifi(registered): a, actor_ifi(by_statement): b, actor_ifi(idle): None}
    expected = summarize_team(team, members, datetime.now(UTC))
    assert body["members"] == 3
    assert body["active_members_7d"] == 2
    assert body["activities"] == expected["activities"]
    assert body["version"] == 3
    assert (await http.get("/progress/teams/registry:none-such")).status_code == 404


class FindCounter(monitoring.CommandListener):
    """Counts the `find` commands (find_one is one too) a client sends."""

    def __init__(self) -> None:
        self.finds = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.finds += event.command_name == "find"

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_team_is_read_in_four_queries_whatever_its_size(
    http: httpx.AsyncClient, db: Any, settings: LrsSettings
) -> None:
    team = f"registry:big-{uuid.uuid4().hex[:6]}"
    members = [agent(f"big{n}{team[-6:]}") for n in range(30)]
    await http.post("/teams", json={"team": team, "name": "Big"})
    assert (await http.put(f"/teams/{team}/members", json=members)).status_code == 200
    for n, member in enumerate(members):
        await write_learner(db, TENANT, member, today_statements(str(n)), 1)
    counter = FindCounter()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_uri, tz_aware=True, event_listeners=[counter]
    )
    try:
        store = client[settings.mongodb_database]
        deps = ProgressDeps(
            MongoProgressReader(store),
            MongoTeamRegistry(store),
            ProgressHub(),
            lambda: datetime.now(UTC),
            b"k",
            timedelta(minutes=5),
        )
        reader = Principal(TENANT, "reader", frozenset({"statements/read"}), {})
        body = await team_progress(deps, reader, team)
    finally:
        await client.close()
    assert body["members"] == 30
    assert body["active_members_7d"] == 30
    assert counter.finds == 4  # registry team, team progress, members' progress, their teams


async def test_tenants_see_only_their_own(http: httpx.AsyncClient, db: Any) -> None:
    who = agent(f"iso{uuid.uuid4().hex[:6]}")
    await write_learner(db, TENANT, who, today_statements("i"), 1)
    team = f"registry:iso-{uuid.uuid4().hex[:6]}"
    await http.post("/teams", json={"team": team, "name": "Iso"})
    other = as_("other-all")
    params = {"agent": orjson.dumps(who).decode()}
    assert (await http.get("/progress/learners", params=params, headers=other)).status_code == 404
    assert (await http.get(f"/teams/{team}", headers=other)).status_code == 404
    assert (await http.get(f"/progress/teams/{team}", headers=other)).status_code == 404
    assert team not in str((await http.get("/teams", headers=other)).json())
    # the same id in another tenant is another team
    assert (
        await http.post("/teams", json={"team": team, "name": "X"}, headers=other)
    ).status_code == 201


# ---------------------------------------------------------------------------------- streams


async def open_stream(
    client: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str] | None = None
) -> tuple[httpx.Response, SseReader]:
    request = client.build_request("GET", "/progress/stream", params=params, headers=headers)
    response = await client.send(request, stream=True)
    assert response.status_code == 200, (await response.aread()).decode()
    assert response.headers["content-type"].startswith("text/event-stream")
    return response, SseReader(response)


async def test_learner_stream_snapshot_changes_and_reconnect(
    http: httpx.AsyncClient, db: Any, producer: AIOKafkaProducer, settings: LrsSettings
) -> None:
    who = agent(f"s{uuid.uuid4().hex[:6]}")
    learner = actor_ifi(who)
    summary = await write_learner(db, TENANT, who, today_statements("s"), version=4)
    params = {"agent": orjson.dumps(who).decode()}
    key = topics.learner_key(TENANT, learner)

    response, events = await open_stream(http, params)
    snapshot = await events.next()
    assert events.retry == 3000
    assert (snapshot.event, snapshot.id) == ("learner-progress", "4")
    assert snapshot.data["totals"] == summary["totals"]
    await produce(producer, settings, topics.LEARNER_PROGRESS, key, {**summary, "version": 3})
    await produce(producer, settings, topics.LEARNER_PROGRESS, key, {**summary, "version": 5})
    change = await events.next()
    assert (change.event, change.id) == ("learner-progress", "5")  # version 3 was old news
    assert "keep-alive" in await events.comment(within=5)
    await response.aclose()

    # Reconnect, up to date: no snapshot, just the live changes after it.
    response, events = await open_stream(http, params, {"Last-Event-ID": "5"})
    await produce(producer, settings, topics.LEARNER_PROGRESS, key, {**summary, "version": 6})
    live = await events.next()
    assert live.id == "6"
    assert "up to date" in live.comments
    await response.aclose()

    # Reconnect from an older id: the snapshot (the stored document, version 4) comes first.
    await write_learner(db, TENANT, who, today_statements("s", 4), version=9)
    response, events = await open_stream(http, params, {"Last-Event-ID": "6"})
    again = await events.next()
    assert (again.event, again.id) == ("learner-progress", "9")
    assert again.data["totals"]["active_days"] == 4
    await response.aclose()


async def test_stream_never_crosses_tenants(
    http: httpx.AsyncClient, producer: AIOKafkaProducer, settings: LrsSettings
) -> None:
    who = agent(f"x{uuid.uuid4().hex[:6]}")
    params = {"agent": orjson.dumps(who).decode()}
    response, events = await open_stream(http, params, as_("other-all"))
    learner = actor_ifi(who)
    value = {"learner": learner, "version": 1, "tenant": TENANT}
    await produce(
        producer, settings, topics.LEARNER_PROGRESS, topics.learner_key(TENANT, learner), value
    )
    mine = {**value, "tenant": OTHER, "version": 2}
    await produce(
        producer, settings, topics.LEARNER_PROGRESS, topics.learner_key(OTHER, learner), mine
    )
    got = await events.next()
    assert got.data["tenant"] == OTHER
    await response.aclose()


async def test_team_stream_with_token_and_membership_changes(
    http: httpx.AsyncClient, db: Any, producer: AIOKafkaProducer, settings: LrsSettings
) -> None:
    suffix = uuid.uuid4().hex[:6]
    team = f"registry:live-{suffix}"
    first, second = agent(f"f{suffix}"), agent(f"g{suffix}")
    await http.post("/teams", json={"team": team, "name": "Live"})
    await http.put(f"/teams/{team}/members", json=[first])
    one = await write_learner(db, TENANT, first, today_statements("f"), 2)
    two = await write_learner(db, TENANT, second, today_statements("g", 1), 1)

    token = (await http.post("/progress/stream-token")).json()["token"]
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=30) as anonymous:
        response, events = await open_stream(anonymous, {"team": team, "token": token})
        learner = await events.next()
        assert (learner.event, learner.data["learner"]) == ("learner-progress", actor_ifi(first))
        assert (await events.next()).event == "team-progress"
        members = await events.next()
        assert members.event == "team-members"
        assert [m["learner"] for m in members.data["members"]] == [actor_ifi(first)]
        cursor = members.id
        assert cursor

        key = topics.learner_key(TENANT, actor_ifi(first))
        one = await write_learner(db, TENANT, first, today_statements("f", 3), 3)  # as consumers do
        await produce(producer, settings, topics.LEARNER_PROGRESS, key, {**one, "version": 3})
        assert (await events.next_named("learner-progress")).id != cursor

        await http.post(f"/teams/{team}/members", json=[second])
        seen = await events.next_named("learner-progress")
        assert seen.data["learner"] == actor_ifi(second)
        assert seen.data["totals"] == two["totals"]
        moved = await events.next_named("team-members")
        assert len(moved.data["members"]) == 2
        last_id = moved.id
        await response.aclose()

        # Reconnect with the last id: nothing changed, so no snapshot.
        response, events = await open_stream(
            anonymous, {"team": team, "token": token, "lastEventId": last_id or ""}
        )
        await produce(
            producer,
            settings,
            topics.TEAM_PROGRESS,
            topics.team_key(TENANT, team),
            {"team": team, "tenant": TENANT, "members": 2, "version": 8},
        )
        change = await events.next()
        assert change.event == "team-progress"
        assert "up to date" in change.comments
        await response.aclose()


async def test_stream_token_is_refused_elsewhere_and_when_tampered(
    http: httpx.AsyncClient,
) -> None:
    token = (await http.post("/progress/stream-token")).json()["token"]
    payload, _, signature = token.partition(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    response = await http.get("/progress/stream", params={"team": "t", "token": tampered})
    assert response.status_code == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await http.get("/teams", headers=bearer)).status_code == 401


async def test_a_stream_ends_when_its_credential_is_revoked_and_its_token_stops_working(
    http: httpx.AsyncClient, db: Any
) -> None:
    """A stream token outlives nothing it was issued for: revoking the credential ends the
    open stream (a last comment says why, within a keep-alive and the revalidation period) and
    the token no longer opens one, as Basic with that key no longer authenticates."""
    key = f"soon-revoked-{uuid.uuid4().hex[:6]}"
    credentials = MongoCredentialStore(db)
    await credentials.insert(
        Credential(
            key=key,
            secret_hash=hash_secret("s3cret"),
            tenant=TENANT,
            scopes=frozenset({"statements/read"}),
            authority={"objectType": "Agent", "account": {"homePage": "h", "name": key}},
            created_at=datetime.now(UTC),
        )
    )
    who = agent(f"r{uuid.uuid4().hex[:6]}")
    await write_learner(db, TENANT, who, today_statements("r"), version=1)
    token = (await http.post("/progress/stream-token", headers=as_(key))).json()["token"]
    params = {"agent": orjson.dumps(who).decode(), "token": token}
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=30) as anonymous:
        response, events = await open_stream(anonymous, params)
        assert (await events.next()).event == "learner-progress"
        assert "keep-alive" in await events.comment(within=5)
        assert await credentials.revoke(key) is not None
        closed = await events.comment(within=10)
        assert closed == "closed: this credential has been revoked", closed
        with pytest.raises(EOFError):
            await events.next(within=5)
        await response.aclose()
        again = await anonymous.get("/progress/stream", params=params)
        assert again.status_code == 401, again.text
        assert "revoked" in again.json()["error"]["message"]
    assert (await http.get("/progress/overview", headers=as_(key))).status_code == 401


async def test_dashboard_page_is_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/dashboard", headers={"Authorization": ""})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "EventSource" in page.text


async def test_slow_subscriber_gets_a_fresh_snapshot(
    http: httpx.AsyncClient, db: Any, producer: AIOKafkaProducer, settings: LrsSettings
) -> None:
    """Overflowing the bounded queue drops the backlog and re-sends the snapshot."""
    who = agent(f"o{uuid.uuid4().hex[:6]}")
    learner = actor_ifi(who)
    await write_learner(db, TENANT, who, today_statements("o"), version=1)
    response, events = await open_stream(http, {"agent": orjson.dumps(who).decode()})
    assert (await events.next()).id == "1"
    await write_learner(db, TENANT, who, today_statements("o", 2), version=1000)
    key = topics.learner_key(TENANT, learner)
    batch = [
        producer.send(
            settings.topic(topics.LEARNER_PROGRESS),
            orjson.dumps({"learner": learner, "version": v}),
            key=key,
        )
        for v in range(2, 600)
    ]
    await asyncio.gather(*[await f for f in batch])
    ids = set()
    async with asyncio.timeout(20):
        while "1000" not in ids:
            ids.add((await events.next()).id)
    await response.aclose()


async def test_team_streams_opened_during_a_burst_miss_nothing(
    http: httpx.AsyncClient, db: Any, producer: AIOKafkaProducer, settings: LrsSettings
) -> None:
    """Member updates written and published as the consumer does (document, then record) while
    streams of the team open: every stream ends at each member's last version, never going
    back, including a member added by the registry in the middle of the burst."""
    suffix = uuid.uuid4().hex[:6]
    team = f"registry:burst-{suffix}"
    who = {name: agent(f"{name}{suffix}") for name in ("p", "q", "r")}
    await http.post("/teams", json={"team": team, "name": "Burst"})
    await http.put(f"/teams/{team}/members", json=[who["p"], who["q"]])
    for name in who:
        await write_learner(db, TENANT, who[name], today_statements(name), 1)
    last = 12

    async def update(name: str, version: int) -> None:
        summary = await write_learner(db, TENANT, who[name], today_statements(name), version)
        key = topics.learner_key(TENANT, actor_ifi(who[name]))
        await produce(
            producer, settings, topics.LEARNER_PROGRESS, key, {**summary, "version": version}
        )

    async def burst() -> None:
        for version in range(2, last + 1):
            for name in who:
                await update(name, version)
            if version == last // 2:
                await http.post(f"/teams/{team}/members", json=[who["r"]])

    streams = [await open_stream(http, {"team": team})]
    task = asyncio.create_task(burst())
    try:
        for _ in range(2):
            streams.append(await open_stream(http, {"team": team}))
        await task
        for response, events in streams:
            seen: dict[str, int] = {}
            while [seen.get(actor_ifi(w), 0) for w in who.values()] != [last] * 3:
                got = await events.next_named("learner-progress")
                learner, version = got.data["learner"], got.data["version"]
                assert version >= seen.get(learner, 0), (learner, version, seen)
                seen[learner] = version
            await response.aclose()
    finally:
        task.cancel()
