"""The doorbell on the real broker and store (docs/decisions/0021, item 8): once the persister
and the API's feed doze (partitions paused, no fetch in flight; a doze of five minutes here),
a POST still answers at once: the API rings after producing, which wakes the persister and
its own feed. Without the ring, the persister would fetch the statement only after its doze,
and the request (its own reads of the store pushed out to a minute) would time out."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lrs.adapters import mongo_store
from lrs.adapters.doorbell import Doorbell, listening_doorbell
from lrs.settings import LrsSettings
from tests.conftest import Infra
from tests.support.factories import statement
from tests.support.polling import eventually
from tests.support.stack import (
    api_client,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
DOZE_SECONDS = 300.0  # far beyond the test: only a ring ends a doze
NO_OWN_READ_SECONDS = 60.0
WITHIN = 20.0


@pytest.fixture
def dozing(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many waits for a ring are in progress, per process name (`api`, `persist`)."""
    waiting: Counter[str] = Counter()
    original = Doorbell.wait

    async def counted(self: Doorbell, seconds: float) -> bool:
        name = self._path.name.split("-")[0]
        waiting[name] += 1
        try:
            return await original(self, seconds)
        finally:
            waiting[name] -= 1

    monkeypatch.setattr(Doorbell, "wait", counted)
    return waiting


@pytest.fixture
async def client(
    infra: Infra,
    module_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    dozing: Counter[str],  # counting from the first doze
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setattr(mongo_store, "STREAM_POLL", NO_OWN_READ_SECONDS)
    monkeypatch.setattr(mongo_store, "FALLBACK_POLL", NO_OWN_READ_SECONDS)
    settings: LrsSettings = make_settings(
        infra.kafka_bootstrap,
        infra.mongodb_uri,
        module_namespace,
        ack_timeout_seconds=NO_OWN_READ_SECONDS,
        doorbell_dir=tmp_path / "bells",
        consumer_idle_after_seconds=0.3,
        consumer_doze_seconds=DOZE_SECONDS,
    )
    await prepare_infra(settings)
    bell = listening_doorbell(settings.doorbell_dir, "persist", 0.3)
    assert bell is not None
    try:
        async with (
            running_persister(
                settings, bell=bell, idle_after_seconds=0.3, doze_seconds=DOZE_SECONDS
            ),
            api_client(settings) as client,
        ):
            yield client
    finally:
        bell.close()


async def both_dozing(dozing: Counter[str]) -> None:
    async def now() -> Counter[str]:
        return Counter(dozing)

    found = await eventually(now, lambda d: d["api"] > 0 and d["persist"] > 0, within=WITHIN)
    assert found["api"] > 0, found
    assert found["persist"] > 0, found


async def test_a_post_to_a_dozing_lrs_is_answered_at_once(
    client: httpx.AsyncClient, dozing: Counter[str]
) -> None:
    for batch in ([statement()], [statement() for _ in range(3)]):
        await both_dozing(dozing)
        response = await asyncio.wait_for(
            client.post("/xapi/statements", json=batch, headers=xapi_headers()), WITHIN
        )
        assert response.status_code == 200, response.text
        assert response.json() == [s["id"] for s in batch]
