"""The API process's feed survives what used to end it silently (an error that is no
KafkaError): it is restarted (lrs.background) and resumes where it left off, so no change is
lost or delivered twice. It tells the requests waiting for their statements which are stored
(lrs.adapters.stored_waiters), whose rules are tested here too. A fake stands for the Kafka
consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition

from lrs import metrics
from lrs.adapters import kafka_progress_feed, stored_waiters
from lrs.adapters.kafka_progress_feed import KafkaProgressFeed
from lrs.adapters.stored_waiters import StoredWaiters
from lrs.codec import encode_accepted
from lrs.ports.statements import AcceptedStatement
from lrs.services.progress_hub import KINDS, Change, Kind
from lrs.topics import (
    HEADER_CE_ID,
    HEADER_CE_TYPE,
    KEY_SEPARATOR,
    LEARNER_REFRESH_TYPE,
    STATEMENT_ACCEPTED_TYPE,
)
from tests.support.polling import eventually


def failures(task: str, cause: str) -> float:
    value = metrics.BACKGROUND_TASK_FAILURES.labels(task, cause)._value.get()
    assert isinstance(value, float)
    return value


async def test_a_waiter_registered_after_its_statement_was_seen_stored_is_done_at_once() -> None:
    """The API registers after the broker's acknowledgement; the persister may have stored
    the statements (and the feed seen them) in between: that waiter must not wait for an
    event that has passed (wait_stored would then poll instead of being woken)."""
    waiters = StoredWaiters()
    waiters.stored("t/early")
    assert waiters.register(["t/early"]).done.is_set()
    later = waiters.register(["t/early", "t/never"])
    assert not later.done.is_set()
    assert later.pending == {"t/never"}


async def test_a_waiter_is_woken_when_the_last_of_its_ids_is_seen_stored() -> None:
    waiters = StoredWaiters()
    waiter = waiters.register(["t/a", "t/b"])
    waiters.stored("t/a")
    assert not waiter.done.is_set()
    waiters.stored("t/b")
    assert waiter.done.is_set()
    assert not waiter.pending
    waiters.unregister(waiter, ["t/a", "t/b"])
    assert not waiters._waiters  # nothing left behind


async def test_a_starting_feed_wakes_every_waiter_to_read_the_store() -> None:
    """What was forwarded while no feed ran is never seen: a waiter registered then must read
    the store when a feed starts, not wait for its slow safety read."""
    waiters = StoredWaiters()
    waiter = waiters.register(["t/stored-while-down"])
    waiters.feed_up()
    assert waiters.ready.is_set()
    assert waiter.done.is_set()
    assert waiter.pending == {"t/stored-while-down"}  # woken, not seen stored
    waiters.feed_down()
    assert not waiters.ready.is_set()


def accepted_value(statement_id: str) -> bytes:
    full = {
        "id": statement_id,
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "http://example.com/a"},
    }
    record = AcceptedStatement("t", full, datetime(2026, 12, 1, tzinfo=UTC), "mbox:a")
    return encode_accepted(record, source="/test").value


async def test_a_waiter_is_handed_its_statements_as_the_persister_forwarded_them() -> None:
    """The record on `lrs.statements.stored` is the statement as stored: the request is
    answered from it, without a read of the store (MongoStatementStore.wait_stored)."""
    waiters = StoredWaiters()
    waiter = waiters.register(["t/s1", "t/s2"])
    waiters.stored("t/s1", accepted_value("s1"))
    waiters.stored("t/s2", accepted_value("s2"))
    assert waiter.done.is_set()
    assert {i: s["id"] for i, s in waiter.statements.items()} == {"s1": "s1", "s2": "s2"}
    assert waiter.statements["s1"]["object"] == {"id": "http://example.com/a"}


async def test_a_record_that_does_not_decode_wakes_the_waiter_without_its_statement() -> None:
    """Woken all the same: the waiter then reads the store for what it was not handed."""
    waiters = StoredWaiters()
    waiter = waiters.register(["t/s1"])
    waiters.stored("t/s1", b"not json")
    assert waiter.done.is_set()
    assert not waiter.pending
    assert waiter.statements == {}
    late = waiters.register(["t/s1"])  # seen before it registered: done, nothing handed
    assert late.done.is_set()
    assert late.statements == {}


def test_the_oldest_remembered_ids_are_forgotten_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stored_waiters, "RECENT_IDS", 2)
    waiters = StoredWaiters()
    for doc_id in ("t/1", "t/2", "t/3"):
        waiters.stored(doc_id)
    assert not waiters.register(["t/1"]).done.is_set()
    assert waiters.register(["t/2", "t/3"]).done.is_set()


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


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

    def append_stored(self, event_id: str, kind: str = STATEMENT_ACCEPTED_TYPE) -> None:
        headers = [(HEADER_CE_TYPE, kind.encode()), (HEADER_CE_ID, event_id.encode())]
        self.records.append(Rec(self.topic, 0, len(self.records), b"k", b"{}", headers))

    def new_consumer(self, **config: object) -> FakeConsumer:
        consumer = FakeConsumer(self)
        self.consumers.append(consumer)
        return consumer


class FakeClient:
    """The part of aiokafka's client lrs.kafka_metadata uses: the metadata is always known."""

    async def add_topic(self, topic: str) -> bool:
        return True

    async def force_metadata_update(self) -> bool:
        return True


