"""A credential revoked or a tenant disabled by any means stops working in every API process
within 5 s (issue 10), on the real MongoDB-wire store (SecantusDB).

Two API apps stand for two API processes: each has its own Authenticator and caches, both
read the same store. Changes are made by the real `lrs credentials revoke` / `lrs tenants
disable|enable` commands (separate processes, straight on the store) or by one app's admin API,
and the other app must answer accordingly within the deadline (polled, never slept).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from lrs.adapters.mongo_store import MongoCredentialStore, MongoStatementStore, connect
from lrs.adapters.mongo_tenants import MongoTenantStore
from lrs.api.app import create_app
from lrs.entry.embedded import free_port, start_and_wait, store_child
from lrs.ports.tenants import Tenant
from lrs.services import admin
from lrs.services.admin import AdminDeps, CredentialSpec
from lrs.services.auth import ensure_bootstrap_credential
from lrs.settings import LrsSettings
from tests.support.adapters import app_adapters
from tests.support.polling import eventually
from tests.support.stack import xapi_headers

pytestmark = pytest.mark.integration

DEADLINE = 5.0  # seconds, from the change's completion (issue 10)
ADMIN_KEY, ADMIN_SECRET = "admin-key", "admin-secret"
URL = "/xapi/activities?activityId=https%3A%2F%2Fexample.org%2Fa"


@dataclass(frozen=True)
class Caller:
    tenant: str
    key: str
    headers: dict[str, str]


@dataclass
class Deployment:
    uri: str
    database: str
    deps: AdminDeps
    api: list[httpx.AsyncClient]  # one client per API "process"

    async def new_tenant_credential(self) -> Caller:
        tenant = f"t{uuid.uuid4().hex[:8]}"
        await admin.create_tenant(self.deps, tenant)
        created, secret = await admin.create_credential(
            self.deps, CredentialSpec(tenant=tenant, scopes=frozenset({"all"}))
        )
        return Caller(tenant, created.key, xapi_headers(key=created.key, secret=secret))

    async def lrs_command(self, *argv: str) -> str:
        """Run `lrs ARGV...` as an operator would, on this deployment's store; its output
        (stdout, then stderr)."""
        env = {**os.environ, "LRS_MONGODB_URI": self.uri, "LRS_MONGODB_DATABASE": self.database}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lrs",
            *argv,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
        assert process.returncode == 0, err.decode()
        return out.decode() + err.decode()


@pytest.fixture(scope="module")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    child = store_child(port, tmp_path_factory.mktemp("auth-store"))
    start_and_wait(child, port)
    try:
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    finally:
        child.stop()


@asynccontextmanager
async def api_process(
    settings: LrsSettings, db: AsyncDatabase[dict[str, Any]]
) -> AsyncIterator[httpx.AsyncClient]:
    """One API app with its own caches, on the shared store."""
    adapters = app_adapters(
        store=MongoStatementStore(db),
        credentials=MongoCredentialStore(db),
        tenants=MongoTenantStore(db),
    )
    app = create_app(settings, adapters=adapters)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture(scope="module")
async def deployment(mongo_uri: str) -> AsyncIterator[Deployment]:
    database = f"auth_{uuid.uuid4().hex[:8]}"
    client = connect(mongo_uri)
    db = client[database]
    deps = AdminDeps(
        tenants=MongoTenantStore(db),
        credentials=MongoCredentialStore(db),
        clock=lambda: datetime.now(UTC),
        base_url="http://testserver",
    )
    await deps.tenants.insert(Tenant("default", datetime.now(UTC)))
    await ensure_bootstrap_credential(
        deps.credentials,
        tenant="default",
        base_url="http://testserver",
        now=datetime.now(UTC),
        key=ADMIN_KEY,
        secret=ADMIN_SECRET,
        only_if_empty=False,
    )
    settings = LrsSettings(mongodb_uri=mongo_uri, mongodb_database=database)
    try:
        async with AsyncExitStack() as stack:
            apis = [await stack.enter_async_context(api_process(settings, db)) for _ in range(2)]
            yield Deployment(mongo_uri, database, deps, apis)
    finally:
        await client.close()


async def statuses(deployment: Deployment, headers: dict[str, str]) -> list[int]:
    return [(await api.get(URL, headers=headers)).status_code for api in deployment.api]


async def within_deadline(deployment: Deployment, headers: dict[str, str], expected: int) -> None:
    """Every API process answers `expected` within DEADLINE seconds from now."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    answer = await eventually(
        lambda: statuses(deployment, headers),
        lambda got: got == [expected, expected],
        within=DEADLINE,
        every=0.05,
    )
    took = loop.time() - started
    assert answer == [expected, expected], f"still {answer} after {took:.1f} s"


async def test_a_credential_revoked_by_the_cli_stops_working_everywhere(
    deployment: Deployment,
) -> None:
    caller = await deployment.new_tenant_credential()
    assert await statuses(deployment, caller.headers) == [200, 200]  # cached in both
    output = await deployment.lrs_command("credentials", "revoke", caller.key)
    assert "revoked" in output
    assert "every API process sees this within 1 s" in output
    await within_deadline(deployment, caller.headers, 401)


async def test_a_tenant_disabled_through_one_process_is_refused_by_the_other(
    deployment: Deployment,
) -> None:
    caller = await deployment.new_tenant_credential()
    assert await statuses(deployment, caller.headers) == [200, 200]
    first, _ = deployment.api
    admin_headers = xapi_headers(key=ADMIN_KEY, secret=ADMIN_SECRET)
    disabled = await first.post(f"/admin/tenants/{caller.tenant}/disable", headers=admin_headers)
    assert disabled.status_code == 200, disabled.text
    await within_deadline(deployment, caller.headers, 403)


async def test_a_tenant_disabled_and_enabled_by_the_cli(deployment: Deployment) -> None:
    caller = await deployment.new_tenant_credential()
    assert await statuses(deployment, caller.headers) == [200, 200]
    assert "disabled" in await deployment.lrs_command("tenants", "disable", caller.tenant)
    await within_deadline(deployment, caller.headers, 403)
    assert "active" in await deployment.lrs_command("tenants", "enable", caller.tenant)
    await within_deadline(deployment, caller.headers, 200)
