"""The first credential outside `lrs serve`: `lrs api` creates the one LRS_BOOTSTRAP_KEY /
LRS_BOOTSTRAP_SECRET fix (as docker-compose.yml sets them), once, even when several API
instances start together, and creates none when they are not set (lrs/entry/bootstrap.py)."""

from __future__ import annotations

import asyncio

import pytest

from lrs.adapters.mongo_store import MongoCredentialStore, connect
from lrs.entry.bootstrap import ensure_first_credential
from lrs.entry.cli import _ensure_fixed_credential
from lrs.ports.credentials import Credential
from lrs.security import verify_secret
from lrs.services.auth import BOOTSTRAP_SCOPES
from lrs.settings import LrsSettings
from tests.conftest import Infra, unique_name

pytestmark = pytest.mark.integration


def settings_for(infra: Infra, **overrides: str) -> LrsSettings:
    return LrsSettings(
        mongodb_uri=infra.mongodb_uri, mongodb_database=unique_name("lrs_boot_"), **overrides
    )


async def stored_credentials(settings: LrsSettings) -> list[Credential]:
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        store = MongoCredentialStore(client[settings.mongodb_database])
        return await store.list_credentials(None)
    finally:
        await client.close()


async def test_api_creates_the_fixed_credential_once(infra: Infra) -> None:
    settings = settings_for(infra, bootstrap_key="ops", bootstrap_secret="s3cret-for-ops")
    created = await asyncio.gather(
        *(ensure_first_credential(settings, "lrs api") for _ in range(3))
    )
    assert [c for c in created if c is not None] == [("ops", "s3cret-for-ops")]
    [credential] = await stored_credentials(settings)
    assert credential.key == "ops"
    assert credential.scopes == BOOTSTRAP_SCOPES
    assert credential.tenant == settings.default_tenant
    assert verify_secret("s3cret-for-ops", credential.secret_hash)
    assert await ensure_first_credential(settings, "lrs api") is None


async def test_api_creates_none_without_a_fixed_secret(infra: Infra) -> None:
    settings = settings_for(infra, bootstrap_key="ops")
    await asyncio.to_thread(_ensure_fixed_credential, settings)
    assert await stored_credentials(settings) == []
