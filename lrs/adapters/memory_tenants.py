"""In-memory TenantStore: the reference fake of `lrs.ports.tenants.TenantStore` (held to the
MongoDB one by tests/contract/test_tenant_store.py), and the default of `lrs.api.app.Adapters`
(no tenant records: every tenant is active)."""

from __future__ import annotations

import dataclasses

from lrs.ports.tenants import Tenant


class InMemoryTenantStore:
    def __init__(self) -> None:
        self._tenants: dict[str, Tenant] = {}

    async def get(self, name: str) -> Tenant | None:
        return self._tenants.get(name)

    async def insert(self, tenant: Tenant) -> bool:
        if tenant.name in self._tenants:
            return False
        self._tenants[tenant.name] = tenant
        return True

    async def list_tenants(self) -> list[Tenant]:
        return [self._tenants[name] for name in sorted(self._tenants)]

    async def set_disabled(self, name: str, disabled: bool) -> Tenant | None:
        found = self._tenants.get(name)
        if found is None:
            return None
        self._tenants[name] = dataclasses.replace(found, disabled=disabled)
        return self._tenants[name]
