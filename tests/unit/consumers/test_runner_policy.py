"""The runner's retry, rewind and exit policy (docs/decisions/0008), on a fake of the aiokafka
consumer and producer surface it uses (getmany, commit, seek, position, assignment, highwater,
last_poll_timestamp; send, send_and_wait). Every fake call is written to one journal, so the
tests check the ORDER: side effects, dead letters, then the commit; a rewind only before it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka import errors as kafka_errors
from aiokafka.structs import OffsetAndMetadata
from pymongo import errors as mongo_errors

from consumers.runner import Outcome, Record, Runner, RunnerConfig
from consumers.status import _route
from lrs import metrics, topics
from lrs.ports.events import OutgoingMessage
from tests.support.polling import eventually
from tests.support.records import StubRecord

TOPIC = "t"
TP = TopicPartition(TOPIC, 0)
Entry = tuple[Any, ...]


@dataclass
class FakeConsumer:
    """One partition of TOPIC holding `records`; `getmany_errors` are raised by the next
    fetches, one each. Fetches, commits and seeks go to `journal`."""

    journal: list[Entry]
    records: list[StubRecord] = field(default_factory=list)
    getmany_errors: list[Exception] = field(default_factory=list)
    position_: int = 0
    fetch_times: list[float] = field(default_factory=list)
    stopped: bool = False
    hold_empty: bool = False  # an empty fetch waits its whole timeout, as a broker holds it
    paused: bool = False  # a paused partition is not fetched (a dozing consumer, with a bell)

    def add(self, count: int, bad: bool = False) -> None:
        for _ in range(count):
            offset = len(self.records)
            self.records.append(StubRecord(TOPIC, 0, offset, b"k", b"bad" if bad else b"ok"))

    async def start(self) -> None:
        self.journal.append(("consumer-start",))

    async def stop(self) -> None:
        self.stopped = True
        self.journal.append(("consumer-stop",))

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[Record]]:
        self.fetch_times.append(asyncio.get_running_loop().time())
        if self.getmany_errors:
            error = self.getmany_errors.pop(0)
            self.journal.append(("fetch-error", type(error).__name__))
            raise error
        batch = self.records[self.position_ : self.position_ + (max_records or 500)]
        if self.paused:
            batch = []
        if not batch:
            if self.hold_empty:
                self.journal.append(("empty-fetch", timeout_ms))
                await asyncio.sleep(timeout_ms / 1000)
            else:
                await asyncio.sleep(0.002)  # an empty fetch waits, like timeout_ms
            return {}
        self.position_ += len(batch)
        self.journal.append(("fetch", [r.offset for r in batch]))
        return {TP: batch}

    async def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None:
        self.journal.append(("commit", offsets[TP].offset))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.journal.append(("seek", offset))
        self.position_ = offset

    async def position(self, partition: TopicPartition) -> int:
        return self.position_

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def pause(self, *partitions: TopicPartition) -> None:
        self.journal.append(("pause", *partitions))
        self.paused = True

    def resume(self, *partitions: TopicPartition) -> None:
        self.journal.append(("resume", *partitions))
        self.paused = False

    def highwater(self, partition: TopicPartition) -> int | None:
        return len(self.records)

    def last_poll_timestamp(self, partition: TopicPartition) -> int | None:
        return 1_700_000_000_000


@dataclass
class FakeProducer:
    journal: list[Entry]
    stopped: bool = False

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, **kw: Any
    ) -> Awaitable[object]:
        self.journal.append(("produce", topic))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> object:
        offset = dict(headers or []).get(topics.HEADER_ORIGINAL_OFFSET, b"?").decode()
        error = dict(headers or []).get(topics.HEADER_ERROR_CLASS, b"?").decode()
        self.journal.append(("dead-letter", topic, int(offset), error))
        return None


@dataclass
class FakeBell:
    """A doorbell (lrs.adapters.doorbell) whose rings the test makes; its waits and the
    runner's rings go to the journal."""

    journal: list[Entry]
    rung: asyncio.Event = field(default_factory=asyncio.Event)

    def ring(self) -> None:
        self.journal.append(("ring-sent",))

    def ring_from_outside(self) -> None:
        self.journal.append(("rung",))
        self.rung.set()

    def take(self) -> bool:
        rung = self.rung.is_set()
        self.rung.clear()
        return rung

    async def wait(self, seconds: float) -> bool:
        self.journal.append(("doze", seconds))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.rung.wait(), seconds)
        return self.take()


