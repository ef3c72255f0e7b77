"""Administration of tenants and credentials, shared by the `/admin` API and the `lrs tenants` /
`lrs credentials` commands. A secret leaves the LRS once: in the result of `create_credential`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lrs.ports.credentials import Credential, CredentialRegistry
from lrs.ports.tenants import Tenant, TenantStore
from lrs.security import GRANTABLE_SCOPES, TENANT_NAME, hash_secret, new_key, new_secret
from lrs.services.auth import credential_authority
from lrs.xapi.errors import BadRequest, Conflict, NotFound
from lrs.xapi.index import authority_key


@dataclass(frozen=True)
class AdminDeps:
    tenants: TenantStore
    credentials: CredentialRegistry
    clock: Callable[[], datetime]
    base_url: str


@dataclass(frozen=True)
class CredentialSpec:
    """What a new credential should be; the key and secret are generated."""

    tenant: str
    scopes: frozenset[str]
    label: str = ""
    expires_at: datetime | None = None
    authority: Mapping[str, Any] | None = None


def check_tenant_name(name: str) -> None:
    if not TENANT_NAME.match(name):
        raise BadRequest(
            f"invalid tenant name {name!r}: 1-63 characters of a-z, 0-9, '-' and '_',"
            " starting with a letter or digit"
        )


async def create_tenant(deps: AdminDeps, name: str, label: str = "") -> Tenant:
    check_tenant_name(name)
    tenant = Tenant(name=name, created_at=deps.clock(), label=label)
    if not await deps.tenants.insert(tenant):
        raise Conflict(f"tenant {name!r} already exists")
    return tenant


async def ensure_tenant(deps: AdminDeps, name: str, label: str = "") -> None:
    """Create the tenant unless it exists (the bootstrap tenant of `lrs serve`)."""
    await deps.tenants.insert(Tenant(name=name, created_at=deps.clock(), label=label))


async def list_tenants(deps: AdminDeps) -> list[Tenant]:
    return await deps.tenants.list_tenants()


async def set_tenant_disabled(deps: AdminDeps, name: str, disabled: bool) -> Tenant:
    tenant = await deps.tenants.set_disabled(name, disabled)
    if tenant is None:
        raise NotFound(f"no tenant {name!r}")
    return tenant


def check_credential_spec(spec: CredentialSpec, now: datetime) -> None:
    unknown = spec.scopes - GRANTABLE_SCOPES
    if not spec.scopes or unknown:
        raise BadRequest(
            f"scopes must be a non-empty subset of {sorted(GRANTABLE_SCOPES)};"
            f" unknown: {sorted(unknown)}"
        )
    if spec.expires_at is not None and (spec.expires_at.tzinfo is None or spec.expires_at <= now):
        raise BadRequest("expires_at must be a future time with a time zone")
    if spec.authority is not None and authority_key(spec.authority) is None:
        raise BadRequest("authority must be an Agent with one identifier (Data 2.4.9)")


async def create_credential(deps: AdminDeps, spec: CredentialSpec) -> tuple[Credential, str]:
    """The new credential and its secret (shown once, stored only as a salted hash)."""
    now = deps.clock()
    check_credential_spec(spec, now)
    if await deps.tenants.get(spec.tenant) is None:
        raise NotFound(f"no tenant {spec.tenant!r}; create it first")
    key, secret = new_key(), new_secret()
    credential = Credential(
        key=key,
        secret_hash=await asyncio.to_thread(hash_secret, secret),
        tenant=spec.tenant,
        scopes=spec.scopes,
        authority=dict(spec.authority or credential_authority(key, deps.base_url)),
        created_at=now,
        expires_at=spec.expires_at,
        label=spec.label,
    )
    await deps.credentials.insert(credential)
    return credential, secret


async def list_credentials(deps: AdminDeps, tenant: str | None) -> list[Credential]:
    return await deps.credentials.list_credentials(tenant)


async def revoke_credential(deps: AdminDeps, key: str) -> Credential:
    credential = await deps.credentials.revoke(key)
    if credential is None:
        raise NotFound(f"no credential with key {key!r}")
    return credential
