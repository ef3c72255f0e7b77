"""A request waiting for its statements to be stored is woken by the API's feed of
`lrs.statements.stored` (lrs.adapters.stored_waiters), on the real broker and store: with the
waiters' own reads of the store pushed out to a minute, a POST is still acknowledged at once.
Without the wake-up it would answer only at its deadline (a minute here), and fail. The feed
hands over the statements as stored, so the request reads nothing more from the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from lrs.adapters import mongo_store
from lrs.settings import LrsSettings
from tests.conftest import Infra
from tests.support.factories import statement
from tests.support.stack import (
    api_client,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
NO_OWN_READ_SECONDS = 60.0  # the waiter's own reads of the store, pushed out of the test
WITHIN = 20.0  # far longer than a wake-up takes, far shorter than NO_OWN_READ_SECONDS


@pytest.fixture
def ack_reads(monkeypatch: pytest.MonkeyPatch) -> list[Sequence[str]]:
    """The ids of every read of the store made for an acknowledgement."""
    reads: list[Sequence[str]] = []
    original = mongo_store.MongoStatementStore._read_for_ack

    async def counted(
        self: mongo_store.MongoStatementStore, tenant: str, ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        reads.append(list(ids))
        return await original(self, tenant, ids)

    monkeypatch.setattr(mongo_store.MongoStatementStore, "_read_for_ack", counted)
    return reads


@pytest.fixture
async def client(
    infra: Infra, module_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setattr(mongo_store, "STREAM_POLL", NO_OWN_READ_SECONDS)
    monkeypatch.setattr(mongo_store, "FALLBACK_POLL", NO_OWN_READ_SECONDS)
    settings: LrsSettings = make_settings(
        infra.kafka_bootstrap,
        infra.mongodb_uri,
        module_namespace,
        ack_timeout_seconds=NO_OWN_READ_SECONDS,
    )
    await prepare_infra(settings)
    async with running_persister(settings), api_client(settings) as client:
        yield client


async def test_a_post_is_acknowledged_when_the_feed_sees_its_statements_stored(
    client: httpx.AsyncClient, ack_reads: list[Sequence[str]]
) -> None:
    for batch in ([statement()], [statement() for _ in range(5)]):
        response = await asyncio.wait_for(
            client.post("/xapi/statements", json=batch, headers=xapi_headers()), WITHIN
        )
        assert response.status_code == 200, response.text
        assert response.json() == [s["id"] for s in batch]
    assert ack_reads == []  # answered from what the feed handed over


async def test_a_conflicting_statement_is_still_refused(client: httpx.AsyncClient) -> None:
    """The statement handed over is compared as the stored one was: same id, other content
    (sent after the first was stored) is a 409."""
    first = statement()
    response = await client.post("/xapi/statements", json=first, headers=xapi_headers())
    assert response.status_code == 200, response.text
    other = {**statement(), "id": first["id"]}
    response = await client.post("/xapi/statements", json=other, headers=xapi_headers())
    assert response.status_code == 409, response.text


async def test_an_upper_case_statement_id_is_woken_too(client: httpx.AsyncClient) -> None:
    """The id a request waits for and the one the persister forwards are the same string
    however the client wrote it (a UUID's case is not significant)."""
    sent = statement()
    sent["id"] = sent["id"].upper()
    response = await asyncio.wait_for(
        client.post("/xapi/statements", json=sent, headers=xapi_headers()), WITHIN
    )
    assert response.status_code == 200, response.text
    assert response.json() == [sent["id"].lower()]
