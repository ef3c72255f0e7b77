"""Fakes of the aiokafka consumer and producer surface the consumer runner uses (getmany,
commit, seek, position, assignment, highwater, last_poll_timestamp; send, send_and_wait), of a
doorbell and of a handler, and a harness running a real `Runner` on them. Every fake call is
written to one journal, so tests can check the order of side effects, dead letters and commits
(tests/unit/consumers: the runner's policy and its linger)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from pymongo import errors as mongo_errors

from consumers.runner import Outcome, Record, Runner, RunnerConfig
from lrs import topics
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
    is_paused: bool = False  # a paused partition is not fetched (a dozing consumer, with a bell)

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
        if self.is_paused:
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
        self.is_paused = True

    def resume(self, *partitions: TopicPartition) -> None:
        self.journal.append(("resume", *partitions))
        self.is_paused = False

    def paused(self) -> set[TopicPartition]:
        return {TP} if self.is_paused else set()

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


async def harnesses() -> AsyncIterator[Callable[..., Harness]]:
    """Makes harnesses (`bell`: with a fake doorbell; other keywords: RunnerConfig fields);
    stops every runner it made when closed (the `harness` fixture, tests/unit/consumers)."""
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