@dataclass
class FakeConsumer:
    """The part of AIOKafkaConsumer the feed uses, over one FakeBroker partition."""

    broker: FakeBroker
    assigned: list[TopicPartition] = field(default_factory=list)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    stopped: bool = False
    _client: FakeClient = field(default_factory=FakeClient)

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
    """Always watched: the feed follows the progress topics from its start."""

    changes: list[Change] = field(default_factory=list)
    unwatched: set[str] = field(default_factory=set)  # entities no subscriber watches
    wake_feed: asyncio.Event = field(default_factory=asyncio.Event)
    watched_kinds: frozenset[Kind] = KINDS
    followed: frozenset[Kind] = frozenset()

    def following(self, kinds: frozenset[Kind]) -> None:
        assert kinds >= self.followed, "every kind is watched: the feed lets none go"
        self.followed = kinds

    def wants(self, kind: str, tenant: str, entity: str) -> bool:
        return entity not in self.unwatched

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


async def test_a_rewound_feed_reads_the_new_topics_of_a_replaced_broker_from_their_beginning(
    broker: FakeBroker, feed: tuple[KafkaProgressFeed, RecordingHub]
) -> None:
    """A restarted embedded broker has new, shorter topics; the positions held are past their
    end, where the broker holds fetches without an error. After `rewind` (lrs serve signals it)
    the feed reads them from their beginning."""
    started, hub = feed

    async def delivered() -> list[str]:
        return [f"{c.entity}:{c.version}" for c in hub.changes]

    for version in (1, 2, 3):
        broker.append("a", version)
    assert await eventually(delivered, lambda d: len(d) >= 3, within=10, every=0.01) == [
        "a:1",
        "a:2",
        "a:3",
    ]
    broker.records = []  # the broker restarted: its topics are new
    broker.append("a", 3)  # republished (a version the streams have sent: they skip it)
    broker.append("b", 1)  # written since
    started.rewind()
    assert await eventually(delivered, lambda d: len(d) >= 5, within=10, every=0.01) == [
        "a:1",
        "a:2",
        "a:3",
        "a:3",
        "b:1",
    ]
    assert len(broker.consumers) == 1  # in place: no new session, no failure counted


async def test_a_rewound_feed_tells_the_stored_sink_down_then_up(broker: FakeBroker) -> None:
    """So that every waiter reads the store once: what the lost broker held is not told."""
    sink = RecordingSink()
    feed = KafkaProgressFeed("unused:9092", {}, RecordingHub(), stored=(broker.topic, sink))
    await feed.start()
    try:

        async def told() -> list[str]:
            return list(sink.events)

        broker.append_stored("t/s1")
        assert await eventually(told, lambda e: len(e) >= 2, within=10, every=0.01) == [
            "up",
            "t/s1",
        ]
        broker.records = []
        broker.append_stored("t/s2")
        feed.rewind()
        assert await eventually(told, lambda e: "t/s2" in e, within=10, every=0.01) == [
            "up",
            "t/s1",
            "down",
            "up",
            "t/s2",
        ]
    finally:
        await feed.stop()


