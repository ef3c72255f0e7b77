"""An API process starting before its store answers waits for it (LRS_STARTUP_WAIT_SECONDS)
instead of failing at the client's 5 s server selection: a store still starting, or busy, does
not cost a restart. Real broker; a real store started on its port only once the API waits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lrs.entry.embedded import free_port, start_and_wait, store_child
from lrs.settings import LrsSettings
from lrs.wiring.api import connected_adapters
from tests.conftest import Infra, unique_name
from tests.support.stack import make_settings

pytestmark = pytest.mark.integration
SELECTION_SECONDS = 5.0  # the client's own server selection timeout (mongo_store.connect)


async def start_api(settings: LrsSettings, started: asyncio.Event, done: asyncio.Event) -> None:
    async with connected_adapters(settings) as adapters:
        await adapters.store.ping()
        started.set()
        await done.wait()


async def test_the_api_waits_for_a_store_that_answers_late(infra: Infra, tmp_path: Path) -> None:
    port = free_port()
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    settings = make_settings(
        infra.kafka_bootstrap, uri, unique_name("late"), startup_wait_seconds=60
    )
    started, done = asyncio.Event(), asyncio.Event()
    api = asyncio.create_task(start_api(settings, started, done))
    store = store_child(port, tmp_path / "store", tmp_path / "store.log")
    try:
        # longer than one server selection: the API must still be waiting, not failed
        finished, _ = await asyncio.wait({api}, timeout=SELECTION_SECONDS + 1.5)
        assert not finished, api.exception()
        assert not started.is_set()
        await asyncio.to_thread(start_and_wait, store, port)
        await asyncio.wait_for(started.wait(), 60)
    finally:
        done.set()
        await asyncio.wait_for(asyncio.gather(api, return_exceptions=True), 30)
        store.stop()
