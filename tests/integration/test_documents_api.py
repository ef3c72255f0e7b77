"""The Document Resources over HTTP, against the real MongoDB-wire store (SecantusDB).

State (Communication 2.3), Agent Profile (2.6), Activity Profile (2.7), merge (2.2) and
concurrency control (3.1), plus the document-change events published to `xapi.documents`
(recorded by the in-memory EventBus here; the schema is checked with the reference validator).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
from prometheus_client import REGISTRY

from lrs import topics
from lrs.adapters.memory import InMemoryEventBus
from lrs.adapters.mongo_attachments import MongoAttachmentStore
from lrs.adapters.mongo_documents import MongoDocumentStore
from lrs.adapters.mongo_store import MongoCredentialStore, MongoStatementStore, connect
from lrs.api.app import create_app
from lrs.entry.embedded import free_port, start_and_wait, store_child
from lrs.ports.credentials import Credential
from lrs.security import hash_secret
from lrs.services.auth import credential_authority, ensure_bootstrap_credential
from lrs.settings import LrsSettings
from lrs.xapi.errors import Unavailable
from tests.support.adapters import app_adapters

pytestmark = pytest.mark.integration

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "events" / "document-changed.v1.json"
MAX_BODY = 64 * 1024
TOPIC_PREFIX = "docs-test."
STATE = "/xapi/activities/state"
ACTIVITY_PROFILE = "/xapi/activities/profile"
AGENT_PROFILE = "/xapi/agents/profile"
CREDENTIALS = {
    "a": ("key-a", "secret-a", "tenant-a", None),
    "b": ("key-b", "secret-b", "tenant-b", None),
    "reader": ("key-r", "secret-r", "tenant-a", frozenset({"all/read"})),
    "state-only": ("key-s", "secret-s", "tenant-a", frozenset({"state"})),
}


def published_events(bus: InMemoryEventBus) -> list[dict[str, Any]]:
    """The document-change events published so far, decoded."""
    return [orjson.loads(m.value) for _, m in bus.published]


@dataclass
class Lrs:
    http: httpx.AsyncClient
    bus: InMemoryEventBus
    versions: dict[str, str] = field(default_factory=dict)

    async def call(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        *,
        who: str = "a",
        version: str = "1.0.3",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        key, secret, _, _ = CREDENTIALS[who]
        token = base64.b64encode(f"{key}:{secret}".encode()).decode()
        all_headers = {"X-Experience-API-Version": version, "Authorization": f"Basic {token}"}
        all_headers.update(headers or {})
        return await self.http.request(
            method, path, params=params, content=body, headers=all_headers
        )

    async def put_json(
        self, path: str, params: dict[str, str], doc: Any, **kw: Any
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return await self.call("PUT", path, params, body=orjson.dumps(doc), headers=headers, **kw)

    async def post_json(
        self, path: str, params: dict[str, str], doc: Any, **kw: Any
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return await self.call("POST", path, params, body=orjson.dumps(doc), headers=headers, **kw)


@pytest.fixture(scope="module")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    child = store_child(port, tmp_path_factory.mktemp("documents-store"))
    start_and_wait(child, port)
    try:
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    finally:
        child.stop()


async def add_credentials(store: MongoCredentialStore) -> None:
    now = datetime.now(UTC)
    for key, secret, tenant, scopes in CREDENTIALS.values():
        if scopes is None:
            await ensure_bootstrap_credential(
                store,
                tenant=tenant,
                base_url="http://testserver",
                now=now,
                key=key,
                secret=secret,
                only_if_empty=False,
            )
            continue
        await store.insert(
            Credential(
                key=key,
                secret_hash=hash_secret(secret),
                tenant=tenant,
                scopes=scopes,
                authority=credential_authority(key, "http://testserver"),
                created_at=now,
            )
        )


@pytest.fixture(scope="module")
async def lrs(mongo_uri: str) -> AsyncIterator[Lrs]:
    async with opened_lrs(mongo_uri) as opened:
        yield opened


@pytest.fixture(scope="module")
async def lenient_lrs(mongo_uri: str) -> AsyncIterator[Lrs]:
    """An LRS with LRS_ALLOW_UNCONDITIONAL_PROFILE_CREATE on."""
    async with opened_lrs(mongo_uri, allow_unconditional_profile_create=True) as opened:
        yield opened


@contextlib.asynccontextmanager
async def opened_lrs(mongo_uri: str, **overrides: Any) -> AsyncIterator[Lrs]:
    client = connect(mongo_uri)
    db = client[f"docs_{uuid.uuid4().hex[:8]}"]
    documents = MongoDocumentStore(db)
    await documents.create_indexes()
    credentials = MongoCredentialStore(db)
    await add_credentials(credentials)
    bus = InMemoryEventBus()
    settings = LrsSettings(
        mongodb_uri=mongo_uri, max_body_bytes=MAX_BODY, topic_prefix=TOPIC_PREFIX, **overrides
    )
    adapters = app_adapters(
        store=MongoStatementStore(db),
        bus=bus,
        credentials=credentials,
        documents=documents,
        attachments=MongoAttachmentStore(db),
    )
    app = create_app(settings, adapters=adapters)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield Lrs(http, bus)
    finally:
        await client.close()


def agent(name: str | None = None) -> str:
    mbox = f"mailto:{name or uuid.uuid4().hex[:10]}@example.com"
    return json.dumps({"objectType": "Agent", "name": "Someone", "mbox": mbox})


def activity() -> str:
    return f"http://example.com/activities/{uuid.uuid4().hex}"


def state_params(**extra: str) -> dict[str, str]:
    return {"activityId": activity(), "agent": agent(), "stateId": uuid.uuid4().hex, **extra}


def without(params: dict[str, str], *names: str) -> dict[str, str]:
    return {k: v for k, v in params.items() if k not in names}


def sha1_etag(content: bytes) -> str:
    return '"' + hashlib.sha1(content).hexdigest() + '"'


def schema_check(event: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(event)


# --- single documents ---------------------------------------------------------------------------


async def test_put_then_get_returns_bytes_type_etag_and_last_modified(lrs: Lrs) -> None:
    params = state_params()
    body = b'{"progress": 0.5, "bookmark": "page-3"}'
    put = await lrs.call(
        "PUT", STATE, params, body=body, headers={"Content-Type": "application/json"}
    )
    assert put.status_code == 204

    got = await lrs.call("GET", STATE, params)
    assert got.status_code == 200
    assert got.content == body
    assert got.headers["content-type"] == "application/json"
    assert got.headers["etag"] == sha1_etag(body)
    modified = parsedate_to_datetime(got.headers["last-modified"])
    assert abs((datetime.now(UTC) - modified).total_seconds()) < 60
    assert got.headers["x-experience-api-version"] == "1.0.3"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", bytes(range(256))),
        ("text/plain", "naïve text".encode("latin-1")),
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50),
    ],
)
async def test_binary_documents_keep_their_bytes_and_content_type(
    lrs: Lrs, content_type: str, body: bytes
) -> None:
    params = {"activityId": activity(), "profileId": "binary"}
    put = await lrs.call(
        "PUT",
        ACTIVITY_PROFILE,
        params,
        body=body,
        headers={"Content-Type": content_type, "If-None-Match": "*"},
    )
    assert put.status_code == 204
    got = await lrs.call("GET", ACTIVITY_PROFILE, params)
    assert got.content == body
    assert got.headers["content-type"] == content_type
    assert got.headers["etag"] == sha1_etag(body)


async def test_head_answers_like_get_without_body(lrs: Lrs) -> None:
    params = {"agent": agent(), "profileId": "p"}
    create = {"If-None-Match": "*"}
    assert (await lrs.put_json(AGENT_PROFILE, params, {"a": 1}, headers=create)).status_code == 204
    get = await lrs.call("GET", AGENT_PROFILE, params)
    head = await lrs.call("HEAD", AGENT_PROFILE, params)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("etag", "last-modified", "content-type"):
        assert head.headers[name] == get.headers[name]
    listing = await lrs.call("HEAD", AGENT_PROFILE, without(params, "profileId"))
    assert listing.status_code == 200
    assert listing.content == b""


async def test_missing_document_is_404_and_delete_of_missing_is_204(lrs: Lrs) -> None:
    params = state_params()
    assert (await lrs.call("GET", STATE, params)).status_code == 404
    assert (await lrs.call("DELETE", STATE, params)).status_code == 204


async def test_put_json_that_does_not_parse_is_400(lrs: Lrs) -> None:
    params = state_params()
    put = await lrs.call(
        "PUT", STATE, params, body=b'{"a":', headers={"Content-Type": "application/json"}
    )
    assert put.status_code == 400
    assert "not valid JSON" in put.json()["error"]["message"]


# --- POST merge (Communication 2.2) -------------------------------------------------------------


async def test_post_creates_then_merges_top_level(lrs: Lrs) -> None:
    params = state_params()
    first = {"car": {"make": "Ford", "model": "Escape"}, "driver": "Dale"}
    assert (await lrs.post_json(STATE, params, first)).status_code == 204
    assert (await lrs.call("GET", STATE, params)).json() == first
    second = {"car": {"make": "Dodge"}, "series": "nextel"}
    assert (await lrs.post_json(STATE, params, second)).status_code == 204
    got = await lrs.call("GET", STATE, params)
    assert got.json() == {"car": {"make": "Dodge"}, "driver": "Dale", "series": "nextel"}
    assert got.headers["etag"] == sha1_etag(got.content)


async def test_post_of_non_json_to_json_document_is_400_and_changes_nothing(lrs: Lrs) -> None:
    params = {"activityId": activity(), "profileId": "merge"}
    await lrs.post_json(ACTIVITY_PROFILE, params, {"a": 1})
    bad = await lrs.call(
        "POST", ACTIVITY_PROFILE, params, body=b"abcdefg", headers={"Content-Type": "not/json"}
    )
    assert bad.status_code == 400
    assert "application/json" in bad.json()["error"]["message"]
    assert (await lrs.call("GET", ACTIVITY_PROFILE, params)).json() == {"a": 1}


async def test_post_of_json_to_binary_document_is_400_and_changes_nothing(lrs: Lrs) -> None:
    params = state_params()
    body = b"/ asdf / undefined"
    await lrs.call(
        "PUT", STATE, params, body=body, headers={"Content-Type": "application/octet-stream"}
    )
    assert (await lrs.post_json(STATE, params, {"a": 1})).status_code == 400
    assert (await lrs.call("GET", STATE, params)).content == body


@pytest.mark.parametrize("body", [b'{"a": 1}{', b"[1, 2]", b'"text"'])
async def test_post_of_json_that_is_not_an_object_is_400(lrs: Lrs, body: bytes) -> None:
    params = state_params()
    post = await lrs.call(
        "POST", STATE, params, body=body, headers={"Content-Type": "application/json"}
    )
    assert post.status_code == 400
    assert (await lrs.call("GET", STATE, params)).status_code == 404


async def test_post_of_binary_to_new_document_stores_it(lrs: Lrs) -> None:
    params = state_params()
    post = await lrs.call(
        "POST", STATE, params, body=b"\x00\x01", headers={"Content-Type": "application/x-thing"}
    )
    assert post.status_code == 204
    got = await lrs.call("GET", STATE, params)
    assert (got.content, got.headers["content-type"]) == (b"\x00\x01", "application/x-thing")


# --- concurrency control (Communication 3.1) ----------------------------------------------------


async def current_etag(lrs: Lrs, path: str, params: dict[str, str]) -> str:
    got = await lrs.call("GET", path, params)
    assert got.status_code == 200
    return got.headers["etag"]


@pytest.mark.parametrize("method", ["PUT", "POST"])
async def test_if_match_guards_put_and_post(lrs: Lrs, method: str) -> None:
    params = {"agent": agent(), "profileId": "guarded"}
    await lrs.put_json(AGENT_PROFILE, params, {"v": 1}, headers={"If-None-Match": "*"})
    etag = await current_etag(lrs, AGENT_PROFILE, params)
    body = orjson.dumps({"v": 2})
    json_type = {"Content-Type": "application/json"}
    stale = await lrs.call(
        method, AGENT_PROFILE, params, body=body, headers={**json_type, "If-Match": '"1234"'}
    )
    assert stale.status_code == 412
    assert (await lrs.call("GET", AGENT_PROFILE, params)).json() == {"v": 1}
    fresh = await lrs.call(
        method, AGENT_PROFILE, params, body=body, headers={**json_type, "If-Match": etag}
    )
    assert fresh.status_code == 204
    assert (await lrs.call("GET", AGENT_PROFILE, params)).json() == {"v": 2}


async def test_if_none_match_star_only_creates(lrs: Lrs) -> None:
    params = {"activityId": activity(), "profileId": "create-only"}
    star = {"If-None-Match": "*"}
    assert (await lrs.put_json(ACTIVITY_PROFILE, params, {"v": 1}, headers=star)).status_code == 204
    assert (await lrs.put_json(ACTIVITY_PROFILE, params, {"v": 2}, headers=star)).status_code == 412
    assert (
        await lrs.post_json(ACTIVITY_PROFILE, params, {"v": 3}, headers=star)
    ).status_code == 412
    assert (await lrs.call("GET", ACTIVITY_PROFILE, params)).json() == {"v": 1}


async def test_if_match_on_missing_document_is_412(lrs: Lrs) -> None:
    params = {"activityId": activity(), "profileId": "absent"}
    put = await lrs.put_json(ACTIVITY_PROFILE, params, {"v": 1}, headers={"If-Match": '"abc"'})
    assert put.status_code == 412
    assert (await lrs.call("GET", ACTIVITY_PROFILE, params)).status_code == 404


async def test_delete_with_if_match(lrs: Lrs) -> None:
    params = {"activityId": activity(), "profileId": "to-delete"}
    await lrs.put_json(ACTIVITY_PROFILE, params, {"v": 1}, headers={"If-None-Match": "*"})
    etag = await current_etag(lrs, ACTIVITY_PROFILE, params)
    wrong = await lrs.call("DELETE", ACTIVITY_PROFILE, params, headers={"If-Match": '"1234"'})
    assert wrong.status_code == 412
    assert (await lrs.call("GET", ACTIVITY_PROFILE, params)).status_code == 200
    right = await lrs.call("DELETE", ACTIVITY_PROFILE, params, headers={"If-Match": etag})
    assert right.status_code == 204
    assert (await lrs.call("GET", ACTIVITY_PROFILE, params)).status_code == 404


@pytest.mark.parametrize(
    ("path", "version", "expected"),
    [
        (ACTIVITY_PROFILE, "1.0.3", 409),
        (AGENT_PROFILE, "1.0.3", 409),
        (AGENT_PROFILE, "2.0.0", 409),
        (STATE, "1.0.3", 204),
        (STATE, "2.0.0", 409),
    ],
)
async def test_put_without_precondition_to_existing_document(
    lrs: Lrs, path: str, version: str, expected: int
) -> None:
    params = {
        STATE: state_params(),
        ACTIVITY_PROFILE: {"activityId": activity(), "profileId": "p"},
        AGENT_PROFILE: {"agent": agent(), "profileId": "p"},
    }[path]
    assert (await lrs.post_json(path, params, {"v": 1}, version=version)).status_code == 204
    put = await lrs.put_json(path, params, {"v": 2}, version=version)
    assert put.status_code == expected
    after = (await lrs.call("GET", path, params, version=version)).json()
    if expected == 409:
        assert "If-Match" in put.json()["error"]["message"]
        assert after == {"v": 1}
    else:
        assert after == {"v": 2}


@pytest.mark.parametrize(
    ("path", "expected"), [(STATE, 204), (ACTIVITY_PROFILE, 400), (AGENT_PROFILE, 400)]
)
@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
async def test_put_without_precondition_to_new_document(
    lrs: Lrs, path: str, expected: int, version: str
) -> None:
    params = {
        STATE: state_params(),
        ACTIVITY_PROFILE: {"activityId": activity(), "profileId": "p"},
        AGENT_PROFILE: {"agent": agent(), "profileId": "p"},
    }[path]
    put = await lrs.put_json(path, params, {"v": 1}, version=version)
    assert put.status_code == expected
    after = await lrs.call("GET", path, params, version=version)
    assert after.status_code == (200 if expected == 204 else 404)


@pytest.mark.parametrize("path", [ACTIVITY_PROFILE, AGENT_PROFILE])
@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
async def test_unconditional_create_setting_lets_a_put_create_a_profile_document(
    lenient_lrs: Lrs, path: str, version: str
) -> None:
    """What @xapi/xapi and TinCanPython send: PUT without If-Match / If-None-Match."""
    params = {
        ACTIVITY_PROFILE: {"activityId": activity(), "profileId": "p"},
        AGENT_PROFILE: {"agent": agent(), "profileId": "p"},
    }[path]
    created = await lenient_lrs.put_json(path, params, {"v": 1}, version=version)
    assert created.status_code == 204, created.text
    overwrite = await lenient_lrs.put_json(path, params, {"v": 2}, version=version)
    assert overwrite.status_code == 409
    assert "If-Match" in overwrite.json()["error"]["message"]
    after = await lenient_lrs.call("GET", path, params, version=version)
    assert after.json() == {"v": 1}
    etag = after.headers["ETag"]
    replaced = await lenient_lrs.put_json(
        path, params, {"v": 3}, version=version, headers={"If-Match": etag}
    )
    assert replaced.status_code == 204
    assert (await lenient_lrs.call("GET", path, params, version=version)).json() == {"v": 3}


async def test_last_modified_moves_forward_with_each_write(lrs: Lrs) -> None:
    params = state_params()
    await lrs.post_json(STATE, params, {"v": 1})
    before = (await lrs.call("GET", STATE, params)).headers["last-modified"]
    await asyncio.sleep(1.1)
    await lrs.post_json(STATE, params, {"v": 2})
    after = (await lrs.call("GET", STATE, params)).headers["last-modified"]
    assert parsedate_to_datetime(after) > parsedate_to_datetime(before)


# --- id lists and delete-all -------------------------------------------------------------------


async def test_id_list_honours_since_exclusively(lrs: Lrs) -> None:
    context = {"activityId": activity()}
    await lrs.post_json(ACTIVITY_PROFILE, {**context, "profileId": "first"}, {"n": 1})
    first_updated = published_events(lrs.bus)[-1]["updated"]
    await asyncio.sleep(0.01)
    await lrs.post_json(ACTIVITY_PROFILE, {**context, "profileId": "second"}, {"n": 2})

    everything = await lrs.call("GET", ACTIVITY_PROFILE, context)
    assert everything.status_code == 200
    assert sorted(everything.json()) == ["first", "second"]
    assert "last-modified" in everything.headers
    later = await lrs.call("GET", ACTIVITY_PROFILE, {**context, "since": first_updated})
    assert later.json() == ["second"]
    future = await lrs.call("GET", ACTIVITY_PROFILE, {**context, "since": "2999-01-01T00:00:00Z"})
    assert future.json() == []
    bad = await lrs.call("GET", ACTIVITY_PROFILE, {**context, "since": "not a timestamp"})
    assert bad.status_code == 400


async def test_state_ids_by_registration(lrs: Lrs) -> None:
    context = {"activityId": activity(), "agent": agent()}
    reg = str(uuid.uuid4())
    await lrs.post_json(STATE, {**context, "stateId": "plain"}, {})
    await lrs.post_json(STATE, {**context, "stateId": "registered", "registration": reg}, {})
    assert sorted((await lrs.call("GET", STATE, context)).json()) == ["plain", "registered"]
    only = await lrs.call("GET", STATE, {**context, "registration": reg.upper()})
    assert only.json() == ["registered"]
    # the single-document address includes the registration
    assert (await lrs.call("GET", STATE, {**context, "stateId": "registered"})).status_code == 404


async def test_delete_all_states_of_a_context(lrs: Lrs) -> None:
    context = {"activityId": activity(), "agent": agent()}
    other = {**context, "agent": agent()}
    reg = str(uuid.uuid4())
    for sid, extra in (("s1", {}), ("s2", {}), ("s3", {"registration": reg})):
        await lrs.post_json(STATE, {**context, "stateId": sid, **extra}, {"x": sid})
    await lrs.post_json(STATE, {**other, "stateId": "s1"}, {"x": "other"})

    only_reg = await lrs.call("DELETE", STATE, {**context, "registration": reg})
    assert only_reg.status_code == 204
    assert sorted((await lrs.call("GET", STATE, context)).json()) == ["s1", "s2"]

    lrs.bus.published.clear()
    assert (await lrs.call("DELETE", STATE, context)).status_code == 204
    assert (await lrs.call("GET", STATE, context)).json() == []
    assert (await lrs.call("GET", STATE, {**other, "stateId": "s1"})).json() == {"x": "other"}
    events = published_events(lrs.bus)
    assert sorted(e["stateId"] for e in events) == ["s1", "s2"]
    assert {e["change"] for e in events} == {"delete"}


# --- tenants and scopes -------------------------------------------------------------------------


async def test_tenants_never_see_each_others_documents(lrs: Lrs) -> None:
    params = state_params()
    context = without(params, "stateId")
    await lrs.put_json(STATE, params, {"tenant": "a"}, who="a")
    assert (await lrs.call("GET", STATE, params, who="b")).status_code == 404
    assert (await lrs.call("GET", STATE, context, who="b")).json() == []
    star = {"If-None-Match": "*"}
    assert (
        await lrs.put_json(STATE, params, {"tenant": "b"}, who="b", headers=star)
    ).status_code == 204
    assert (await lrs.call("GET", STATE, params, who="a")).json() == {"tenant": "a"}
    assert (await lrs.call("GET", STATE, params, who="b")).json() == {"tenant": "b"}
    assert (await lrs.call("DELETE", STATE, context, who="b")).status_code == 204
    assert (await lrs.call("GET", STATE, params, who="a")).json() == {"tenant": "a"}


async def test_scopes(lrs: Lrs) -> None:
    params = state_params()
    profile = {"activityId": activity(), "profileId": "p"}
    await lrs.put_json(STATE, params, {"v": 1})
    assert (await lrs.call("GET", STATE, params, who="reader")).status_code == 200
    assert (await lrs.put_json(STATE, params, {"v": 2}, who="reader")).status_code == 403
    assert (await lrs.post_json(STATE, params, {"v": 2}, who="state-only")).status_code == 204
    assert (await lrs.put_json(ACTIVITY_PROFILE, profile, {}, who="state-only")).status_code == 403
    assert (await lrs.call("GET", ACTIVITY_PROFILE, profile, who="state-only")).status_code == 403


# --- bad requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "params", "needle"),
    [
        ("PUT", STATE, without(state_params(), "activityId"), "activityId"),
        ("GET", STATE, without(state_params(), "agent"), "agent"),
        ("DELETE", STATE, {**state_params(), "agent": "true"}, "agent"),
        ("POST", STATE, {**state_params(), "registration": "true"}, "registration"),
        ("PUT", STATE, without(state_params(), "stateId"), "stateId"),
        ("PUT", STATE, {**state_params(), "since": "2024-01-01T00:00:00Z"}, "since"),
        ("GET", STATE, {**state_params(), "StateId": "x"}, "StateId"),
        ("PUT", ACTIVITY_PROFILE, {"activityId": "not an iri", "profileId": "p"}, "activityId"),
        ("DELETE", ACTIVITY_PROFILE, {"activityId": activity()}, "profileId"),
        ("PUT", AGENT_PROFILE, {"agent": '{"name": "no ifi"}', "profileId": "p"}, "agent"),
    ],
)
async def test_bad_requests_are_400_naming_the_parameter(
    lrs: Lrs, method: str, path: str, params: dict[str, str], needle: str
) -> None:
    response = await lrs.call(
        method, path, params, body=b"{}", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert needle in response.json()["error"]["message"]


async def test_missing_version_header_is_400(lrs: Lrs) -> None:
    response = await lrs.call("GET", STATE, state_params(), version="")
    assert response.status_code == 400


async def test_body_over_the_limit_is_413(lrs: Lrs) -> None:
    params = state_params()
    big = b"x" * (MAX_BODY + 1)
    put = await lrs.call("PUT", STATE, params, body=big, headers={"Content-Type": "text/plain"})
    assert put.status_code == 413
    assert (await lrs.call("GET", STATE, params)).status_code == 404


# --- events -------------------------------------------------------------------------------------


async def test_each_change_publishes_a_document_event(lrs: Lrs) -> None:
    params = {**state_params(), "registration": str(uuid.uuid4())}
    lrs.bus.published.clear()
    body = orjson.dumps({"a": 1})
    await lrs.put_json(STATE, params, {"a": 1})
    await lrs.post_json(STATE, params, {"b": 2})
    await lrs.call("DELETE", STATE, params)
    await lrs.call("DELETE", STATE, params)  # nothing left: no event
    profile = {"agent": params["agent"], "profileId": "p"}
    await lrs.put_json(AGENT_PROFILE, profile, {"c": 3}, headers={"If-None-Match": "*"})

    topics_used = {topic for topic, _ in lrs.bus.published}
    assert topics_used == {TOPIC_PREFIX + topics.DOCUMENTS}
    events = published_events(lrs.bus)
    assert [e["change"] for e in events] == ["put", "post", "delete", "put"]
    for event in events:
        schema_check(event)
        assert event["tenant"] == "tenant-a"
    put, post, delete, profile = events
    assert put["etag"] == sha1_etag(body)
    assert put["size"] == len(body)
    assert put["contentType"] == "application/json"
    assert put["stateId"] == params["stateId"]
    assert put["registration"] == params["registration"]
    assert put["agent"] == {"objectType": "Agent", "mbox": json.loads(params["agent"])["mbox"]}
    assert post["updated"] > put["updated"]
    assert (delete["etag"], delete["size"]) == (None, 0)
    assert profile["resource"] == "agentProfile"
    assert "activityId" not in profile
    message = lrs.bus.published[0][1]
    assert message.key.startswith(b"tenant-a" + topics.KEY_SEPARATOR.encode())
    assert message.key == lrs.bus.published[2][1].key
    assert dict(message.headers)[topics.HEADER_CE_TYPE] == topics.DOCUMENT_CHANGED_TYPE.encode()


def failed_events() -> float:
    value = REGISTRY.get_sample_value("lrs_document_events_failed_total")
    assert value is not None
    return value


async def test_publish_failure_is_counted_and_the_write_still_succeeds(lrs: Lrs) -> None:
    params = state_params()
    before = failed_events()
    lrs.bus.failure = Unavailable("the broker is down (test)")
    try:
        put = await lrs.put_json(STATE, params, {"a": 1})
    finally:
        lrs.bus.failure = None
    assert put.status_code == 204
    assert failed_events() == before + 1
    assert (await lrs.call("GET", STATE, params)).json() == {"a": 1}


# --- concurrency ------------------------------------------------------------------------------


async def test_concurrent_if_match_writers_one_wins_per_generation(lrs: Lrs) -> None:
    params = {"activityId": activity(), "profileId": "contended"}
    await lrs.put_json(ACTIVITY_PROFILE, params, {"writer": -1}, headers={"If-None-Match": "*"})
    for generation in range(3):
        etag = await current_etag(lrs, ACTIVITY_PROFILE, params)
        responses = await asyncio.gather(
            *(
                lrs.put_json(
                    ACTIVITY_PROFILE,
                    params,
                    {"writer": i, "generation": generation},
                    headers={"If-Match": etag},
                )
                for i in range(50)
            )
        )
        statuses = [r.status_code for r in responses]
        assert sorted(set(statuses)) == [204, 412], statuses
        assert statuses.count(204) == 1
        winner = statuses.index(204)
        got = await lrs.call("GET", ACTIVITY_PROFILE, params)
        assert got.json() == {"writer": winner, "generation": generation}


async def test_concurrent_merges_lose_no_update(lrs: Lrs) -> None:
    params = state_params()
    await lrs.post_json(STATE, params, {"start": True})
    responses = await asyncio.gather(
        *(lrs.post_json(STATE, params, {f"k{i}": i}) for i in range(50))
    )
    assert [r.status_code for r in responses] == [204] * 50
    merged = (await lrs.call("GET", STATE, params)).json()
    assert merged == {"start": True, **{f"k{i}": i for i in range(50)}}
