"""Tenancy and scopes over HTTP on the real stack (Kafka, persist consumer, MongoDB).

Two tenants hold data with identical ids in every resource (statements, attachments, State,
Activity Profile, Agent Profile, Agents, Activities) and each sees only its own. Every xAPI
scope is tried on every route (the scope x route matrix), `statements/read/mine` and `define`
are checked for what they mean, and the admin API creates, lists, disables and revokes.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from lrs.api.app import create_app
from lrs.settings import LrsSettings
from lrs.xapi.multipart import build_multipart_mixed, parse_multipart_mixed
from tests.conftest import Infra
from tests.support.factories import activity, agent, statement
from tests.support.stack import (
    api_client,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
ADMIN = xapi_headers()  # the bootstrap credential: every scope, admin included
TENANTS = ("alpha", "beta")
SCOPES = (
    "statements/write",
    "statements/read",
    "statements/read/mine",
    "all/read",
    "all",
    "state",
    "define",
    "profile",
)
ACTIVITY_ID = "https://content.example.org/shared/activity"
LEARNER = agent("shared")
SHARED_ID = str(uuid.uuid4())


@dataclass
class Lrs:
    http: httpx.AsyncClient
    creds: dict[str, dict[str, str]]  # name -> headers

    def h(self, name: str) -> dict[str, str]:
        return self.creds[name]


async def new_credential(http: httpx.AsyncClient, tenant: str, *scopes: str) -> dict[str, str]:
    body = {"tenant": tenant, "scopes": list(scopes), "label": "test"}
    response = await http.post("/admin/credentials", json=body, headers=ADMIN)
    assert response.status_code == 201, response.text
    created = response.json()
    return xapi_headers(key=created["key"], secret=created["secret"])


def key_of(headers: dict[str, str]) -> str:
    return base64.b64decode(headers["Authorization"][6:]).decode().split(":")[0]


async def make_credentials(http: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    creds: dict[str, dict[str, str]] = {}
    for tenant in TENANTS:
        response = await http.post("/admin/tenants", json={"name": tenant}, headers=ADMIN)
        assert response.status_code == 201, response.text
        creds[tenant] = await new_credential(http, tenant, "all")
    for scope in SCOPES:
        creds[scope] = await new_credential(http, "alpha", scope)
    creds["write+mine"] = await new_credential(
        http, "alpha", "statements/write", "statements/read/mine"
    )
    creds["write-no-define"] = await new_credential(http, "alpha", "statements/write")
    return creds


@pytest.fixture(scope="module")
async def lrs(infra: Infra, module_namespace: str) -> AsyncIterator[Lrs]:
    # test_every_route_needs_credentials sends a wrong secret for one key on every route from
    # one address: beyond the default budget (10) that pair would get 429, not the 401 checked
    # here (the throttle's own tests: tests/unit/api/test_auth_throttle.py).
    settings: LrsSettings = make_settings(
        infra.kafka_bootstrap, infra.mongodb_uri, module_namespace, auth_failure_budget=1000
    )
    await prepare_infra(settings)
    async with running_persister(settings), api_client(settings) as http:
        yield Lrs(http, await make_credentials(http))


# --- tenant isolation: identical ids, each tenant sees its own -------------------------------


def multipart(doc: Any, data: bytes) -> tuple[str, bytes]:
    return build_multipart_mixed(
        [
            ({"Content-Type": "application/json"}, orjson.dumps(doc)),
            (
                {
                    "Content-Type": "text/plain",
                    "Content-Transfer-Encoding": "binary",
                    "X-Experience-API-Hash": hashlib.sha256(data).hexdigest(),
                },
                data,
            ),
        ]
    )


def attachment_meta(data: bytes) -> dict[str, Any]:
    return {
        "usageType": "https://example.org/usage/certificate",
        "display": {"en-US": "certificate"},
        "contentType": "text/plain",
        "length": len(data),
        "sha2": hashlib.sha256(data).hexdigest(),
    }


def tenant_statement(tenant: str) -> tuple[dict[str, Any], bytes]:
    data = f"certificate of {tenant}\n".encode()
    obj = activity("shared/activity", f"Activity of {tenant}")
    sent = statement(
        "shared",
        obj=obj,
        id=SHARED_ID,
        attachments=[attachment_meta(data)],
    )
    sent["actor"] = {**LEARNER, "name": f"Learner of {tenant}"}
    return sent, data


@pytest.fixture(scope="module")
async def shared_data(lrs: Lrs) -> dict[str, bytes]:
    """The same statement id, Activity id, Agent and document ids in both tenants."""
    attachments = {}
    for tenant in TENANTS:
        sent, data = tenant_statement(tenant)
        content_type, body = multipart(sent, data)
        headers = {**lrs.h(tenant), "Content-Type": content_type}
        response = await lrs.http.post("/xapi/statements", content=body, headers=headers)
        assert response.status_code == 200, response.text
        attachments[tenant] = data
        for path, params in DOCUMENTS.items():
            put = await lrs.http.post(
                path, params=params, json={"owner": tenant}, headers=lrs.h(tenant)
            )
            assert put.status_code == 204, put.text
    return attachments


AGENT_JSON = orjson.dumps(LEARNER).decode()
DOCUMENTS = {
    "/xapi/activities/state": {"activityId": ACTIVITY_ID, "agent": AGENT_JSON, "stateId": "s1"},
    "/xapi/activities/profile": {"activityId": ACTIVITY_ID, "profileId": "p1"},
    "/xapi/agents/profile": {"agent": AGENT_JSON, "profileId": "p1"},
}


@pytest.mark.parametrize("tenant", TENANTS)
async def test_statement_by_id_is_the_tenants_own(
    lrs: Lrs, shared_data: dict[str, bytes], tenant: str
) -> None:
    response = await lrs.http.get(
        "/xapi/statements", params={"statementId": SHARED_ID}, headers=lrs.h(tenant)
    )
    assert response.status_code == 200
    assert response.json()["actor"]["name"] == f"Learner of {tenant}"


@pytest.mark.parametrize("tenant", TENANTS)
async def test_statement_queries_see_only_the_tenants_own(
    lrs: Lrs, shared_data: dict[str, bytes], tenant: str
) -> None:
    for params in ({"agent": AGENT_JSON}, {"activity": ACTIVITY_ID}, {}):
        response = await lrs.http.get("/xapi/statements", params=params, headers=lrs.h(tenant))
        names = {s["actor"]["name"] for s in response.json()["statements"]}
        assert names == {f"Learner of {tenant}"}, params


@pytest.mark.parametrize("tenant", TENANTS)
async def test_attachments_are_the_tenants_own(
    lrs: Lrs, shared_data: dict[str, bytes], tenant: str
) -> None:
    response = await lrs.http.get(
        "/xapi/statements",
        params={"statementId": SHARED_ID, "attachments": "true"},
        headers=lrs.h(tenant),
    )
    parts = parse_multipart_mixed(response.headers["content-type"], response.content)
    assert [p.body for p in parts[1:]] == [shared_data[tenant]]


async def test_attachment_hash_of_another_tenant_reveals_nothing(
    lrs: Lrs, shared_data: dict[str, bytes]
) -> None:
    """beta refers to alpha's attachment by its SHA-2 (with a fileUrl, no bytes)."""
    meta = {**attachment_meta(shared_data["alpha"]), "fileUrl": "https://example.org/cert"}
    sent = statement(attachments=[meta])
    posted = await lrs.http.post("/xapi/statements", json=sent, headers=lrs.h("beta"))
    assert posted.status_code == 200, posted.text
    response = await lrs.http.get(
        "/xapi/statements",
        params={"statementId": sent["id"], "attachments": "true"},
        headers=lrs.h("beta"),
    )
    parts = parse_multipart_mixed(response.headers["content-type"], response.content)
    assert len(parts) == 1


