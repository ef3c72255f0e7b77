"""Who may call: credentials and the principal a request is made as."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Credential:
    """A key/secret pair of one tenant. Only a salted hash of the secret is kept."""

    key: str
    secret_hash: str
    tenant: str
    scopes: frozenset[str]
    authority: Mapping[str, Any]
    created_at: datetime
    expires_at: datetime | None = None
    revoked: bool = False
    label: str = ""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the tenant whose data they reach, their scopes and statement authority."""

    tenant: str
    key: str
    scopes: frozenset[str]
    authority: Mapping[str, Any]


class CredentialStore(Protocol):
    async def find(self, key: str) -> Credential | None: ...

    async def insert(self, credential: Credential) -> None: ...

    async def count(self) -> int: ...


class CredentialRegistry(CredentialStore, Protocol):
    """Credential administration on top of lookup (the admin API and `lrs credentials`)."""

    async def list_credentials(self, tenant: str | None) -> list[Credential]:
        """Every credential (of one tenant, when given), revoked ones included."""
        ...

    async def revoke(self, key: str) -> Credential | None:
        """Mark a credential revoked; the updated credential, or None when the key is unknown."""
        ...
