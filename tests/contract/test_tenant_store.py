"""The TenantStore contract (lrs.ports.tenants), run against the in-memory reference and the
MongoDB adapter on the real (embedded) store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from lrs.adapters.memory_tenants import InMemoryTenantStore
from lrs.adapters.mongo_tenants import MongoTenantStore
from lrs.ports.tenants import Tenant, TenantStore
from tests.contract.conftest import KINDS, fresh_database

CREATED = datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)  # milliseconds, as stores keep


@pytest.fixture(params=KINDS)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[TenantStore]:
    if request.param == "memory":
        yield InMemoryTenantStore()
        return
    async with fresh_database(request) as db:
        yield MongoTenantStore(db)


async def test_an_inserted_tenant_reads_back_whole(store: TenantStore) -> None:
    tenant = Tenant("acme", CREATED, label="Acme Corp", disabled=True)
    assert await store.insert(tenant)
    assert await store.get("acme") == tenant
    assert await store.get("other") is None


async def test_a_second_insert_of_a_name_changes_nothing(store: TenantStore) -> None:
    assert await store.insert(Tenant("acme", CREATED, label="first"))
    assert not await store.insert(Tenant("acme", CREATED, label="second", disabled=True))
    assert await store.get("acme") == Tenant("acme", CREATED, label="first")


async def test_tenants_are_listed_by_name(store: TenantStore) -> None:
    for name in ("zeta", "acme", "m-corp"):
        await store.insert(Tenant(name, CREATED))
    assert [t.name for t in await store.list_tenants()] == ["acme", "m-corp", "zeta"]


async def test_disabling_returns_the_updated_tenant_and_unknown_names_none(
    store: TenantStore,
) -> None:
    await store.insert(Tenant("acme", CREATED, label="Acme"))
    disabled = await store.set_disabled("acme", True)
    assert disabled == Tenant("acme", CREATED, label="Acme", disabled=True)
    assert await store.get("acme") == disabled
    assert await store.set_disabled("acme", False) == Tenant("acme", CREATED, label="Acme")
    assert await store.set_disabled("nobody", True) is None
    assert await store.get("nobody") is None