@pytest.mark.parametrize("path", list(DOCUMENTS))
@pytest.mark.parametrize("tenant", TENANTS)
async def test_documents_are_the_tenants_own(
    lrs: Lrs, shared_data: dict[str, bytes], tenant: str, path: str
) -> None:
    params = DOCUMENTS[path]
    response = await lrs.http.get(path, params=params, headers=lrs.h(tenant))
    assert response.json() == {"owner": tenant}
    listing = {k: v for k, v in params.items() if k not in ("stateId", "profileId")}
    ids = await lrs.http.get(path, params=listing, headers=lrs.h(tenant))
    assert ids.json() == [params.get("stateId") or params.get("profileId")]


async def test_deleting_a_document_leaves_the_other_tenants(
    lrs: Lrs, shared_data: dict[str, bytes]
) -> None:
    path = "/xapi/activities/state"
    params = {**DOCUMENTS[path], "stateId": "to-delete"}
    for tenant in TENANTS:
        await lrs.http.put(path, params=params, json={"owner": tenant}, headers=lrs.h(tenant))
    deleted = await lrs.http.delete(path, params=params, headers=lrs.h("alpha"))
    assert deleted.status_code == 204
    assert (await lrs.http.get(path, params=params, headers=lrs.h("alpha"))).status_code == 404
    kept = await lrs.http.get(path, params=params, headers=lrs.h("beta"))
    assert kept.json() == {"owner": "beta"}


