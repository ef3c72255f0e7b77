"""Wrong secrets over HTTP (issue 10 defect 5): throttled by client address and key together,
429 with Retry-After and the error envelope for the throttled pair, and the owner's right
secret never refused. The app runs on the in-memory adapters; each httpx client is one
client address (the ASGI `client` the server would pass on)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest

from lrs.adapters.memory import InMemoryCredentialStore
from lrs.api.app import create_app
from lrs.ports.credentials import Credential
from lrs.security import hash_secret
from lrs.services.auth import credential_authority
from lrs.settings import LrsSettings
from tests.support.adapters import app_adapters

KEY, SECRET = "owner-key", "the-owners-secret"
URL = "/xapi/activities?activityId=https%3A%2F%2Fexample.org%2Fa"
BUDGET = 10
ATTACKER, OWNER, NEIGHBOUR = "127.0.0.2", "127.0.0.3", "127.0.0.4"
Clients = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


def headers(secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{KEY}:{secret}".encode()).decode()
    return {"X-Experience-API-Version": "1.0.3", "Authorization": f"Basic {token}"}


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    """Clients of one app (settings as deployed by default), one per address."""
    credentials = InMemoryCredentialStore()
    await credentials.insert(
        Credential(
            key=KEY,
            secret_hash=hash_secret(SECRET),
            tenant="acme",
            scopes=frozenset({"all"}),
            authority=credential_authority(KEY, "http://testserver"),
            created_at=datetime.now(UTC),
        )
    )
    app = create_app(LrsSettings(), adapters=app_adapters(credentials=credentials))

    @asynccontextmanager
    async def client(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(address, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http

    async with app.router.lifespan_context(app):
        yield client


async def guess(http: httpx.AsyncClient, attempts: int, prefix: str = "guess") -> list[int]:
    return [
        (await http.get(URL, headers=headers(f"{prefix}-{n}"))).status_code for n in range(attempts)
    ]


async def test_wrong_secrets_from_one_address_do_not_lock_the_owner_out(clients: Clients) -> None:
    """The reproduction: ten wrong secrets in 10 s for a key anyone can read in a statement's
    authority, then the owner's right secret (never used before) must still work."""
    async with clients(ATTACKER) as attacker, clients(OWNER) as owner:
        await guess(attacker, BUDGET + 5)
        answer = await owner.get(URL, headers=headers(SECRET))
        assert answer.status_code == 200, answer.text


async def test_the_throttled_pair_gets_429_with_retry_after_in_the_envelope(
    clients: Clients,
) -> None:
    async with clients(ATTACKER) as attacker, clients(NEIGHBOUR) as neighbour:
        assert await guess(attacker, BUDGET) == [401] * BUDGET
        throttled = await attacker.get(URL, headers=headers("one-more"))
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["Retry-After"]) <= 10
        assert throttled.headers["X-Experience-API-Version"]
        error = throttled.json()["error"]
        assert error["code"] == "too_many_requests"
        assert "retry" in error["message"]
        assert error["request_id"]
        assert await guess(neighbour, 1, "typo") == [401]  # another address: not throttled


async def test_the_right_secret_works_from_the_throttled_address_once_verified(
    clients: Clients,
) -> None:
    async with clients(ATTACKER) as shared, clients(OWNER) as owner:
        assert (await owner.get(URL, headers=headers(SECRET))).status_code == 200
        await guess(shared, BUDGET + 1)
        assert (await shared.get(URL, headers=headers(SECRET))).status_code == 200
        assert (await shared.get(URL, headers=headers("still-wrong"))).status_code == 429
