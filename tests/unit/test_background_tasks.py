"""The API process's two background tasks survive what used to end them silently: the
statement watcher an event it cannot read, the progress feed an error that is no KafkaError.
Each is restarted (lrs.background) and goes on working; the feed resumes where it left off, so
no change is lost or delivered twice. Fakes stand for the change stream and the Kafka consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from pymongo.errors import OperationFailure

from lrs import metrics
from lrs.adapters import kafka_progress_feed
from lrs.adapters.kafka_progress_feed import KafkaProgressFeed
from lrs.adapters.mongo_watch import InsertWatcher
from lrs.services.progress_hub import Change
from lrs.topics import KEY_SEPARATOR
from tests.support.polling import eventually


def failures(task: str, cause: str) -> float:
    value = metrics.BACKGROUND_TASK_FAILURES.labels(task, cause)._value.get()
    assert isinstance(value, float)
    return value


class FakeStream:
    """A change stream answering `events` one by one, then only empty answers (as PyMongo's
    `try_next` returns None when a getMore brings nothing)."""

    alive = True

    def __init__(self, events: Iterable[dict[str, Any]]) -> None:
        self._events = list(events)

    async def __aenter__(self) -> FakeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def try_next(self) -> dict[str, Any] | None:
        if self._events:
            return self._events.pop(0)
        return None


@dataclass
class FakeCollection:
    """Each watch() opens the next scripted stream."""

    streams: list[list[dict[str, Any]]]
    opened: int = 0

    async def watch(self, pipeline: list[dict[str, Any]]) -> FakeStream:
        self.opened += 1
        return FakeStream(self.streams.pop(0) if self.streams else [])


async def test_the_watcher_survives_an_event_it_cannot_read() -> None:
    unreadable: dict[str, Any] = {"operationType": "insert"}  # no documentKey: a KeyError
    collection = FakeCollection([[unreadable], [{"documentKey": {"_id": "t/s1"}}]])
    watcher = InsertWatcher(collection)  # type: ignore[arg-type]
    waiter = watcher.register(["t/s1"])
    before = failures("statement-insert-watcher", "unexpected")
    watcher.start()
    try:

        async def pending() -> set[str]:
            return waiter.pending

        await eventually(pending, set().__eq__, within=10, every=0.01)  # seen on the 2nd stream
    finally:
        await watcher.stop()
    assert collection.opened == 2
    assert failures("statement-insert-watcher", "unexpected") - before == 1


async def test_a_waiter_registered_after_its_insert_was_seen_is_done_at_once() -> None:
    """The API registers after the broker's acknowledgement; the persister may have inserted
    the statements (and the stream shown it) in between: that waiter must not wait for an
    event that has passed (wait_stored would then poll instead of being woken)."""
    events = [{"documentKey": {"_id": "t/early"}}, {"documentKey": {"_id": "t/mark"}}]
    watcher = InsertWatcher(FakeCollection([events]))  # type: ignore[arg-type]
    mark = watcher.register(["t/mark"])
    watcher.start()
    try:
        await asyncio.wait_for(mark.done.wait(), 10)
        late = watcher.register(["t/early"])
        assert late.done.is_set()
        assert not watcher.register(["t/early", "t/never"]).done.is_set()
    finally:
        await watcher.stop()


async def test_opening_the_stream_wakes_every_waiter_to_read_the_store() -> None:
    """Inserts made while the stream was closed are never seen on it: a waiter registered
    then must read the store when the stream opens, not wait for its slow safety poll."""
    watcher = InsertWatcher(FakeCollection([[]]))  # type: ignore[arg-type]
    waiter = watcher.register(["t/inserted-while-closed"])
    watcher.start()
    try:
        await asyncio.wait_for(waiter.done.wait(), 10)
        assert waiter.pending == {"t/inserted-while-closed"}  # woken, not seen inserted
    finally:
        await watcher.stop()


class NoChangeStreams:
    """A standalone mongod: change streams are refused."""

    opened = 0

    async def watch(self, pipeline: list[dict[str, Any]]) -> FakeStream:
        self.opened += 1
        raise OperationFailure("only supported on replica sets", 40573)


async def test_a_store_without_change_streams_leaves_the_watcher_up_and_waiters_polling() -> None:
    collection = NoChangeStreams()
    watcher = InsertWatcher(collection)  # type: ignore[arg-type]
    watcher.start()
    try:

        async def state() -> str:
            return watcher.task.status().state

        assert await eventually(state, "up".__eq__, within=10, every=0.01) == "up"
        assert watcher.task.status().restarts == 0
        assert collection.opened == 1
        assert not watcher.ready.is_set()  # no stream: waiters poll
    finally:
        await watcher.stop()


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class FakeBroker:
    """One partition's records; the next getmany of any consumer raises `fail_next`."""

    topic: str
    records: list[Rec] = field(default_factory=list)
    fail_next: Exception | None = None
    consumers: list[FakeConsumer] = field(default_factory=list)

    def append(self, entity: str, version: int) -> None:
        key = f"t{KEY_SEPARATOR}{entity}".encode()
        value = orjson.dumps({"version": version})
        self.records.append(Rec(self.topic, 0, len(self.records), key, value))

    def new_consumer(self, **config: object) -> FakeConsumer:
        consumer = FakeConsumer(self)
        self.consumers.append(consumer)
        return consumer