@pytest.mark.parametrize("tenant", TENANTS)
async def test_agents_and_activities_are_the_tenants_own(
    lrs: Lrs, shared_data: dict[str, bytes], tenant: str
) -> None:
    person = await lrs.http.get("/xapi/agents", params={"agent": AGENT_JSON}, headers=lrs.h(tenant))
    assert person.json()["name"] == [f"Learner of {tenant}"]
    found = await lrs.http.get(
        "/xapi/activities", params={"activityId": ACTIVITY_ID}, headers=lrs.h(tenant)
    )
    assert found.json()["definition"]["name"] == {"en-US": f"Activity of {tenant}"}


# --- the scope x route matrix ---------------------------------------------------------------

Call = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


def doc_params(path: str) -> dict[str, str]:
    return {**DOCUMENTS[path], "activityId": f"{ACTIVITY_ID}/{uuid.uuid4()}"}


def writing(path: str, method: str) -> Call:
    async def call(http: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
        return await http.request(method, path, params=DOCUMENTS[path], json={"x": 1}, headers=h)

    return call


def reading(path: str, params: dict[str, str]) -> Call:
    async def call(http: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
        return await http.get(path, params=params, headers=h)

    return call


async def post_statement(http: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    return await http.post("/xapi/statements", json=statement(), headers=h)


async def put_statement(http: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    sent = statement(with_id=False)
    params = {"statementId": str(uuid.uuid4())}
    return await http.put("/xapi/statements", params=params, json=sent, headers=h)


async def delete_state(http: httpx.AsyncClient, h: dict[str, str]) -> httpx.Response:
    params = {**DOCUMENTS["/xapi/activities/state"], "stateId": "never-there"}
    return await http.delete("/xapi/activities/state", params=params, headers=h)


STATE, ACT_PROFILE, AGENT_PROFILE = DOCUMENTS
WRITE = {"statements/write", "all"}
READ = {"statements/read", "statements/read/mine", "all/read", "all"}
DEFINITIONS = {"statements/read", "all/read", "all", "define"}
ROUTES: dict[str, tuple[Call, set[str]]] = {
    "POST statements": (post_statement, WRITE),
    "PUT statements": (put_statement, WRITE),
    "GET statements": (reading("/xapi/statements", {"limit": "1"}), READ),
    "PUT state": (writing(STATE, "PUT"), {"state", "all"}),
    "POST state": (writing(STATE, "POST"), {"state", "all"}),
    "DELETE state": (delete_state, {"state", "all"}),
    "GET state": (reading(STATE, DOCUMENTS[STATE]), {"state", "all/read", "all"}),
    "POST activity profile": (writing(ACT_PROFILE, "POST"), {"profile", "all"}),
    "GET activity profile": (
        reading(ACT_PROFILE, DOCUMENTS[ACT_PROFILE]),
        {"profile", "all/read", "all"},
    ),
    "POST agent profile": (writing(AGENT_PROFILE, "POST"), {"profile", "all"}),
    "GET agent profile": (
        reading(AGENT_PROFILE, DOCUMENTS[AGENT_PROFILE]),
        {"profile", "all/read", "all"},
    ),
    "GET agents": (reading("/xapi/agents", {"agent": AGENT_JSON}), DEFINITIONS),
    "GET activities": (reading("/xapi/activities", {"activityId": ACTIVITY_ID}), DEFINITIONS),
    "GET admin tenants": (reading("/admin/tenants", {}), set()),
    "GET admin credentials": (reading("/admin/credentials", {}), set()),
}


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("route", list(ROUTES))
async def test_scope_route_matrix(lrs: Lrs, route: str, scope: str) -> None:
    call, allowed = ROUTES[route]
    response = await call(lrs.http, lrs.h(scope))
    if scope in allowed:
        assert response.status_code in (200, 204), (route, scope, response.text)
    else:
        assert response.status_code == 403, (route, scope, response.text)
        assert "scope" in response.json()["error"]["message"]


@pytest.mark.parametrize("route", list(ROUTES))
async def test_every_route_needs_credentials(lrs: Lrs, route: str) -> None:
    call, _ = ROUTES[route]
    for headers in (
        {"X-Experience-API-Version": "1.0.3"},
        xapi_headers(key="unknown", secret="nope"),
        {**lrs.h("all"), "Authorization": lrs.h("all")["Authorization"][:-4] + "AAA="},
    ):
        response = await call(lrs.http, headers)
        assert response.status_code == 401, (route, response.text)
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_admin_routes_allow_the_admin_credential(lrs: Lrs) -> None:
    for route in ("GET admin tenants", "GET admin credentials"):
        call, _ = ROUTES[route]
        assert (await call(lrs.http, ADMIN)).status_code == 200


# --- statements/read/mine and define ---------------------------------------------------------


async def test_read_mine_sees_only_its_own_statements(lrs: Lrs) -> None:
    registration = str(uuid.uuid4())
    mine = statement(context=False)
    theirs = statement(context=False)
    for sent in (mine, theirs):
        sent["context"] = {"registration": registration}
    assert (await post_statement_as(lrs, mine, "write+mine")).status_code == 200
    assert (await post_statement_as(lrs, theirs, "all")).status_code == 200
    ref = statement(obj={"objectType": "StatementRef", "id": mine["id"]}, context=False)
    assert (await post_statement_as(lrs, ref, "all")).status_code == 200
    listed = await lrs.http.get(
        "/xapi/statements", params={"registration": registration}, headers=lrs.h("write+mine")
    )
    assert [s["id"] for s in listed.json()["statements"]] == [mine["id"]]
    everyone = await lrs.http.get(
        "/xapi/statements", params={"registration": registration}, headers=lrs.h("statements/read")
    )
    assert {s["id"] for s in everyone.json()["statements"]} == {mine["id"], theirs["id"], ref["id"]}
    for sid, status in ((mine["id"], 200), (theirs["id"], 404), (ref["id"], 404)):
        one = await lrs.http.get(
            "/xapi/statements", params={"statementId": sid}, headers=lrs.h("write+mine")
        )
        assert one.status_code == status


async def post_statement_as(lrs: Lrs, sent: dict[str, Any], who: str) -> httpx.Response:
    return await lrs.http.post("/xapi/statements", json=sent, headers=lrs.h(who))


async def test_authority_comes_from_the_credential(lrs: Lrs) -> None:
    sent = statement(authority={"objectType": "Agent", "mbox": "mailto:forged@example.org"})
    assert (await post_statement_as(lrs, sent, "write+mine")).status_code == 200
    got = await lrs.http.get(
        "/xapi/statements", params={"statementId": sent["id"]}, headers=lrs.h("all")
    )
    key = key_of(lrs.h("write+mine"))
    assert got.json()["authority"] == {
        "objectType": "Agent",
        "name": key,
        "account": {"homePage": "http://127.0.0.1:8080", "name": key},
    }


async def test_definitions_are_adopted_only_with_define(lrs: Lrs) -> None:
    undefined = activity(f"no-define/{uuid.uuid4()}", "Not adopted")
    defined = activity(f"define/{uuid.uuid4()}", "Adopted")
    assert (
        await post_statement_as(lrs, statement(obj=undefined), "write-no-define")
    ).status_code == 200
    assert (await post_statement_as(lrs, statement(obj=defined), "all")).status_code == 200
    later = activity(defined["id"].split("org/")[1], "Not adopted either")
    assert (
        await post_statement_as(lrs, statement(obj=later), "write-no-define")
    ).status_code == 200
    bare = await lrs.http.get(
        "/xapi/activities", params={"activityId": undefined["id"]}, headers=lrs.h("all")
    )
    assert bare.status_code == 200
    assert bare.json() == {"objectType": "Activity", "id": undefined["id"]}
    kept = await lrs.http.get(
        "/xapi/activities", params={"activityId": defined["id"]}, headers=lrs.h("all")
    )
    assert kept.json()["definition"]["name"] == {"en-US": "Adopted"}


# --- administration --------------------------------------------------------------------------


async def test_disabled_tenant_is_refused_and_enabled_again(lrs: Lrs) -> None:
    created = await lrs.http.post("/admin/tenants", json={"name": "gamma"}, headers=ADMIN)
    assert created.status_code == 201
    headers = await new_credential(lrs.http, "gamma", "all")
    assert (await post_statement(lrs.http, headers)).status_code == 200
    disabled = await lrs.http.post("/admin/tenants/gamma/disable", headers=ADMIN)
    assert disabled.json()["disabled"] is True
    refused = await post_statement(lrs.http, headers)
    assert refused.status_code == 403
    assert "disabled" in refused.json()["error"]["message"]
    await lrs.http.post("/admin/tenants/gamma/enable", headers=ADMIN)
    assert (await post_statement(lrs.http, headers)).status_code == 200


async def test_revoked_credential_is_refused(lrs: Lrs) -> None:
    headers = await new_credential(lrs.http, "beta", "all")
    assert (await post_statement(lrs.http, headers)).status_code == 200
    key = key_of(headers)
    revoked = await lrs.http.post(f"/admin/credentials/{key}/revoke", headers=ADMIN)
    assert revoked.json()["revoked"] is True
    assert (await post_statement(lrs.http, headers)).status_code == 401


async def test_secrets_are_never_listed(lrs: Lrs) -> None:
    listed = await lrs.http.get("/admin/credentials", headers=ADMIN)
    assert listed.status_code == 200
    for credential in listed.json():
        assert "secret" not in credential
        assert "secret_hash" not in credential
    tenants = {t["name"] for t in (await lrs.http.get("/admin/tenants", headers=ADMIN)).json()}
    assert set(TENANTS) <= tenants


@pytest.mark.parametrize(
    "body",
    [
        {"tenant": "alpha", "scopes": ["everything"]},
        {"tenant": "alpha", "scopes": []},
        {"tenant": "alpha"},
        {"tenant": "ghost", "scopes": ["all"]},
    ],
)
async def test_invalid_credential_requests_are_refused(lrs: Lrs, body: dict[str, Any]) -> None:
    response = await lrs.http.post("/admin/credentials", json=body, headers=ADMIN)
    assert response.status_code in (400, 404)


def test_admin_api_is_in_the_openapi_schema() -> None:
    with warnings.catch_warnings():  # FastAPI warns of GET+HEAD routes sharing an operation id
        warnings.simplefilter("ignore")
        schema = create_app(LrsSettings()).openapi()
    assert "/admin/credentials" in schema["paths"]
    created = schema["components"]["schemas"]["CredentialCreated"]
    assert "secret" in created["properties"]
    assert "secret" not in schema["components"]["schemas"]["CredentialOut"]["properties"]
