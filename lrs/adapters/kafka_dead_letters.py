"""Dead letters on Kafka: list what the dead-letter topics hold, and replay it
(docs/decisions/0008). Used by `lrs dlq list|replay` and `GET /admin/dead-letters`.

Every consumed topic `T` has its dead-letter topic `T.dlq` (lrs.topics.CONSUMED). A dead letter
is the original record (key, value, headers) plus headers naming the error, the original topic,
partition and offset, and the consumer that failed (consumers.runner.send_to_dlq).

A replay produces the original key, value and headers again, to the original topic and
partition, without the dead-letter headers, plus `lrs_replay_for` (the consumer that failed)
and `lrs_replayed_from` (the dead letter). Every consumer of that topic receives it; only the
one named takes it (consumers.runner.meant_for): any other (today each consumed topic has one
consumer) already handled the original.

Reading never relies on the broker's offset-by-time or end-offset answers (the embedded broker
has neither right): a partition is read from a given offset until the consumer's position
reaches the high watermark that fetch responses report, or nothing comes for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from lrs import topics
from lrs.codec import header
from lrs.outages import is_outage
from lrs.xapi.errors import Unavailable
from lrs.xapi.params import bounded_int

Header = tuple[str, bytes]
IDLE_SECONDS = 2.0  # a partition that sends nothing for this long is read to its end


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, with its dead-letter headers read out."""

    topic: str
    partition: int
    offset: int
    time: datetime
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...]

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    @property
    def consumer(self) -> str | None:
        return self.header(topics.HEADER_CONSUMER)

    @property
    def error_class(self) -> str | None:
        return self.header(topics.HEADER_ERROR_CLASS)

    @property
    def error_message(self) -> str | None:
        return self.header(topics.HEADER_ERROR_MESSAGE)

    @property
    def original_topic(self) -> str:
        """The topic the record came from (from the header, else from the DLQ's name)."""
        return self.header(topics.HEADER_ORIGINAL_TOPIC) or self.topic.removesuffix(
            topics.DLQ_SUFFIX
        )

    @property
    def original_partition(self) -> int | None:
        return bounded_int(self.header(topics.HEADER_ORIGINAL_PARTITION))

    @property
    def original_offset(self) -> int | None:
        return bounded_int(self.header(topics.HEADER_ORIGINAL_OFFSET))

    @property
    def replayable(self) -> bool:
        """False when the dead letter could not hold the value (see HEADER_VALUE_OMITTED)."""
        return self.header(topics.HEADER_VALUE_OMITTED) != "1"

    @property
    def reference(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"

    def replay_headers(self) -> list[Header]:
        """The original headers, marked as replayed for the consumer that failed."""
        kept = topics.without_dead_letter_headers(self.headers)
        marks = [(topics.HEADER_REPLAYED_FROM, self.reference.encode())]
        if self.consumer:
            marks.append((topics.HEADER_REPLAY_FOR, self.consumer.encode()))
        return kept + marks


@dataclass(frozen=True)
class Selection:
    """Which dead letters: of one consumed topic (a name of lrs.topics.CONSUMED, without the
    prefix), one consumer, one error class, and/or these offsets of the dead-letter topic."""

    topic: str | None = None
    consumer: str | None = None
    error_class: str | None = None
    offsets: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if self.topic is not None and self.topic not in topics.CONSUMED:
            known = ", ".join(topics.CONSUMED)
            raise ValueError(f"no dead-letter topic for {self.topic!r}; one of: {known}")

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (self.consumer is None or letter.consumer == self.consumer)
            and (self.error_class is None or letter.error_class == self.error_class)
            and (self.offsets is None or letter.offset in self.offsets)
        )


@dataclass(frozen=True)
class Position:
    """Where a listing resumes: the next offset of one partition of one dead-letter topic."""

    topic: str
    partition: int
    offset: int

    def token(self) -> str:
        return f"{self.partition}:{self.offset}:{self.topic}"

    @classmethod
    def parse(cls, token: str) -> Position:
        parts = token.split(":", 2)
        if len(parts) == 3:
            partition, offset, topic = bounded_int(parts[0]), bounded_int(parts[1]), parts[2]
            if partition is not None and offset is not None and topic.endswith(topics.DLQ_SUFFIX):
                return cls(topic, partition, offset)
        raise ValueError(f"not a dead-letter cursor: {token[:100]!r}")


