"""A statement conflict is counted once per dead letter, however often the runner re-runs the
batch that holds it (isolation re-runs after another record's deterministic failure)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY

from consumers.persist import PersistHandler
from consumers.runner import Outcome, Record, Runner, RunnerConfig, send_to_dlq
from lrs.adapters.memory import InMemoryStatementStore
from lrs.adapters.memory_definitions import InMemoryActivityStore, InMemoryAgentStore
from tests.support.factories import statement
from tests.unit.consumers.test_persist_forward import record

Counts = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class FakeProducer:
    """Takes every record at once (what the runner needs of a producer here)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None]] = []

    async def send(self, topic: str, value: bytes | None, **_: Any) -> asyncio.Future[None]:
        self.sent.append((topic, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_and_wait(self, topic: str, value: bytes | None, **_: Any) -> None:
        self.sent.append((topic, value))


class FailsWithOffset:
    """The persist handler, failing deterministically on any batch holding a given offset."""

    def __init__(self, inner: PersistHandler, bad_offset: int) -> None:
        self.inner, self.bad_offset, self.runs = inner, bad_offset, 0
        self.name = inner.name

    async def handle(self, records: Sequence[Record]) -> Outcome:
        self.runs += 1
        outcome = await self.inner.handle(records)
        if any(r.offset == self.bad_offset for r in records):
            raise ValueError("a record no handler can process")
        return outcome

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        return None


def conflict_counts() -> Counts:
    """Every sample that counts statement conflicts: by name, or by error class."""
    found: Counts = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            labels = tuple(sorted(sample.labels.items()))
            if "conflict" in sample.name or ("error_class", "StatementConflict") in labels:
                found[(sample.name, labels)] = sample.value
    return found


async def test_a_conflict_isolated_from_a_failing_batch_is_counted_once() -> None:
    persist = PersistHandler(
        InMemoryStatementStore(), InMemoryActivityStore(), InMemoryAgentStore(), prefix="p."
    )
    original = statement(1)
    await persist.handle([record(original, 0)])
    conflict = record({**original, "actor": statement(2)["actor"]}, 1)
    batch = [conflict, record(statement(3), 2), record(statement(4), 3), record(statement(5), 4)]
    handler = FailsWithOffset(persist, bad_offset=4)
    runner = Runner(RunnerConfig("unused:9092", "xapi.statements", "g"), handler)
    producer = FakeProducer()
    before = conflict_counts()

    poison = await runner._handle(batch, producer)  # type: ignore[arg-type]
    for item in poison:
        await send_to_dlq(producer, item, handler.name)  # type: ignore[arg-type]

    assert sorted(p.record.offset for p in poison) == [1, 4]
    assert handler.runs > 2  # the conflict's record was handled more than once
    after = conflict_counts()
    deltas = {key: value - before.get(key, 0.0) for key, value in after.items()}
    assert {key: d for key, d in deltas.items() if d} == {
        (
            "lrs_dead_lettered_total",
            (
                ("consumer", "persist"),
                ("error_class", "StatementConflict"),
                ("topic", "xapi.statements"),
            ),
        ): 1.0
    }
