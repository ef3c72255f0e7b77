"""Tenants (the LRS "stores" of organisations)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Tenant:
    """An LRS "store" of one organisation. A disabled tenant's credentials are refused (403)."""

    name: str
    created_at: datetime
    label: str = ""
    disabled: bool = False


class TenantStore(Protocol):
    """The tenants. A tenant with no record is active (stores created before tenants existed)."""

    async def get(self, name: str) -> Tenant | None: ...

    async def insert(self, tenant: Tenant) -> bool:
        """False (nothing written) when a tenant of that name exists."""
        ...

    async def list_tenants(self) -> list[Tenant]: ...

    async def set_disabled(self, name: str, disabled: bool) -> Tenant | None:
        """The updated tenant, or None when it does not exist."""
        ...