@dataclass
class FakeConsumer:
    """The part of AIOKafkaConsumer the feed uses, over one FakeBroker partition."""

    broker: FakeBroker
    assigned: list[TopicPartition] = field(default_factory=list)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    stopped: bool = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def topics(self) -> set[str]:
        return {self.broker.topic}

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0} if topic == self.broker.topic else None

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.assigned = list(partitions)

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    async def seek_to_end(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.positions[tp] = len(self.broker.records)

    async def seek_to_beginning(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.positions[tp] = 0

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp]

    async def getmany(self, timeout_ms: int = 0, max_records: int = 0) -> dict[Any, list[Rec]]:
        await asyncio.sleep(0.005)  # a fetch takes a little while (lets the test run)
        error, self.broker.fail_next = self.broker.fail_next, None
        if error is not None:
            raise error
        batches: dict[Any, list[Rec]] = {}
        for tp in self.assigned:
            fresh = self.broker.records[self.positions[tp] :]
            if fresh:
                batches[tp] = fresh
                self.positions[tp] += len(fresh)
        return batches


@dataclass
class RecordingHub:
    changes: list[Change] = field(default_factory=list)

    def publish(self, change: Change) -> None:
        self.changes.append(change)


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    fake = FakeBroker("p.learner")
    monkeypatch.setattr(kafka_progress_feed, "AIOKafkaConsumer", fake.new_consumer)
    return fake


@pytest.fixture
async def feed(broker: FakeBroker) -> AsyncIterator[tuple[KafkaProgressFeed, RecordingHub]]:
    hub = RecordingHub()
    started = KafkaProgressFeed("unused:9092", {broker.topic: "learner"}, hub)  # type: ignore[arg-type]
    broker.append("old", 1)  # before the start: not delivered
    await started.start()
    yield started, hub
    await started.stop()


async def test_the_feed_resumes_where_it_left_off_after_an_unexpected_error(
    broker: FakeBroker, feed: tuple[KafkaProgressFeed, RecordingHub]
) -> None:
    _, hub = feed
    before = failures("progress-feed", "unexpected")

    async def delivered() -> list[str]:
        return [f"{c.entity}:{c.version}" for c in hub.changes]

    broker.append("a", 1)
    broker.append("b", 1)
    assert await eventually(delivered, lambda d: len(d) >= 2, within=10, every=0.01) == [
        "a:1",
        "b:1",
    ]
    broker.fail_next = RuntimeError("a bug, no KafkaError")
    broker.append("a", 2)
    assert await eventually(delivered, lambda d: len(d) >= 3, within=10, every=0.01) == [
        "a:1",
        "b:1",
        "a:2",
    ]
    assert failures("progress-feed", "unexpected") - before == 1
    assert len(broker.consumers) == 2
    assert broker.consumers[0].stopped