@dataclass
class FakeHandler:
    """Side effects are journal entries. `transient` calls fail first with an outage; a part
    holding a `bad` record fails with ValueError; `watermark_errors` fail the next
    caught_up calls, one each; `on_handle` runs at each call."""

    journal: list[Entry]
    name: str = "fake"
    transient: int = 0
    watermark_errors: list[Exception] = field(default_factory=list)
    on_handle: Callable[[], Awaitable[None]] | None = None
    watermarks: int = 0
    outputs: list[tuple[str, OutgoingMessage]] = field(default_factory=list)

    async def handle(self, records: Sequence[Record]) -> Outcome:
        offsets = [r.offset for r in records]
        if self.on_handle is not None:
            await self.on_handle()
        if self.transient > 0:
            self.transient -= 1
            self.journal.append(("handle-failed", offsets))
            raise mongo_errors.AutoReconnect("store gone")
        if any(r.value == b"bad" for r in records):
            raise ValueError(f"cannot handle {offsets}")
        self.journal.append(("handled", offsets))
        return Outcome(outputs=list(self.outputs))

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        if self.watermark_errors:
            error = self.watermark_errors.pop(0)
            self.journal.append(("watermark-failed", type(error).__name__))
            raise error
        self.watermarks += 1
        self.journal.append(("watermark",))


@dataclass
class Harness:
    journal: list[Entry]
    consumer: FakeConsumer
    producer: FakeProducer
    handler: FakeHandler
    runner: Runner
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.runner.run())

    async def until(self, condition: Callable[[list[Entry]], bool]) -> list[Entry]:
        async def journal() -> list[Entry]:
            if self.task is not None and self.task.done():
                self.task.result()  # a crash shows at once, with its error
            return list(self.journal)

        found = await eventually(journal, condition, within=20, every=0.005)
        assert condition(found), found
        return found

    async def stopped(self) -> None:
        self.runner.stop_event.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 20)


def config(**overrides: Any) -> RunnerConfig:
    values: dict[str, Any] = {
        "bootstrap": "unused:9092",
        "topic": TOPIC,
        "group_id": "g",
        "progress_interval": 0.0,
        "retry_initial_seconds": 0.01,
        "retry_max_seconds": 0.04,
        **overrides,
    }
    return RunnerConfig(**values)


@pytest.fixture
async def harness() -> AsyncIterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(*, bell: bool = False, **overrides: Any) -> Harness:
        journal: list[Entry] = []
        consumer, producer = FakeConsumer(journal), FakeProducer(journal)
        handler = FakeHandler(journal)
        runner = Runner(
            config(**overrides),
            handler,
            new_consumer=lambda _: consumer,
            new_producer=lambda _: producer,
            bell=FakeBell(journal) if bell else None,
        )
        made.append(Harness(journal, consumer, producer, handler, runner))
        return made[-1]

    yield make
    for h in made:
        h.runner.stop_event.set()
        if h.task is not None and not h.task.done():
            await asyncio.wait_for(asyncio.gather(h.task, return_exceptions=True), 20)


def entries(journal: list[Entry], *kinds: str) -> list[Entry]:
    return [e for e in journal if e[0] in kinds]


def counter(metric: Any, *labels: str) -> float:
    value = metric.labels(*labels)._value.get()
    assert isinstance(value, float)
    return value


