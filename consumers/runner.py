"""The one consumer loop every worker shares.

fetch a batch -> handler (side effects) -> dead-letter what can never be processed -> commit.
Offsets are committed only after the handler's side effects and the DLQ writes are done, so a
crash at any point replays the batch (handlers are idempotent). A handler failure that is not
the message's fault (the store is down) rewinds to the batch start and retries with backoff;
after too many consecutive failures the process exits and its supervisor restarts it.
SIGTERM/SIGINT stop the loop between batches; the consumer leaves its group cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from lrs import metrics, topics
from lrs.ports import OutgoingMessage

log = logging.getLogger("lrs.consumers")


class Record(Protocol):
    """What a handler sees of a consumed record (aiokafka's ConsumerRecord has these)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Poison:
    """A record the handler can never process, and why."""

    record: Record
    error: Exception


@dataclass
class Outcome:
    """What a handler asks the runner to do after its side effects: records to dead-letter and
    records to produce (e.g. re-keyed or derived events), both before the offsets are committed."""

    poison: list[Poison] = field(default_factory=list)
    outputs: list[tuple[str, OutgoingMessage]] = field(default_factory=list)


class Handler(Protocol):
    name: str

    async def handle(self, records: Sequence[Record]) -> Outcome:
        """Apply side effects for the batch (idempotently); say what to dead-letter and produce."""
        ...

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        """Called after each loop with the partitions whose every record is handled, and the
        time at which the broker's high watermark was observed."""
        ...


@dataclass
class RunnerConfig:
    bootstrap: str
    topic: str
    group_id: str
    batch_max: int = 500
    session_timeout_ms: int = 10_000
    max_consecutive_errors: int = 20
    fetch_max_wait_ms: int = 20
    progress_interval: float = 0.25


@dataclass
class Runner:
    config: RunnerConfig
    handler: Handler
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        consumer = self._consumer()
        producer = AIOKafkaProducer(
            bootstrap_servers=self.config.bootstrap, acks="all", enable_idempotence=False
        )
        await producer.start()
        await consumer.start()
        try:
            await self._loop(consumer, producer)
        finally:
            await consumer.stop()
            await producer.stop()

    def _consumer(self) -> AIOKafkaConsumer:
        cfg = self.config
        return AIOKafkaConsumer(
            cfg.topic,
            bootstrap_servers=cfg.bootstrap,
            group_id=cfg.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=max(500, cfg.session_timeout_ms // 5),
            max_poll_records=cfg.batch_max,
            fetch_max_wait_ms=cfg.fetch_max_wait_ms,
        )

    async def _loop(self, consumer: AIOKafkaConsumer, producer: AIOKafkaProducer) -> None:
        errors = 0
        last_report = 0.0
        while not self.stop_event.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=self.config.batch_max)
            records = [r for batch in batches.values() for r in batch]
            started = time.perf_counter()
            try:
                if records:
                    await self._process(records, consumer, producer)
                if time.monotonic() - last_report >= self.config.progress_interval:
                    await self._report_progress(consumer)
                    last_report = time.monotonic()
                errors = 0
            except Exception:
                errors += 1
                log.exception("%s: batch failed (%d in a row)", self.handler.name, errors)
                if errors >= self.config.max_consecutive_errors:
                    raise
                await self._rewind(consumer, batches)
                await asyncio.sleep(min(0.1 * 2**errors, 5.0))
                continue
            if records:
                metrics.CONSUMER_BATCH_LATENCY.labels(self.handler.name).observe(
                    time.perf_counter() - started
                )

    async def _process(
        self, records: list[Record], consumer: AIOKafkaConsumer, producer: AIOKafkaProducer
    ) -> None:
        outcome = await self.handler.handle(records)
        await produce_all(producer, outcome.outputs)
        for item in outcome.poison:
            await send_to_dlq(producer, item, self.handler.name)
        await consumer.commit(_next_offsets(records))
        name, dead = self.handler.name, len(outcome.poison)
        metrics.CONSUMER_RECORDS.labels(name, "ok").inc(len(records) - dead)
        metrics.CONSUMER_RECORDS.labels(name, "dead_lettered").inc(dead)

    async def _report_progress(self, consumer: AIOKafkaConsumer) -> None:
        """Lag per partition, and the partitions that are fully handled (watermarks)."""
        caught_up: dict[int, datetime] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            position = await consumer.position(tp)
            lag = max(0, highwater - position)
            metrics.CONSUMER_LAG.labels(self.handler.name, str(tp.partition)).set(lag)
            observed = consumer.last_poll_timestamp(tp)
            if lag == 0 and observed:
                caught_up[tp.partition] = datetime.fromtimestamp(observed / 1000, UTC)
        if caught_up:
            await self.handler.caught_up(self.config.topic, caught_up)

    async def _rewind(
        self, consumer: AIOKafkaConsumer, batches: Mapping[TopicPartition, list[Record]]
    ) -> None:
        for tp, batch in batches.items():
            if batch and tp in consumer.assignment():
                consumer.seek(tp, batch[0].offset)


def _next_offsets(records: Sequence[Record]) -> dict[TopicPartition, OffsetAndMetadata]:
    last: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        last[tp] = max(last.get(tp, -1), r.offset)
    return {tp: OffsetAndMetadata(offset + 1, "") for tp, offset in last.items()}


async def produce_all(
    producer: AIOKafkaProducer, outputs: Sequence[tuple[str, OutgoingMessage]]
) -> None:
    """Produce every output and wait for all acknowledgements (acks=all)."""
    futures = [
        await producer.send(topic, m.value, key=m.key, headers=list(m.headers))
        for topic, m in outputs
    ]
    await asyncio.gather(*futures)


async def send_to_dlq(producer: AIOKafkaProducer, item: Poison, consumer_name: str) -> None:
    """Dead-letter one record: original key, value and headers, plus the error and origin."""
    record, error = item.record, item.error
    headers: list[tuple[str, bytes]] = list(record.headers or ())
    detail = "".join(traceback.format_exception_only(error)).strip()
    headers += [
        (topics.HEADER_ERROR_CLASS, type(error).__name__.encode()),
        (topics.HEADER_ERROR_MESSAGE, detail.encode()[:4000]),
        (topics.HEADER_ORIGINAL_TOPIC, record.topic.encode()),
        (topics.HEADER_ORIGINAL_PARTITION, str(record.partition).encode()),
        (topics.HEADER_ORIGINAL_OFFSET, str(record.offset).encode()),
    ]
    await producer.send_and_wait(
        topics.dlq(record.topic), record.value, key=record.key, headers=headers
    )
    metrics.DEAD_LETTERED.labels(consumer_name, type(error).__name__).inc()
    log.warning(
        "%s: dead-lettered %s[%d]@%d: %s",
        consumer_name,
        record.topic,
        record.partition,
        record.offset,
        detail,
    )


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
