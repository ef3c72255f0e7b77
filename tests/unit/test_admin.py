"""Tenant and credential administration (lrs.services.admin) on the in-memory stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lrs.adapters.memory import InMemoryCredentialStore
from lrs.adapters.memory_tenants import InMemoryTenantStore
from lrs.security import verify_secret
from lrs.services import admin
from lrs.services.admin import AdminDeps, CredentialSpec
from lrs.xapi.errors import BadRequest, Conflict, NotFound

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def deps() -> AdminDeps:
    return AdminDeps(InMemoryTenantStore(), InMemoryCredentialStore(), lambda: NOW, "https://lrs")


async def test_tenants_are_created_listed_and_disabled() -> None:
    d = deps()
    await admin.create_tenant(d, "acme", "ACME Corp")
    await admin.create_tenant(d, "beta")
    with pytest.raises(Conflict):
        await admin.create_tenant(d, "acme")
    assert [t.name for t in await admin.list_tenants(d)] == ["acme", "beta"]
    assert (await admin.set_tenant_disabled(d, "acme", True)).disabled
    with pytest.raises(NotFound):
        await admin.set_tenant_disabled(d, "nope", True)


@pytest.mark.parametrize("name", ["", "Acme", "a/b", "-x", "x" * 64, "a b"])
async def test_tenant_names_are_restricted(name: str) -> None:
    with pytest.raises(BadRequest):
        await admin.create_tenant(deps(), name)


async def test_credentials_are_created_with_a_hashed_secret_listed_and_revoked() -> None:
    d = deps()
    await admin.create_tenant(d, "acme")
    spec = CredentialSpec("acme", frozenset({"statements/read"}), label="dashboard")
    credential, secret = await admin.create_credential(d, spec)
    assert len(secret) >= 40
    assert secret not in credential.secret_hash
    assert verify_secret(secret, credential.secret_hash)
    assert credential.authority == {
        "objectType": "Agent",
        "name": credential.key,
        "account": {"homePage": "https://lrs", "name": credential.key},
    }
    assert [c.key for c in await admin.list_credentials(d, "acme")] == [credential.key]
    assert await admin.list_credentials(d, "other") == []
    assert (await admin.revoke_credential(d, credential.key)).revoked
    with pytest.raises(NotFound):
        await admin.revoke_credential(d, "unknown")


@pytest.mark.parametrize(
    "spec",
    [
        CredentialSpec("acme", frozenset()),
        CredentialSpec("acme", frozenset({"statements/everything"})),
        CredentialSpec("acme", frozenset({"all"}), expires_at=NOW - timedelta(seconds=1)),
        CredentialSpec("acme", frozenset({"all"}), expires_at=datetime(2030, 1, 1)),  # noqa: DTZ001 (naive on purpose)
        CredentialSpec("acme", frozenset({"all"}), authority={"objectType": "Agent"}),
    ],
)
async def test_invalid_credential_specs_are_refused(spec: CredentialSpec) -> None:
    d = deps()
    await admin.create_tenant(d, "acme")
    with pytest.raises(BadRequest):
        await admin.create_credential(d, spec)


async def test_credentials_need_an_existing_tenant() -> None:
    with pytest.raises(NotFound, match="create it first"):
        await admin.create_credential(deps(), CredentialSpec("ghost", frozenset({"all"})))


async def test_a_given_authority_is_kept() -> None:
    d = deps()
    await admin.create_tenant(d, "acme")
    agent = {"objectType": "Agent", "mbox": "mailto:app@example.com"}
    credential, _ = await admin.create_credential(
        d, CredentialSpec("acme", frozenset({"all"}), authority=agent)
    )
    assert credential.authority == agent
