"""The persister's independent store round trips of a batch go at once: the erased-agents,
watermark and held-id reads, then the Activity and Agent merges. Each fake below waits at a
barrier that opens only when all of its group are in flight, so a handler that awaited them
one after another would time out at the first."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from consumers.persist import PersistHandler
from lrs.adapters.memory import InMemoryStatementStore
from lrs.adapters.memory_definitions import InMemoryActivityStore, InMemoryAgentStore
from lrs.codec import encode_accepted
from lrs.ports.statements import AcceptedStatement
from lrs.progress import learner_id
from tests.support.factories import statement
from tests.support.records import StubRecord

TOPIC = "xapi.statements"
STORED = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
AUTHORITY = {"objectType": "Agent", "mbox": "mailto:lms@example.org"}
PATIENCE_SECONDS = 5  # how long one waits for the others; serial awaits never meet at all


async def meet(barrier: asyncio.Barrier) -> None:
    async with asyncio.timeout(PATIENCE_SECONDS):
        await barrier.wait()


class ReadsAtOnceStore(InMemoryStatementStore):
    def __init__(self, reads: asyncio.Barrier) -> None:
        super().__init__()
        self._reads = reads

    async def watermarks(self, topic: str) -> dict[int, datetime]:
        await meet(self._reads)
        return await super().watermarks(topic)

    async def get_many(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        await meet(self._reads)
        return await super().get_many(tenant, ids)


class ReadsAtOnceErased:
    def __init__(self, reads: asyncio.Barrier) -> None:
        self._reads = reads

    async def erased_at(self, tenant: str, hashes: Sequence[str]) -> dict[str, datetime]:
        await meet(self._reads)
        return {}


class MergesAtOnceActivities(InMemoryActivityStore):
    def __init__(self, merges: asyncio.Barrier) -> None:
        super().__init__()
        self._merges = merges

    async def merge(self, records: Sequence[AcceptedStatement]) -> None:
        await meet(self._merges)
        await super().merge(records)


class MergesAtOnceAgents(InMemoryAgentStore):
    def __init__(self, merges: asyncio.Barrier) -> None:
        super().__init__()
        self._merges = merges

    async def merge(
        self, records: Sequence[AcceptedStatement], erased: Collection[tuple[str, str]] = ()
    ) -> None:
        await meet(self._merges)
        await super().merge(records, erased)


def record(full: dict[str, Any]) -> StubRecord:
    accepted = AcceptedStatement("acme", full, STORED, learner_id(full))
    message = encode_accepted(accepted, source="/test")
    return StubRecord(TOPIC, 0, 0, message.key, message.value, list(message.headers))


async def test_a_batch_reads_and_merges_without_waiting_for_each_read_in_turn() -> None:
    reads, merges = asyncio.Barrier(3), asyncio.Barrier(2)
    store = ReadsAtOnceStore(reads)
    handler = PersistHandler(
        store,
        MergesAtOnceActivities(merges),
        MergesAtOnceAgents(merges),
        erased=ReadsAtOnceErased(reads),
    )
    full = {**statement(), "stored": STORED.isoformat(), "authority": AUTHORITY, "version": "1.0.0"}
    outcome = await handler.handle([record(full)])
    assert len(outcome.outputs) == 1
    assert not outcome.poison
    held = await InMemoryStatementStore.get_many(store, "acme", [full["id"]])  # no barrier
    assert list(held) == [full["id"]]
