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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from lrs import topics
from lrs.kafka_metadata import partitions_of
from lrs.outages import is_outage
from lrs.ports.dead_letters import DeadLetter, Page, PageCollector, Position, Selection
from lrs.xapi.errors import Unavailable

IDLE_SECONDS = 2.0  # a partition that sends nothing for this long is read to its end
FETCH_WAIT_MS = 20  # the broker's longest hold of an empty fetch while reading


class KafkaDeadLetters:
    """The dead-letter topics of one LRS (one topic prefix) on one broker."""

    def __init__(
        self,
        bootstrap: str,
        prefix: str,
        *,
        deadline_seconds: float = 30.0,
        on_published: Callable[[], None] | None = None,  # e.g. Doorbell.ring
    ) -> None:
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._deadline = deadline_seconds
        self._on_published = on_published

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
        """At most `deadline_seconds` of reading (beyond it, the page ends early and `more`
        says where the next one goes on), so that no listing holds its request for long
        whatever the number of partitions or the broker's pace."""
        page = PageCollector(selection, start, limit)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._deadline
        async with _reader(self._bootstrap) as consumer:
            for index, tp in enumerate(await _partitions(consumer, self._topics(selection), start)):
                begin = page.first_offset(tp)
                if index and loop.time() >= give_up:  # the first is always read: pages get on
                    return page.cut(tp, begin)
                partition = TopicPartition(*tp)
                async for letter in _read(consumer, partition, begin, give_up):
                    if (full := page.take(tp, letter)) is not None:
                        return full
                position = await consumer.position(partition)
                if loop.time() >= give_up and not _read_to_end(consumer, partition, position):
                    return page.cut(tp, position)
        return page.last()

    async def all(self, selection: Selection) -> list[DeadLetter]:
        """Every matching dead letter: page after page until none is cut short."""
        found: list[DeadLetter] = []
        start: Position | None = None
        while True:
            page = await self.page(selection, start, limit=1_000_000)
            found += page.letters
            if page.more is None:
                return found
            start = page.more

    async def replay(self, letters: Sequence[DeadLetter]) -> int:
        """Produce each replayable dead letter again to its original topic and partition;
        returns how many were produced (each acknowledged with acks=all)."""
        with _broker_unavailable():
            return await self._replay(letters)

    async def _replay(self, letters: Sequence[DeadLetter]) -> int:
        replayable = [letter for letter in letters if letter.replayable]
        sent = await _produce_each(self._bootstrap, replayable, _send_replay)
        if sent and self._on_published is not None:
            self._on_published()  # a dozing consumer fetches the replayed records now
        return sent

    async def restore(self, letters: Sequence[DeadLetter]) -> int:
        """Produce each dead letter again as it is (key, value, headers, time) to its own
        dead-letter topic and partition: onto a new broker that replaces the one that held
        them (docs/decisions/0032). Their offsets there are new. Returns how many."""
        with _broker_unavailable():
            return await _produce_each(self._bootstrap, letters, _send_again)


@contextlib.contextmanager
def _broker_unavailable() -> Iterator[None]:
    """An outage (lrs.outages) as the domain's Unavailable (503 in the API); a fault goes on."""
    try:
        yield
    except Exception as exc:
        if is_outage(exc):
            raise Unavailable(f"the broker could not be reached: {exc!r}") from exc
        raise


Send = Callable[[AIOKafkaProducer, DeadLetter], Awaitable["asyncio.Future[Any]"]]


async def _produce_each(bootstrap: str, letters: Sequence[DeadLetter], send: Send) -> int:
    """`send` each letter with one producer (acks=all), then wait for every acknowledgement;
    returns how many were produced."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        max_request_size=topics.MAX_RECORD_BYTES,
    )
    await producer.start()
    try:
        sent = [await send(producer, letter) for letter in letters]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return len(sent)


async def _send_again(producer: AIOKafkaProducer, letter: DeadLetter) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = await producer.send(
        letter.topic,
        letter.value,
        key=letter.key,
        partition=letter.partition,
        headers=list(letter.headers),
        timestamp_ms=int(letter.time.timestamp() * 1000),
    )
    return future


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
        # an empty partition is answered after the broker's hold of an empty fetch (Tansu:
        # half of it, docs/decisions/0021): aiokafka's 500 ms default made every empty
        # partition cost ~0.25 s, a listing of 36 of them 8.7 s
        fetch_max_wait_ms=FETCH_WAIT_MS,
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
    known = await partitions_of(consumer, names)
    tps = sorted((name, partition) for name in names for partition in known[name])
    if start is None:
        return tps
    return [tp for tp in tps if tp >= (start.topic, start.partition)]


async def _read(
    consumer: AIOKafkaConsumer, tp: TopicPartition, begin: int, give_up: float
) -> AsyncIterator[DeadLetter]:
    """The records of one partition from `begin` to its high watermark, or until the loop's
    time `give_up` (at least one fetch, so that a page always gets on), or until nothing came
    for IDLE_SECONDS."""
    consumer.assign([tp])
    consumer.seek(tp, begin)
    loop = asyncio.get_running_loop()
    idle_until = loop.time() + IDLE_SECONDS
    while True:
        batches = await consumer.getmany(tp, timeout_ms=200)
        for record in batches.get(tp, []):
            idle_until = loop.time() + IDLE_SECONDS
            yield _letter(record)
        if _read_to_end(consumer, tp, await consumer.position(tp)):
            return
        if loop.time() >= min(give_up, idle_until):
            return


def _read_to_end(consumer: AIOKafkaConsumer, tp: TopicPartition, position: int) -> bool:
    highwater = consumer.highwater(tp)
    return highwater is not None and position >= highwater


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
