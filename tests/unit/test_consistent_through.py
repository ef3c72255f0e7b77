"""Consistent-Through never passes the `stored` of an acknowledged statement (Communication
2.1.3, docs/decisions/0003), whatever step of the statement path is slow.

The clock is injected: the fakes advance it to stand for slow steps, so no test waits for real
time except the one with a produce that never ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lrs.adapters.memory import InMemoryAttachmentStore, InMemoryStatementStore
from lrs.codec import decode_accepted
from lrs.ports.credentials import Principal
from lrs.ports.events import OutgoingMessage
from lrs.services.ingest import IngestDeps, ingest
from lrs.services.read import EPOCH, ReadDeps, consistent_through
from lrs.xapi.attachments import AttachmentPayload
from lrs.xapi.errors import Unavailable
from tests.support.factories import agent, statement

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
MARGIN = timedelta(seconds=2)
TOPIC = "xapi.statements"
PRINCIPAL = Principal("acme", "key", frozenset({"all"}), agent("authority"))
JUST_BEFORE = timedelta(milliseconds=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class SlowStore(InMemoryStatementStore):
    """The existence read takes `seconds` (on the injected clock)."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__()
        self._clock, self._seconds = clock, seconds

    async def get_many(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self._clock.advance(self._seconds)
        return await super().get_many(tenant, ids)


class SlowAttachments(InMemoryAttachmentStore):
    def __init__(self, clock: Clock, seconds: float) -> None:
        super().__init__()
        self._clock, self._seconds = clock, seconds

    async def put_many(self, tenant: str, payloads: Sequence[AttachmentPayload]) -> None:
        self._clock.advance(self._seconds)
        await super().put_many(tenant, payloads)


class SlowBus:
    """Appends after `before` seconds and acknowledges `after` seconds later; records the
    instant each message reached the broker."""

    def __init__(self, clock: Clock, before: float, after: float) -> None:
        self._clock, self._before, self._after = clock, before, after
        self.appended: list[tuple[datetime, OutgoingMessage]] = []

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        self._clock.advance(self._before)
        self.appended += [(self._clock(), m) for m in messages]
        self._clock.advance(self._after)

    async def ping(self) -> None:
        return None


def deps_for(clock: Clock, store: InMemoryStatementStore, bus: Any, attachments: Any) -> IngestDeps:
    return IngestDeps(
        store=store,
        bus=bus,
        attachments=attachments,
        clock=clock,
        new_id=lambda: "00000000-0000-4000-8000-000000000000",
        topic=TOPIC,
        ack_mode="kafka",
        ack_timeout=15.0,
        produce_deadline=MARGIN,
    )


async def worst_case_consistent_through(
    store: InMemoryStatementStore, appended_at: datetime, now: datetime
) -> datetime:
    """The persister observed the partition's high watermark just before the statement was
    appended (so it does not cover it), and reports that observation."""
    await store.record_watermarks(TOPIC, {0: appended_at - JUST_BEFORE})
    read = ReadDeps(
        store, InMemoryAttachmentStore(), TOPIC, partitions=1, consistency_margin=MARGIN
    )
    return await consistent_through(read, now)


SLOW_STEPS = {
    "existence read": {"read": 3.0},
    "attachment write": {"attachments": 3.0},
    "every step a little": {"read": 0.9, "attachments": 0.9, "before": 0.9, "after": 0.9},
    "produce within the margin": {"before": 1.0, "after": 0.9},
    "produce past the margin": {"before": 3.0},
    "acknowledgement past the margin": {"after": 3.0},
}


@pytest.mark.parametrize("slow", SLOW_STEPS.values(), ids=SLOW_STEPS.keys())
async def test_consistent_through_never_passes_an_acknowledged_statement(
    slow: dict[str, float],
) -> None:
    clock = Clock()
    store = SlowStore(clock, slow.get("read", 0.0))
    bus = SlowBus(clock, slow.get("before", 0.0), slow.get("after", 0.0))
    deps = deps_for(clock, store, bus, SlowAttachments(clock, slow.get("attachments", 0.0)))
    try:
        await ingest([statement()], PRINCIPAL, "1.0.3", deps)
    except Unavailable:
        return  # refused: never acknowledged, so it makes no promise
    ((appended_at, message),) = bus.appended
    stored = decode_accepted(message.value, message.headers).stored
    through = await worst_case_consistent_through(store, appended_at, clock())
    assert through <= stored, f"Consistent-Through {through} passes stored {stored}"


async def test_stored_is_taken_after_the_reads_and_writes_before_producing() -> None:
    clock = Clock()
    store = SlowStore(clock, 3.0)
    bus = SlowBus(clock, 0.0, 0.0)
    deps = deps_for(clock, store, bus, SlowAttachments(clock, 4.0))
    await ingest([statement()], PRINCIPAL, "1.0.3", deps)
    ((_, message),) = bus.appended
    accepted = decode_accepted(message.value, message.headers)
    assert accepted.stored == T0 + timedelta(seconds=7)
    assert accepted.statement["stored"].startswith("2026-11-30T09:00:07")


@pytest.mark.parametrize(("before", "after"), [(3.0, 0.0), (1.5, 1.5)])
async def test_a_produce_acknowledged_past_the_margin_is_refused(
    before: float, after: float
) -> None:
    clock = Clock()
    store = InMemoryStatementStore()
    deps = deps_for(clock, store, SlowBus(clock, before, after), InMemoryAttachmentStore())
    with pytest.raises(Unavailable, match="retry with the same statement ids"):
        await ingest([statement()], PRINCIPAL, "1.0.3", deps)


class NeverAcknowledges:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            self.cancelled.set()

    async def ping(self) -> None:
        return None


async def test_a_produce_that_never_ends_is_refused_at_the_margin() -> None:
    bus = NeverAcknowledges()
    deps = IngestDeps(
        store=InMemoryStatementStore(),
        bus=bus,
        attachments=InMemoryAttachmentStore(),
        clock=lambda: datetime.now(UTC),
        new_id=lambda: "00000000-0000-4000-8000-000000000001",
        topic=TOPIC,
        ack_mode="kafka",
        ack_timeout=15.0,
        produce_deadline=timedelta(seconds=0.3),
    )
    with pytest.raises(Unavailable):
        await asyncio.wait_for(ingest([statement()], PRINCIPAL, "1.0.3", deps), 10)
    assert bus.cancelled.is_set()


class CountingStore(InMemoryStatementStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def consistent_through(self, topic: str, partitions: int) -> datetime | None:
        self.reads += 1
        return await super().consistent_through(topic, partitions)


async def test_the_watermark_is_read_again_only_after_its_reuse_and_never_when_missing() -> None:
    store = CountingStore()
    read = ReadDeps(
        store, InMemoryAttachmentStore(), TOPIC, partitions=1, consistency_margin=MARGIN
    )
    now = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert await consistent_through(read, now) == EPOCH  # no partition reported yet
    assert await consistent_through(read, now) == EPOCH
    assert store.reads == 2  # nothing kept while the watermark is missing
    first = now - timedelta(seconds=10)
    await store.record_watermarks(TOPIC, {0: first})
    assert await consistent_through(read, now) == first - MARGIN
    await store.record_watermarks(TOPIC, {0: now})
    soon = now + read.watermark.reuse / 2
    assert await consistent_through(read, soon) == first - MARGIN  # older, still true
    assert store.reads == 3
    later = now + read.watermark.reuse
    assert await consistent_through(read, later) == now - MARGIN
    assert store.reads == 4
    assert await consistent_through(read, now - timedelta(seconds=1)) == now - MARGIN - timedelta(
        seconds=1
    )  # a clock set back reads again, and never answers past `now`
    assert store.reads == 5
