"""Authentication benchmark: refusals are cheap, correct, and never a 500.

In-process (the API app on the in-memory adapters, driven through httpx's ASGI transport):

1. 10,000 requests with wrong, expired, revoked, unknown or malformed credentials (and valid
   credentials lacking the scope), 100 at a time; asserts every answer is 401, 403 or 429, none 500;
2. the per-request cost of `Authenticator.authenticate` alone, in µs: valid and cached, valid
   and uncached (the scrypt verification), and invalid (the same mix as 1).

Usage: python bench/auth.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lrs.adapters.memory import (
    InMemoryAttachmentStore,
    InMemoryCredentialStore,
    InMemoryStatementStore,
    persisting_bus,
)
from lrs.adapters.memory_definitions import InMemoryActivityStore, InMemoryAgentStore
from lrs.adapters.memory_goals import InMemoryGoalProgressReader, InMemoryGoalStore
from lrs.adapters.memory_organisation import InMemoryOrganisationProgress
from lrs.adapters.memory_teams import InMemoryProgressReader, InMemoryTeamRegistry
from lrs.adapters.memory_tenants import InMemoryTenantStore
from lrs.api.app import Adapters, create_app
from lrs.ports.credentials import Credential
from lrs.ports.tenants import Tenant
from lrs.security import hash_secret
from lrs.services.auth import Authenticator, credential_authority
from lrs.services.progress_hub import ProgressHub
from lrs.settings import LrsSettings
from lrs.xapi.errors import XapiError

NOW = datetime.now(UTC)
SECRET = "correct-horse-battery-staple"
URL = "/xapi/activities?activityId=https%3A%2F%2Fexample.org%2Fa"


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def credential(
    key: str,
    tenant: str = "acme",
    scopes: frozenset[str] = frozenset({"all"}),
    expires_at: datetime | None = None,
    revoked: bool = False,
) -> Credential:
    return Credential(
        key=key,
        secret_hash=hash_secret(SECRET),
        tenant=tenant,
        scopes=scopes,
        authority=credential_authority(key, "http://bench"),
        created_at=NOW - timedelta(days=1),
        expires_at=expires_at,
        revoked=revoked,
    )


async def stores() -> tuple[InMemoryCredentialStore, InMemoryTenantStore]:
    creds, tenants = InMemoryCredentialStore(), InMemoryTenantStore()
    await tenants.insert(Tenant("acme", NOW))
    await tenants.insert(Tenant("closed", NOW, disabled=True))
    for c in (
        credential("valid"),
        credential("expired", expires_at=NOW - timedelta(hours=1)),
        credential("revoked", revoked=True),
        credential("closed", tenant="closed"),
        credential("no-scope", scopes=frozenset({"state"})),
    ):
        await creds.insert(c)
    return creds, tenants


def bad_header(i: int) -> str | None:
    """Wrong, expired, revoked, unknown, malformed; valid-but-forbidden; disabled tenant."""
    kinds: list[Callable[[int], str | None]] = [
        lambda i: basic("valid", f"wrong-{i}"),
        lambda i: basic(f"unknown-{i}", SECRET),
        lambda i: basic("expired", SECRET),
        lambda i: basic("revoked", SECRET),
        lambda i: "Basic %%%not-base64",
        lambda i: "Basic " + base64.b64encode(b"no-colon").decode(),
        lambda i: None,
        lambda i: f"Digest {i}",
        lambda i: basic("no-scope", SECRET),
        lambda i: basic("closed", SECRET),
    ]
    return kinds[i % len(kinds)](i)


async def flood(requests: int) -> collections.Counter[int]:
    creds, tenants = await stores()
    store = InMemoryStatementStore()
    adapters = Adapters(
        store=store,
        bus=persisting_bus(store),
        credentials=creds,
        documents=None,  # type: ignore[arg-type]  # not reached by this route
        attachments=InMemoryAttachmentStore(),
        activities=InMemoryActivityStore(),
        agents=InMemoryAgentStore(),
        tenants=tenants,
        team_registry=InMemoryTeamRegistry(),
        progress=InMemoryProgressReader(),
        hub=ProgressHub(),
        goals=InMemoryGoalStore(),
        goal_progress=InMemoryGoalProgressReader(),
        organisation_progress=InMemoryOrganisationProgress(),
    )
    app = create_app(LrsSettings(), adapters=adapters)
    statuses: collections.Counter[int] = collections.Counter()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

            async def one(i: int) -> None:
                headers = {"X-Experience-API-Version": "1.0.3"}
                if (header := bad_header(i)) is not None:
                    headers["Authorization"] = header
                statuses[(await http.get(URL, headers=headers)).status_code] += 1

            started = time.perf_counter()
            for start in range(0, requests, 100):
                await asyncio.gather(*(one(i) for i in range(start, min(requests, start + 100))))
            elapsed = time.perf_counter() - started
    print(
        f"{requests} bad requests over HTTP (in-process): {elapsed:.2f} s,"
        f" {elapsed / requests * 1e6:.0f} µs per request end to end"
    )
    return statuses


async def cost(authn: Authenticator, headers: list[str | None], forget: bool) -> float:
    """Mean µs per authenticate() call (errors included)."""
    started = time.perf_counter()
    for header in headers:
        if forget:
            authn.forget()
        with contextlib.suppress(XapiError):  # refusals are what is measured
            await authn.authenticate(header)
    return (time.perf_counter() - started) / len(headers) * 1e6


async def costs(requests: int) -> None:
    creds, tenants = await stores()
    authn = Authenticator(creds, lambda: datetime.now(UTC), tenants)
    valid = basic("valid", SECRET)
    await authn.authenticate(valid)
    cached = await cost(authn, [valid] * requests, forget=False)
    uncached = await cost(authn, [valid] * 200, forget=True)
    invalid = await cost(authn, [bad_header(i) for i in range(requests)], forget=False)
    print("authentication cost per request (Authenticator.authenticate):")
    print(f"  valid, cached:    {cached:10.1f} µs")
    print(f"  valid, uncached:  {uncached:10.1f} µs  (scrypt N=2^12 r=8 in a worker thread)")
    print(f"  invalid (mix):    {invalid:10.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    args = parser.parse_args()
    statuses = asyncio.run(flood(args.requests))
    print("statuses:", dict(sorted(statuses.items())))
    assert set(statuses) <= {401, 403, 429}, f"unexpected statuses: {statuses}"
    assert sum(statuses.values()) == args.requests
    print(f"OK: all {args.requests} refused with 401/403/429, none with 500")
    asyncio.run(costs(args.requests))


if __name__ == "__main__":
    main()
