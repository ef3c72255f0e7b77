"""The CredentialRegistry contract (lrs.ports.credentials), run against the in-memory reference
and the MongoDB adapter on the real (embedded) store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from lrs.adapters.memory import InMemoryCredentialStore
from lrs.adapters.mongo_store import MongoCredentialStore
from lrs.ports.credentials import Credential, CredentialRegistry
from tests.contract.conftest import KINDS, fresh_database
from tests.support.factories import agent

CREATED = datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)  # milliseconds, as stores keep


def credential(key: str, tenant: str = "acme", **extra: object) -> Credential:
    fields: dict[str, object] = {
        "key": key,
        "secret_hash": f"hash-of-{key}",
        "tenant": tenant,
        "scopes": frozenset({"statements/write", "statements/read/mine"}),
        "authority": {"objectType": "Agent", **agent(key)},
        "created_at": CREATED,
        **extra,
    }
    return Credential(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CredentialRegistry]:
    if request.param == "memory":
        yield InMemoryCredentialStore()
        return
    async with fresh_database(request) as db:
        yield MongoCredentialStore(db)


async def test_a_credential_reads_back_whole(store: CredentialRegistry) -> None:
    full = credential("k1", expires_at=CREATED + timedelta(days=30), revoked=True, label="the LMS")
    plain = credential("k2")
    await store.insert(full)
    await store.insert(plain)
    assert await store.find("k1") == full
    assert await store.find("k2") == plain
    assert await store.find("k3") is None
    assert await store.count() == 2


async def test_an_existing_key_is_refused_and_kept(store: CredentialRegistry) -> None:
    await store.insert(credential("k1", label="first"))
    refused = False
    try:
        await store.insert(credential("k1", tenant="other", label="second"))
    except Exception:  # each store its own error (DuplicateKeyError on MongoDB)
        refused = True
    assert refused
    assert await store.find("k1") == credential("k1", label="first")
    assert await store.count() == 1


async def test_listing_is_by_key_and_per_tenant(store: CredentialRegistry) -> None:
    for key, tenant in (("k3", "acme"), ("k1", "other"), ("k2", "acme")):
        await store.insert(credential(key, tenant))
    assert [c.key for c in await store.list_credentials(None)] == ["k1", "k2", "k3"]
    assert [c.key for c in await store.list_credentials("acme")] == ["k2", "k3"]
    assert await store.list_credentials("nobody") == []


async def test_revoking_returns_the_revoked_credential(store: CredentialRegistry) -> None:
    await store.insert(credential("k1"))
    revoked = await store.revoke("k1")
    assert revoked == credential("k1", revoked=True)
    assert await store.find("k1") == revoked
    assert [c.revoked for c in await store.list_credentials("acme")] == [True]
    assert await store.revoke("unknown") is None
    with contextlib.suppress(Exception):
        await store.revoke("k1")  # again: still revoked
    assert await store.find("k1") == revoked