@dataclass(frozen=True)
class Page:
    letters: list[DeadLetter]
    more: Position | None  # where the next page starts; None when everything was read


class KafkaDeadLetters:
    """The dead-letter topics of one LRS (one topic prefix) on one broker."""

    def __init__(self, bootstrap: str, prefix: str, *, deadline_seconds: float = 30.0) -> None:
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._deadline = deadline_seconds

    def _topics(self, selection: Selection) -> list[str]:
        names = [selection.topic] if selection.topic else list(topics.CONSUMED)
        return [self._prefix + topics.dlq(name) for name in names]

    async def page(
        self, selection: Selection, start: Position | None = None, limit: int = 100
    ) -> Page:
        """Up to `limit` matching dead letters in (topic, partition, offset) order, from
        `start` on, and where the next page starts."""
        with _broker_unavailable():
            return await self._page(selection, start, limit)

    async def _page(self, selection: Selection, start: Position | None, limit: int) -> Page:
        found: list[DeadLetter] = []
        async with _reader(self._bootstrap) as consumer:
            for tp in await _partitions(consumer, self._topics(selection), start):
                begin = start.offset if start and (start.topic, start.partition) == tp else 0
                async for letter in _read(consumer, TopicPartition(*tp), begin, self._deadline):
                    if not selection.matches(letter):
                        continue
                    found.append(letter)
                    if len(found) >= limit:
                        return Page(found, Position(*tp, letter.offset + 1))
        return Page(found, None)

    async def all(self, selection: Selection) -> list[DeadLetter]:
        page = await self.page(selection, limit=1_000_000)
        return page.letters

    async def replay(self, letters: Sequence[DeadLetter]) -> int:
        """Produce each replayable dead letter again to its original topic and partition;
        returns how many were produced (each acknowledged with acks=all)."""
        with _broker_unavailable():
            return await self._replay(letters)

    async def _replay(self, letters: Sequence[DeadLetter]) -> int:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=False,
            max_request_size=topics.MAX_RECORD_BYTES,
        )
        await producer.start()
        try:
            sent = [await _send_replay(producer, letter) for letter in letters if letter.replayable]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        return len(sent)


@contextlib.contextmanager
def _broker_unavailable() -> Iterator[None]:
    """An outage (lrs.outages) as the domain's Unavailable (503 in the API); a fault goes on."""
    try:
        yield
    except Exception as exc:
        if is_outage(exc):
            raise Unavailable(f"the broker could not be reached: {exc!r}") from exc
        raise


async def _send_replay(producer: AIOKafkaProducer, letter: DeadLetter) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = await producer.send(
        letter.original_topic,
        letter.value,
        key=letter.key,
        partition=letter.original_partition,
        headers=letter.replay_headers(),
    )
    return future


@contextlib.asynccontextmanager
async def _reader(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer (nothing committed), started and stopped around a read."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=topics.MAX_RECORD_BYTES + 1024 * 1024,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _partitions(
    consumer: AIOKafkaConsumer, names: Sequence[str], start: Position | None
) -> list[tuple[str, int]]:
    """The existing partitions of `names`, in order, from `start`'s partition on."""
    existing = await consumer.topics()
    tps = sorted(
        (name, partition)
        for name in names
        if name in existing
        for partition in consumer.partitions_for_topic(name) or ()
    )
    if start is None:
        return tps
    return [tp for tp in tps if tp >= (start.topic, start.partition)]


async def _read(
    consumer: AIOKafkaConsumer, tp: TopicPartition, begin: int, deadline: float
) -> AsyncIterator[DeadLetter]:
    """The records of one partition from `begin` to its high watermark."""
    consumer.assign([tp])
    consumer.seek(tp, begin)
    loop = asyncio.get_running_loop()
    give_up, idle_until = loop.time() + deadline, loop.time() + IDLE_SECONDS
    while loop.time() < min(give_up, idle_until):
        batches = await consumer.getmany(tp, timeout_ms=200)
        for record in batches.get(tp, []):
            idle_until = loop.time() + IDLE_SECONDS
            yield _letter(record)
        highwater = consumer.highwater(tp)
        if highwater is not None and await consumer.position(tp) >= highwater:
            return


def _letter(record: Any) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        time=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        key=record.key,
        value=record.value,
        headers=tuple(record.headers or ()),
    )
