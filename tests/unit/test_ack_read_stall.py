"""An acknowledgement wait whose read the store never answers reads again instead of hanging
(lrs.adapters.mongo_store.ACK_READ_SECONDS); seen once in CI as a POST waiting 600 s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from lrs.adapters import mongo_store
from lrs.adapters.mongo_store import MongoStatementStore


@pytest.fixture
async def store(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[MongoStatementStore]:
    """A statement store whose reads the tests replace; its client never connects."""
    monkeypatch.setattr(mongo_store, "ACK_READ_SECONDS", 0.05)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:1", connect=False
    )
    yield MongoStatementStore(client["unused"])
    await client.close()


async def test_a_read_the_store_does_not_answer_is_tried_again(
    store: MongoStatementStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []

    async def get_many(tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        reads.append(len(ids))
        if len(reads) == 1:
            await asyncio.Event().wait()  # never answered
        return {i: {"id": i} for i in ids}

    monkeypatch.setattr(store, "get_many", get_many)
    found = await asyncio.wait_for(store.wait_stored("t", ["a", "b"], within=5), 3)
    assert found == {"a": {"id": "a"}, "b": {"id": "b"}}
    assert len(reads) == 2


async def test_reads_that_never_answer_end_at_the_deadline_with_nothing_found(
    store: MongoStatementStore, monkeypatch: pytest.MonkeyPatch
) -> None:

    async def get_many(tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        await asyncio.Event().wait()
        return {}

    monkeypatch.setattr(store, "get_many", get_many)
    found = await asyncio.wait_for(store.wait_stored("t", ["a"], within=0.5), 3)
    assert found == {}