@dataclass
class RecordingSink:
    events: list[str] = field(default_factory=list)

    values: dict[str, bytes | None] = field(default_factory=dict)

    def stored(self, event_id: str, value: bytes | None = None) -> None:
        self.events.append(event_id)
        self.values[event_id] = value

    def feed_up(self) -> None:
        self.events.append("up")

    def feed_down(self) -> None:
        self.events.append("down")


async def test_the_feed_tells_stored_statements_and_its_restarts_to_the_stored_sink(
    broker: FakeBroker,
) -> None:
    """Only accepted statements are told (not the learner-refresh triggers that share the
    topic); a restart after a failure is told as down then up, so waiters read the store."""
    sink = RecordingSink()
    feed = KafkaProgressFeed("unused:9092", {}, RecordingHub(), stored=(broker.topic, sink))
    broker.append_stored("t/before-start")  # before the start: not told
    await feed.start()
    try:

        async def told() -> list[str]:
            return list(sink.events)

        broker.append_stored("t/s1")
        broker.append_stored("t/learner", LEARNER_REFRESH_TYPE)
        broker.append_stored("t/s2")
        assert await eventually(told, lambda e: len(e) >= 3, within=10, every=0.01) == [
            "up",
            "t/s1",
            "t/s2",
        ]
        assert sink.values["t/s1"] == b"{}"  # the record's value, for the waiters to decode
        broker.fail_next = RuntimeError("a bug, no KafkaError")
        broker.append_stored("t/s3")
        assert await eventually(told, lambda e: "t/s3" in e, within=10, every=0.01) == [
            "up",
            "t/s1",
            "t/s2",
            "down",
            "up",
            "t/s3",
        ]
    finally:
        await feed.stop()


async def test_the_stored_sink_is_not_told_up_while_its_topic_is_missing(
    broker: FakeBroker,
) -> None:
    """Waiters read the store every 0.25 s while no feed tells them what is stored: a feed
    whose stored topic does not exist yet must not make them wait 2 s for a wake-up that
    cannot come."""
    sink, hub = RecordingSink(), RecordingHub()
    feed = KafkaProgressFeed(
        "unused:9092", {broker.topic: "learner"}, hub, stored=("missing", sink)
    )
    await feed.start()
    try:
        broker.append("a", 1)  # the feed runs (and reads its other topic)

        async def delivered() -> int:
            return len(hub.changes)

        assert await eventually(delivered, (1).__eq__, within=10, every=0.01) == 1
        assert sink.events == []
    finally:
        await feed.stop()
    assert sink.events == []


async def test_the_feed_lets_the_broker_hold_its_empty_fetches_for_the_busy_wait_given() -> None:
    """`lrs api` gives it LRS_CONSUMER_ACK_FETCH_WAIT_MS: a request's acknowledgement waits
    for the feed to read its stored statements (lrs.fetch_pacing)."""
    feed = KafkaProgressFeed("unused:9092", {}, RecordingHub(), busy_wait_ms=37)
    consumer = feed._new_consumer()
    try:
        assert consumer._fetch_max_wait_ms == 37
    finally:
        await consumer.stop()


async def test_the_feed_hands_on_only_the_changes_the_hub_wants(
    broker: FakeBroker, feed: tuple[KafkaProgressFeed, RecordingHub]
) -> None:
    """A change nobody watches is not decoded nor published."""
    _, hub = feed
    hub.unwatched.add("b")

    async def delivered() -> list[str]:
        return [f"{c.entity}:{c.version}" for c in hub.changes]

    for entity in ("a", "b", "c"):
        broker.append(entity, 1)
    assert await eventually(delivered, lambda d: len(d) >= 2, within=10, every=0.01) == [
        "a:1",
        "c:1",
    ]
