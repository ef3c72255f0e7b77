"""`GET /progress/organisation` over in-memory adapters (the stored value, 404 before the
first, the progress read scopes, the caller's tenant only), its stream (snapshot, then newer
versions of the caller's tenant only) and its place in the OpenAPI document."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from lrs import topics
from lrs.adapters.memory import InMemoryCredentialStore
from lrs.adapters.memory_organisation import InMemoryOrganisationProgress
from lrs.adapters.memory_teams import InMemoryProgressReader, InMemoryTeamRegistry
from lrs.api.app import create_app
from lrs.ports.credentials import Credential, Principal
from lrs.ports.organisation import OrganisationDoc
from lrs.security import hash_secret
from lrs.services.auth import credential_authority
from lrs.services.organisation import open_organisation_stream
from lrs.services.progress import ProgressDeps
from lrs.services.progress_hub import Change, ProgressHub
from lrs.settings import LrsSettings
from tests.support.adapters import app_adapters

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)
SCOPES = {"reader": {"statements/read"}, "mine": {"statements/read/mine"}}
READER = Principal("acme", "k", frozenset({"statements/read"}), {})
ENTITY = topics.ORGANISATION_ENTITY


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:secret".encode()).decode()}


def value(tenant: str, version: int, learners: int) -> dict[str, Any]:
    return {"tenant": tenant, "version": version, "learners": learners}


def store(reader: InMemoryOrganisationProgress, tenant: str, version: int, learners: int) -> None:
    """The consumer's stored value, as `value` shows it."""
    reader.docs[tenant] = OrganisationDoc(tenant, {"learners": learners}, version)


@pytest.fixture
def reader() -> InMemoryOrganisationProgress:
    return InMemoryOrganisationProgress()


@pytest.fixture
async def http(reader: InMemoryOrganisationProgress) -> AsyncIterator[httpx.AsyncClient]:
    credentials = InMemoryCredentialStore()
    for key, scopes in SCOPES.items():
        await credentials.insert(
            Credential(
                key,
                hash_secret("secret"),
                "acme",
                frozenset(scopes),
                credential_authority(key, "http://testserver/xapi"),
                NOW - timedelta(days=1),
            )
        )
    adapters = app_adapters(credentials=credentials, organisation_progress=reader)
    app = create_app(LrsSettings(), adapters=adapters, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def test_rest_answers_the_stored_value_of_the_callers_tenant(
    http: httpx.AsyncClient, reader: InMemoryOrganisationProgress
) -> None:
    missing = await http.get("/progress/organisation", headers=basic("reader"))
    assert missing.status_code == 404
    assert "no organisation progress yet" in missing.json()["error"]["message"]
    store(reader, "other", 9, 99)
    store(reader, "acme", 2, 5)
    answer = await http.get("/progress/organisation", headers=basic("reader"))
    assert (answer.status_code, answer.json()) == (200, value("acme", 2, 5))
    mine = await http.get("/progress/organisation", headers=basic("mine"))
    assert mine.status_code == 403
    unknown = await http.get("/progress/organisation/stream?team=x", headers=basic("reader"))
    assert unknown.status_code == 400
    assert "team" in unknown.json()["error"]["message"]


async def test_openapi_documents_the_endpoints(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    assert "404" in paths["/progress/organisation"]["get"]["responses"]
    stream = paths["/progress/organisation/stream"]["get"]
    assert {p["name"] for p in stream["parameters"]} == {"token", "lastEventId"}


def live_parts(reader: InMemoryOrganisationProgress) -> ProgressDeps:
    return ProgressDeps(
        InMemoryProgressReader(),
        InMemoryTeamRegistry(),
        ProgressHub(8),
        lambda: NOW,
        b"secret",
        timedelta(minutes=5),
        keepalive_seconds=0.2,
    )


async def test_stream_sends_the_snapshot_then_newer_versions_of_its_tenant_only() -> None:
    reader = InMemoryOrganisationProgress()
    store(reader, "acme", 2, 5)
    live = live_parts(reader)
    stream = open_organisation_stream(reader, live, READER)
    assert (await anext(stream)).retry_ms is not None
    first = await anext(stream)
    assert (first.event, first.data, first.id) == (
        "organisation-progress",
        value("acme", 2, 5),
        "2",
    )

    def publish(tenant: str, version: int, learners: int) -> None:
        live.hub.publish(
            Change("organisation", tenant, ENTITY, version, value(tenant, version, learners))
        )

    publish("acme", 2, 5)  # what the snapshot already had: dropped
    publish("other", 7, 1)  # another tenant
    publish("acme", 3, 6)
    got = await asyncio.wait_for(anext(stream), 5)
    assert (got.data, got.id) == (value("acme", 3, 6), "3")
    assert (await asyncio.wait_for(anext(stream), 5)).comment == "keep-alive"
    await stream.aclose()
    assert live.hub.subscribers == 0


async def test_stream_before_any_value_says_so_then_sends_the_first() -> None:
    reader = InMemoryOrganisationProgress()
    live = live_parts(reader)
    stream = open_organisation_stream(reader, live, READER)
    await anext(stream)
    assert (await anext(stream)).comment == "no organisation progress yet"
    live.hub.publish(Change("organisation", "acme", ENTITY, 1, value("acme", 1, 1)))
    assert (await asyncio.wait_for(anext(stream), 5)).data == value("acme", 1, 1)
    await stream.aclose()