async def test_a_transient_handler_failure_retries_the_same_batch_without_committing(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.consumer.add(3)
    h.handler.transient = 2
    h.start()
    journal = await h.until(lambda j: bool(entries(j, "commit")))
    assert entries(journal, "handle-failed", "handled", "seek", "commit") == [
        ("handle-failed", [0, 1, 2]),
        ("seek", 0),
        ("handle-failed", [0, 1, 2]),
        ("seek", 0),
        ("handled", [0, 1, 2]),
        ("commit", 3),
    ]
    assert not entries(journal, "dead-letter")
    await h.stopped()


async def test_a_poison_record_is_isolated_and_dead_lettered_then_the_batch_committed(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.consumer.add(2)
    h.consumer.add(1, bad=True)
    h.consumer.add(1)
    h.start()
    journal = await h.until(lambda j: bool(entries(j, "commit")))
    effects = entries(journal, "handled", "dead-letter", "commit", "seek")
    assert effects == [
        ("handled", [0, 1]),  # the first half of the failed batch
        ("handled", [3]),  # the second half failed too: its records one by one
        ("dead-letter", "t.dlq", 2, "ValueError"),
        ("commit", 4),
    ]
    await h.stopped()


async def test_a_transient_fetch_failure_is_retried_with_backoff_and_the_loop_goes_on(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.consumer.add(2)
    h.consumer.getmany_errors = [
        kafka_errors.KafkaConnectionError("broker gone"),
        kafka_errors.RequestTimedOutError(),
    ]
    before = counter(metrics.CONSUMER_TRANSIENT_FAILURES, "fake", "KafkaConnectionError")
    h.start()
    journal = await h.until(lambda j: bool(entries(j, "commit")))
    assert entries(journal, "fetch-error", "handled", "commit") == [
        ("fetch-error", "KafkaConnectionError"),
        ("fetch-error", "RequestTimedOutError"),
        ("handled", [0, 1]),
        ("commit", 2),
    ]
    first, second, third = h.consumer.fetch_times[:3]
    assert second - first >= 0.01 * 0.9  # backoff: 0.01 s, then doubled
    assert third - second >= 0.02 * 0.9
    assert counter(metrics.CONSUMER_TRANSIENT_FAILURES, "fake", "KafkaConnectionError") == (
        before + 1
    )
    assert h.task is not None
    assert not h.task.done()
    await h.stopped()


@pytest.mark.parametrize(
    "error", [mongo_errors.AutoReconnect("store gone"), KeyError("a bug in caught_up")]
)
async def test_a_failed_watermark_write_after_the_commit_never_rewinds_the_batch(
    harness: Callable[..., Harness], error: Exception
) -> None:
    h = harness()
    h.consumer.add(3)
    h.handler.watermark_errors = [error]
    h.start()
    journal = await h.until(lambda j: bool(entries(j, "watermark")))
    effects = entries(journal, "handled", "commit", "watermark-failed", "seek", "watermark")
    assert effects[:4] == [
        ("handled", [0, 1, 2]),
        ("commit", 3),
        ("watermark-failed", type(error).__name__),
        ("watermark",),  # written again at the next loop, the batch not handled again
    ]
    assert set(effects[4:]) <= {("watermark",)}  # neither a rewind nor a replay
    await h.stopped()


async def test_a_stop_finishes_and_commits_the_batch_in_hand_then_exits_cleanly(
    harness: Callable[..., Harness],
) -> None:
    h = harness(batch_max=2)
    h.consumer.add(4)

    async def stop_now() -> None:  # SIGTERM arrives while the first batch is handled
        h.runner.stop_event.set()

    h.handler.on_handle = stop_now
    h.start()
    assert h.task is not None
    await asyncio.wait_for(h.task, 20)  # returns: no error
    assert entries(h.journal, "fetch", "handled", "commit", "consumer-stop") == [
        ("fetch", [0, 1]),
        ("handled", [0, 1]),
        ("commit", 2),
        ("consumer-stop",),
    ]
    assert h.producer.stopped
    assert h.runner.health.state == "stopped"


async def test_an_idle_consumer_fetches_as_long_as_the_broker_may_hold_and_still_stops_at_once(
    harness: Callable[..., Harness],
) -> None:
    """Idle, one fetch waits the idle wait (a minute here), not IDLE_GETMANY_MS: fewer
    wake-ups; a stop ends that fetch instead of waiting it out (the test's 20 s bound)."""
    h = harness(idle_after_seconds=0.01, idle_fetch_max_wait_ms=60_000)
    h.consumer.hold_empty = True
    h.start()
    await h.until(lambda j: ("empty-fetch", 60_000) in j)
    await h.stopped()
    assert h.consumer.stopped
    assert h.runner.health.state == "stopped"


def bell_of(h: Harness) -> FakeBell:
    assert isinstance(h.runner.bell, FakeBell)
    return h.runner.bell


async def test_with_a_bell_an_idle_consumer_pauses_until_rung_then_fetches_at_once(
    harness: Callable[..., Harness],
) -> None:
    """Dozing (docs/decisions/0021, item 8), the partitions are paused: a record that arrives
    is fetched only after the ring resumes them, not at the end of the doze (an hour here)."""
    h = harness(bell=True, idle_after_seconds=0.01, doze_seconds=3600)
    h.start()
    await h.until(lambda j: ("doze", 3600) in j)
    h.consumer.add(1)
    bell_of(h).ring_from_outside()
    journal = await h.until(lambda j: ("handled", [0]) in j)
    dozing = journal.index(("doze", 3600))
    assert entries(journal[dozing - 1 :], "pause", "doze", "rung", "resume", "fetch")[:5] == [
        ("pause", TP),
        ("doze", 3600),
        ("rung",),
        ("resume", TP),
        ("fetch", [0]),
    ]


async def test_a_dozing_consumer_looks_for_records_when_its_doze_ends_without_a_ring(
    harness: Callable[..., Harness],
) -> None:
    h = harness(bell=True, idle_after_seconds=0.01, doze_seconds=0.05)
    h.start()
    await h.until(lambda j: len(entries(j, "resume")) >= 2)
    h.consumer.add(1)
    journal = await h.until(lambda j: ("handled", [0]) in j)
    assert not entries(journal, "rung")


async def test_a_stop_ends_a_doze_at_once(harness: Callable[..., Harness]) -> None:
    h = harness(bell=True, idle_after_seconds=0.01, doze_seconds=3600)
    h.start()
    await h.until(lambda j: ("doze", 3600) in j)
    await h.stopped()  # within the 20 s bound, not the hour
    assert entries(h.journal, "doze", "resume", "consumer-stop")[-3:] == [
        ("doze", 3600),
        ("resume", TP),
        ("consumer-stop",),
    ]
    assert h.consumer.stopped
    assert h.runner.health.state == "stopped"


async def test_a_consumer_rings_after_producing_outputs_and_not_without(
    harness: Callable[..., Harness],
) -> None:
    """Whoever reads its outputs may be dozing."""
    h = harness(bell=True)
    h.consumer.add(1)
    h.start()
    await h.until(lambda j: ("commit", 1) in j)
    assert not entries(h.journal, "ring-sent")
    h.handler.outputs = [("out", OutgoingMessage(key=b"k", value=b"v"))]
    h.consumer.add(1)
    journal = await h.until(lambda j: ("commit", 2) in j)
    assert entries(journal, "produce", "ring-sent", "commit")[-3:] == [
        ("produce", "out"),
        ("ring-sent",),
        ("commit", 2),
    ]


async def test_a_stop_during_retries_exits_without_committing_the_unfinished_batch(
    harness: Callable[..., Harness],
) -> None:
    h = harness(retry_initial_seconds=30.0, retry_max_seconds=30.0)
    h.consumer.add(2)
    h.handler.transient = 1_000
    h.start()
    await h.until(lambda j: bool(entries(j, "handle-failed")))
    await h.stopped()  # within the 30 s backoff: the wait ends at once
    assert not entries(h.journal, "commit")
    assert h.consumer.stopped


async def test_a_fatal_error_ends_the_loop_with_that_error_and_healthz_says_so(
    harness: Callable[..., Harness],
) -> None:
    h = harness(max_consecutive_errors=3)
    bug = TypeError("a bug in the fetch path")
    h.consumer.getmany_errors = [bug] * 10
    before = counter(metrics.BACKGROUND_TASK_FAILURES, "fake", "unexpected")
    with pytest.raises(TypeError) as raised:
        await asyncio.wait_for(h.runner.run(), 20)
    assert raised.value is bug
    assert len(entries(h.journal, "fetch-error")) == 3
    assert h.consumer.stopped
    assert h.producer.stopped
    assert h.runner.health.state == "failed"
    body, _, status = _route("/healthz", "fake", h.runner.health.as_dict)
    assert status.startswith("503")
    assert orjson.loads(body)["state"] == "failed"
    assert counter(metrics.BACKGROUND_TASK_FAILURES, "fake", "unexpected") == before + 3


async def test_healthz_says_a_loop_stuck_in_a_step_is_unhealthy(
    harness: Callable[..., Harness],
) -> None:
    h = harness(stall_seconds=0.2)
    h.consumer.add(1)
    release = asyncio.Event()
    h.handler.on_handle = release.wait  # a store call that never returns, until released
    h.start()

    async def healthz() -> str:
        return _route("/healthz", "fake", h.runner.health.as_dict)[2]

    assert (await eventually(healthz, lambda s: s.startswith("503"), within=20, every=0.02))[
        :3
    ] == "503"
    release.set()
    assert await eventually(healthz, "200 OK".__eq__, within=20, every=0.02) == "200 OK"
    await h.stopped()
