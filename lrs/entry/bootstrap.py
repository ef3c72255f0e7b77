"""The first credential, with every scope and `admin`, in the default tenant.

`lrs serve` makes sure it exists at every start: on an empty store it creates one with a random
key and secret (printed once), and whenever `LRS_BOOTSTRAP_KEY` and `LRS_BOOTSTRAP_SECRET` fix
them it creates that key if it does not exist yet. `lrs api` does the latter only (several API
instances must not each make a random one), so that a deployment such as docker-compose.yml
has a first credential to create the others with (docs/decisions/0005).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from lrs.adapters.mongo_store import MongoCredentialStore, connect
from lrs.adapters.mongo_tenants import MongoTenantStore
from lrs.services.admin import AdminDeps, ensure_tenant
from lrs.services.auth import ensure_bootstrap_credential
from lrs.settings import LrsSettings


def fixed_by_settings(settings: LrsSettings) -> bool:
    """Whether the operator chose the first credential's key and secret."""
    return bool(settings.bootstrap_key and settings.bootstrap_secret)


async def ensure_first_credential(settings: LrsSettings, created_by: str) -> tuple[str, str] | None:
    """Create the default tenant and the first credential when due; (key, secret) when one was
    created now, None when it existed (or another process created it at the same moment)."""
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        db = client[settings.mongodb_database]
        credentials = MongoCredentialStore(db)
        deps = AdminDeps(MongoTenantStore(db), credentials, lambda: datetime.now(UTC), "")
        await ensure_tenant(deps, settings.default_tenant, f"created by {created_by}")
        fixed = fixed_by_settings(settings)
        return await ensure_bootstrap_credential(
            credentials,
            tenant=settings.default_tenant,
            base_url=settings.base_url(),
            now=datetime.now(UTC),
            key=settings.bootstrap_key,
            secret=settings.bootstrap_secret,
            only_if_empty=not fixed,
        )
    except DuplicateKeyError:
        return None
    finally:
        await client.close()
