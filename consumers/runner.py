"""The one consumer loop every worker shares (docs/decisions/0008).

fetch a batch -> handler (side effects) -> produce its outputs -> dead-letter what can never be
processed -> commit. Offsets are committed only after the side effects, the outputs and the DLQ
writes are done, so a crash at any point replays the batch (handlers are idempotent).

No record can stop a consumer, whatever its content:
- A TRANSIENT failure (store or broker unreachable, `consumers.failures.is_transient`) rewinds
  to the batch start and retries with capped exponential backoff, for as long as it takes; the
  `lrs_consumer_retrying` gauge and the status endpoint's /readyz say so meanwhile.
- Any other failure of the handler, or of producing one of its outputs, is DETERMINISTIC: the
  batch is split and re-run down to single records (`consumers.failures.isolate`); each record
  that fails on its own goes to the dead-letter topic of the topic it came from, with the error
  and the consumer's name in headers; the rest is processed and the batch committed.
- A record replayed from a dead-letter topic for another consumer (header `lrs_replay_for`) is
  skipped: a replay is meant for the consumer that failed. Today each consumed topic has one
  consumer (persist reads `xapi.statements`, progress `lrs.statements.stored`); the header
  keeps replays right when a topic gains a second one.
A broker that cannot be reached when the consumer starts is waited for the same way.
A handler may also name records it knows to be unusable (`Outcome.poison`): they are
dead-lettered the same way. Failures outside any record (committing, writing a dead letter)
that are not transient are retried too, but end the process after `max_consecutive_errors` in
a row, for the supervisor to restart it: no record is to blame.
SIGTERM/SIGINT stop the loop between batches (the batch in hand is finished and committed
first); the consumer leaves its group cleanly.

The order within a batch is fixed: side effects, outputs, dead letters, then the commit. A
failure BEFORE the commit rewinds the consumer to the batch start, so the batch is replayed (its
handler is idempotent); a failure AFTER it (the watermark write of `Handler.caught_up`, the lag
report) never rewinds: the batch is done. Fetching (`getmany`) follows the same rules as
everything outside a record: a transient error is retried with backoff however long it takes,
any other one counts towards `max_consecutive_errors`; after that many the loop ends with the
error (`Health.state` `failed`), `run` raises it and the process exits nonzero for its
supervisor to restart it. Every unexpected failure is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from consumers import failures
from consumers.failures import is_transient, isolate
from consumers.linger import LingerPace
from lrs import metrics, topics
from lrs.background import backoff_delay, unless_stopped
from lrs.codec import header
from lrs.fetch_pacing import Bell, FetchPacer, doze_if_idle
from lrs.kafka_metadata import partitions_of
from lrs.outages import TransientFailure
from lrs.ports.events import OutgoingMessage

log = logging.getLogger("lrs.consumers")
# The longest one fetch of the loop waits for records (it returns at once when some come); the
# loop looks at the stop signal between two. Idle, a fetch waits as long as the broker may hold
# one (at least IDLE_GETMANY_MS); one longer than that ends early when the loop is told to stop.
GETMANY_MS = 200
IDLE_GETMANY_MS = 500


Header = tuple[str, bytes]


class Record(Protocol):
    """What a handler sees of a consumed record (aiokafka's ConsumerRecord has these)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[Header]


# A record the handler can never process, and why.
Poison = failures.Poison[Record]


@dataclass
class Outcome:
    """What a handler asks the runner to do after its side effects: records to dead-letter and
    records to produce (e.g. re-keyed or derived events), both before the offsets are committed."""

    poison: list[Poison] = field(default_factory=list)
    outputs: list[tuple[str, OutgoingMessage]] = field(default_factory=list)


class NoWatermarks:
    """Base of a handler with nothing to record when caught up (`Handler.caught_up`): every
    consumer but the persister, whose watermarks serve X-Experience-API-Consistent-Through."""

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        return None


class Handler(Protocol):
    name: str

    async def handle(self, records: Sequence[Record]) -> Outcome:
        """Apply side effects for the batch (idempotently); say what to dead-letter and produce.
        May raise: a transient error retries the batch, any other one isolates the records that
        fail on their own (so the handler may be run again on parts of the batch)."""
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
    # Consecutive failures outside any record (fetch, commit, dead letter, watermark) that are
    # not transient; the loop then ends with the error.
    max_consecutive_errors: int = 20
    fetch_max_wait_ms: int = 20
    # Once no record has come for `idle_after_seconds`, the broker may hold an empty fetch for
    # `idle_fetch_max_wait_ms` instead, and progress is reported every `idle_progress_interval`
    # seconds instead of `progress_interval`: an idle consumer costs little CPU, in it and in
    # the broker (lrs.fetch_pacing, docs/decisions/0021).
    idle_after_seconds: float = 30.0
    idle_fetch_max_wait_ms: int = 500  # LRS_CONSUMER_IDLE_FETCH_WAIT_MS
    idle_progress_interval: float = 5.0
    # With a bell (Runner.bell), the longest an idle consumer dozes without a ring
    # (LRS_CONSUMER_DOZE_SECONDS): its progress reports and its handler's clock then wait too.
    doze_seconds: float = 15.0
    # After the first record of a batch, keep fetching for up to this long (until `batch_max`):
    # larger batches, fewer store writes (one per learner or team per batch), later outputs.
    linger_ms: int = 0
    # Linger no longer than the recent batches took to handle (consumers.linger): about as
    # long as `linger_ms` once the store is busy, much shorter while it keeps up.
    linger_follows_load: bool = False
    progress_interval: float = 0.25
    retry_initial_seconds: float = 0.1
    retry_max_seconds: float = 5.0
    # Longest one step of the loop may take before /healthz calls it stuck (see Health): far
    # above a healthy step (pymongo gives up on an unreachable server after 30 s).
    stall_seconds: float = 120.0
    # Read every partition of the topic without the group protocol (settings'
    # consumer_assignment "all", docs/decisions/0010); offsets are still committed.
    assign_all_partitions: bool = False


Batches = Mapping[TopicPartition, Sequence[Record]]


class Consumer(Protocol):
    """The part of AIOKafkaConsumer the runner uses (tests pass a fake of it)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> Batches: ...
    async def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    async def position(self, partition: TopicPartition) -> int: ...
    def assignment(self) -> AbstractSet[TopicPartition]: ...
    def highwater(self, partition: TopicPartition) -> int | None: ...
    def last_poll_timestamp(self, partition: TopicPartition) -> int | None: ...
    def paused(self) -> AbstractSet[TopicPartition]: ...
    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...


class Producer(Protocol):
    """The part of AIOKafkaProducer the runner uses (tests pass a fake of it)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[Header] | None = None,
    ) -> Awaitable[object]: ...
    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: list[Header] | None = None,
    ) -> object: ...


Part = TypeVar("Part", Consumer, Producer)


def kafka_producer(cfg: RunnerConfig) -> Producer:
    producer: Producer = AIOKafkaProducer(
        bootstrap_servers=cfg.bootstrap,
        acks="all",
        enable_idempotence=False,
        max_request_size=topics.MAX_RECORD_BYTES,  # any consumed record fits its dead letter
    )
    return producer


def kafka_consumer(cfg: RunnerConfig) -> Consumer:
    consumer: Consumer = AIOKafkaConsumer(
        *(() if cfg.assign_all_partitions else (cfg.topic,)),
        bootstrap_servers=cfg.bootstrap,
        group_id=cfg.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=cfg.session_timeout_ms,
        heartbeat_interval_ms=max(500, cfg.session_timeout_ms // 5),
        max_poll_records=cfg.batch_max,
        fetch_max_wait_ms=cfg.fetch_max_wait_ms,
    )
    return consumer


@dataclass
class Health:
    """The loop's state, for the status endpoint (consumers.status).

    `state`: `starting` (connecting, creating topics and indexes), `running`, `retrying` (since
    when, after which error, how many times in a row), `stopped` (told to stop) or `failed`
    (ended by an error: `Runner.run` raises it and the process exits).

    HEALTHY (/healthz 200) means the loop is alive: it is neither `stopped` nor `failed`, and
    its current step began less than `stall_seconds` ago. A step is one fetch, one handler run
    (on a batch or, while isolating, on part of one), one dead letter, one commit, one lag and
    watermark report, one start attempt or one wait before a retry; the loop begins a new one
    at least every `retry_max_seconds` while it retries. So a loop retrying an unreachable
    store or broker is healthy (restarting it would not help), and a loop whose step hangs (a
    call that never returns) or that has ended is not (restarting the process is the remedy).
    READY (/readyz 200) means healthy and `running`.
    """

    state: str = "starting"
    failures: int = 0  # consecutive failed steps
    unexpected: int = 0  # of which not transient
    error_class: str | None = None
    since: datetime | None = None
    stall_seconds: float = 120.0
    clock: Callable[[], float] = time.monotonic
    step_started: float = 0.0

    def __post_init__(self) -> None:
        self.step()

    def step(self) -> None:
        """The loop begins a step."""
        self.step_started = self.clock()

    def retrying(self, error: BaseException) -> None:
        if self.state != "retrying":
            self.since = datetime.now(UTC)
        self.state, self.failures = "retrying", self.failures + 1
        self.error_class = type(error).__name__

    def running(self) -> None:
        self.state, self.failures, self.unexpected = "running", 0, 0
        self.error_class = self.since = None

    def healthy(self) -> bool:
        ended = self.state in ("stopped", "failed")
        return not ended and self.clock() - self.step_started < self.stall_seconds

    def as_dict(self) -> dict[str, object]:
        since = self.since.isoformat() if self.since else None
        healthy = self.healthy()
        return {
            "state": self.state,
            "healthy": healthy,
            "ready": healthy and self.state == "running",
            "step_seconds": round(self.clock() - self.step_started, 3),
            "consecutive_failures": self.failures,
            "error_class": self.error_class,
            "retrying_since": since,
        }


@dataclass(frozen=True)
class BatchDone:
    fetched: int
    mine: int
    dead: int
    seconds: float


@dataclass
class Runner:
    config: RunnerConfig
    handler: Handler
    stop_event: asyncio.Event = field(default_factory=asyncio.Event)
    health: Health = field(default_factory=Health)
    new_consumer: Callable[[RunnerConfig], Consumer] = kafka_consumer
    new_producer: Callable[[RunnerConfig], Producer] = kafka_producer
    # With a bell, an idle consumer dozes: its partitions paused (no fetch for the broker to
    # hold) until rung, or for `doze_seconds` (lrs.fetch_pacing).
    bell: Bell | None = None

    def __post_init__(self) -> None:
        self.health.stall_seconds = self.config.stall_seconds
        self._linger_pace = LingerPace(self.config.linger_ms, self.config.linger_follows_load)

    async def run(self) -> None:
        """Run the loop until stopped; raises what ended it otherwise (the state is then
        `failed`), for the process to exit nonzero and its supervisor to restart it."""
        try:
            await self._run_parts()
        except Exception as exc:
            self.health.state = "failed"
            log.error("%s: the loop ends; the process exits", self.handler.name, exc_info=exc)
            raise
        finally:
            if self.health.state != "failed":
                self.health.state = "stopped"
            metrics.CONSUMER_RETRYING.labels(self.handler.name).set(0)

    async def _run_parts(self) -> None:
        producer = await self._started(lambda: self.new_producer(self.config))
        if producer is None:
            return
        try:
            consumer = await self._started(lambda: self.new_consumer(self.config))
            if consumer is not None:
                try:
                    await self._loop(consumer, producer)
                finally:
                    await consumer.stop()
        finally:
            await producer.stop()

    async def until_done(self, step: Callable[[], Awaitable[object]]) -> bool:
        """Run `step` (e.g. creating topics and indexes at start), retried with backoff while
        the store or broker cannot be reached; False when the runner is stopped first."""
        while not self.stop_event.is_set():
            self.health.step()
            try:
                await step()
                return True
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await self._wait_after_transient(exc)
        return False

    async def _started(self, make: Callable[[], Part]) -> Part | None:
        """A started producer or consumer (None when the runner is stopped before)."""
        started: list[Part] = []

        async def start() -> None:
            part = make()
            try:
                await part.start()
                if isinstance(part, AIOKafkaConsumer) and self.config.assign_all_partitions:
                    await assign_all_partitions(part, self.config.topic)
            except Exception:
                await part.stop()
                raise
            started.append(part)

        return started[0] if await self.until_done(start) else None

    async def _loop(self, consumer: Consumer, producer: Producer) -> None:
        cfg = self.config
        # A dozing consumer fetches nothing; between dozes its fetches are held briefly.
        idle_wait_ms = cfg.fetch_max_wait_ms if self.bell else cfg.idle_fetch_max_wait_ms
        pacer = FetchPacer(cfg.fetch_max_wait_ms, idle_wait_ms, cfg.idle_after_seconds)
        last_report = 0.0
        while not self.stop_event.is_set():
            self.health.step()
            try:
                if self.bell is not None:
                    await doze_if_idle(
                        consumer, self.bell, pacer, cfg.doze_seconds, self.stop_event
                    )
                timeout = max(IDLE_GETMANY_MS, pacer.idle_ms) if pacer.idle else GETMANY_MS
                batches = await self._fetch(consumer, timeout)
                pacer.saw(sum(len(records) for records in batches.values()))
                pacer.apply(consumer)  # before lingering: more records are wanted at once
                batches = await self._linger(consumer, batches)
            except Exception as exc:
                await self._recover(exc)  # nothing fetched, nothing to rewind
                continue
            try:
                done = await self._process(batches, consumer, producer)
            except Exception as exc:
                self._rewind(consumer, batches)  # not committed: the batch is replayed
                await self._recover(exc)
                continue
            self._count(done)
            if done is not None:
                self._linger_pace.handled(done.seconds)
            interval = cfg.idle_progress_interval if pacer.idle else cfg.progress_interval
            if time.monotonic() - last_report >= interval:
                self.health.step()
                try:
                    await self._report_progress(consumer)
                except Exception as exc:
                    await self._recover(exc)  # the batch is committed: never rewound
                    continue
                last_report = time.monotonic()
            self._mark_running()

    async def _fetch(self, consumer: Consumer, timeout_ms: int) -> Batches:
        """One `getmany` of up to `batch_max` records; one that may wait longer than
        IDLE_GETMANY_MS gives up (nothing fetched) when the loop is told to stop."""
        fetching = consumer.getmany(timeout_ms=timeout_ms, max_records=self.config.batch_max)
        if timeout_ms <= IDLE_GETMANY_MS:
            return await fetching
        return await unless_stopped(fetching, self.stop_event) or {}

    async def _linger(self, consumer: Consumer, batches: Batches) -> Batches:
        """The batch grown by what arrives within its linger (`linger_ms`, or less when it
        follows the load: consumers.linger), up to `batch_max`. A failed fetch ends the wait:
        what was fetched is handled, the error comes back on the next fetch (records fetched
        are never dropped: the positions have moved past them)."""
        cfg = self.config
        merged = {tp: list(records) for tp, records in batches.items() if records}
        count = sum(len(records) for records in merged.values())
        deadline = time.monotonic() + self._linger_pace.seconds()
        while 0 < count < cfg.batch_max and not self.stop_event.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                more = await consumer.getmany(
                    timeout_ms=max(1, int(remaining * 1000)), max_records=cfg.batch_max - count
                )
            except Exception:
                log.warning("fetch failed while lingering; handling the batch fetched so far")
                break
            for tp, records in more.items():
                merged.setdefault(tp, []).extend(records)
                count += len(records)
        return merged

    async def _process(
        self, batches: Batches, consumer: Consumer, producer: Producer
    ) -> BatchDone | None:
        """Side effects, outputs and dead letters, then the commit: the last thing that may
        fail. None for an empty fetch."""
        records = [r for batch in batches.values() for r in batch]
        if not records:
            return None
        started = time.perf_counter()
        mine = [r for r in records if meant_for(r, self.handler.name)]
        poison = await self._handle(mine, producer) if mine else []
        for item in poison:
            self.health.step()
            await send_to_dlq(producer, item, self.handler.name)
        self.health.step()
        await consumer.commit(_next_offsets(records))
        return BatchDone(len(records), len(mine), len(poison), time.perf_counter() - started)

    async def _handle(self, records: Sequence[Record], producer: Producer) -> list[Poison]:
        """Run the handler on the batch; on a deterministic failure, isolate the records that
        fail on their own. Transient failures propagate (the batch is retried)."""

        async def attempt(part: Sequence[Record]) -> list[Poison]:
            self.health.step()
            outcome = await self.handler.handle(part)
            await produce_all(producer, outcome.outputs)
            if outcome.outputs and self.bell is not None:
                self.bell.ring()  # whoever reads them may be dozing
            return outcome.poison

        try:
            return await attempt(records)
        except Exception as exc:
            if is_transient(exc):
                raise
            metrics.CONSUMER_ISOLATIONS.labels(self.handler.name, type(exc).__name__).inc()
            log.warning(
                "%s: a batch of %d failed (%r); isolating the records that fail on their own",
                self.handler.name,
                len(records),
                exc,
            )
            return await isolate(records, exc, attempt)

    def _count(self, done: BatchDone | None) -> None:
        if done is None:
            return
        name = self.handler.name
        metrics.CONSUMER_RECORDS.labels(name, "ok").inc(done.mine - done.dead)
        metrics.CONSUMER_RECORDS.labels(name, "dead_lettered").inc(done.dead)
        metrics.CONSUMER_RECORDS.labels(name, "skipped").inc(done.fetched - done.mine)
        metrics.CONSUMER_BATCH_LATENCY.labels(name).observe(done.seconds)

    async def _recover(self, error: Exception) -> None:
        """After a failed step: wait before the next try. Raises `error` when no retry can cure
        it (the `max_consecutive_errors`-th failure in a row that is not transient)."""
        if is_transient(error):
            await self._wait_after_transient(error)
            return
        self.health.retrying(error)
        self.health.unexpected += 1
        name = self.handler.name
        metrics.BACKGROUND_TASK_FAILURES.labels(name, "unexpected").inc()
        log.error(
            "%s: unexpected failure (%d in a row)", name, self.health.unexpected, exc_info=error
        )
        if self.health.unexpected >= self.config.max_consecutive_errors:
            raise error
        metrics.CONSUMER_RETRYING.labels(name).set(1)
        await self._pause(self._delay())

    async def _wait_after_transient(self, error: Exception) -> None:
        """Say that the store or broker is unreachable, then wait before the next try."""
        self.health.retrying(error)
        name = self.handler.name
        log.warning("%s: transient failure (%d in a row): %r", name, self.health.failures, error)
        metrics.CONSUMER_TRANSIENT_FAILURES.labels(name, type(error).__name__).inc()
        metrics.CONSUMER_RETRYING.labels(name).set(1)
        await self._pause(self._delay())

    def _delay(self) -> float:
        cfg = self.config
        return backoff_delay(self.health.failures, cfg.retry_initial_seconds, cfg.retry_max_seconds)

    def _mark_running(self) -> None:
        if self.health.state != "running":
            self.health.running()
            metrics.CONSUMER_RETRYING.labels(self.handler.name).set(0)

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less when the runner is stopped meanwhile."""
        self.health.step()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stop_event.wait()

    async def _report_progress(self, consumer: Consumer) -> None:
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

    def _rewind(self, consumer: Consumer, batches: Batches) -> None:
        """Back to the start of a batch that was not committed, on the partitions still ours."""
        for tp, batch in batches.items():
            if batch and tp in consumer.assignment():
                consumer.seek(tp, batch[0].offset)


async def assign_all_partitions(consumer: AIOKafkaConsumer, topic: str) -> None:
    """Take every partition of `topic` (a topic not there yet is a transient failure)."""
    partitions = (await partitions_of(consumer, [topic]))[topic]
    if not partitions:
        raise TransientFailure(f"topic {topic} does not exist yet")
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    log.info("reading all %d partitions of %s", len(partitions), topic)


def meant_for(record: Record, consumer_name: str) -> bool:
    """False for a record replayed from a dead-letter topic for another consumer."""
    replay_for = header(record.headers, topics.HEADER_REPLAY_FOR)
    return replay_for is None or replay_for == consumer_name


def _next_offsets(records: Sequence[Record]) -> dict[TopicPartition, OffsetAndMetadata]:
    last: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        last[tp] = max(last.get(tp, -1), r.offset)
    return {tp: OffsetAndMetadata(offset + 1, "") for tp, offset in last.items()}


async def produce_all(producer: Producer, outputs: Sequence[tuple[str, OutgoingMessage]]) -> None:
    """Produce every output and wait for all acknowledgements (acks=all). An output that
    cannot be produced (too large) does not keep the others from being produced; the first
    error is raised afterwards (a transient one at once: nothing else would get through)."""
    futures: list[Awaitable[object]] = []
    errors: list[BaseException] = []
    for topic, m in outputs:
        try:
            futures.append(await producer.send(topic, m.value, key=m.key, headers=list(m.headers)))
        except KafkaError as exc:
            if is_transient(exc):
                raise
            errors.append(exc)
    results = await asyncio.gather(*futures, return_exceptions=True)
    errors += [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise next((e for e in errors if is_transient(e)), errors[0])


def dead_letter_headers(record: Record, error: Exception, consumer_name: str) -> list[Header]:
    """The error, the origin and the consumer, in the headers a dead letter adds."""
    detail = "".join(traceback.format_exception_only(error)).strip()
    return [
        (topics.HEADER_ERROR_CLASS, type(error).__name__.encode()),
        (topics.HEADER_ERROR_MESSAGE, detail.encode("utf-8", "replace")[:4000]),
        (topics.HEADER_ORIGINAL_TOPIC, record.topic.encode()),
        (topics.HEADER_ORIGINAL_PARTITION, str(record.partition).encode()),
        (topics.HEADER_ORIGINAL_OFFSET, str(record.offset).encode()),
        (topics.HEADER_CONSUMER, consumer_name.encode()),
    ]


async def send_to_dlq(producer: Producer, item: Poison, consumer_name: str) -> None:
    """Dead-letter one record: original key, value and headers (earlier dead-letter headers
    replaced), plus the error, the origin and the consumer. When the broker refuses that (too
    large), the dead letter goes without the value and the original headers: the original stays
    at its topic, partition and offset."""
    record, error = item.record, item.error
    added = dead_letter_headers(record, error, consumer_name)
    kept = topics.without_dead_letter_headers(record.headers)
    target = topics.dlq(record.topic)
    try:
        await producer.send_and_wait(target, record.value, key=record.key, headers=kept + added)
    except KafkaError as exc:
        if is_transient(exc):
            raise
        omitted = [*added, (topics.HEADER_VALUE_OMITTED, b"1")]
        await producer.send_and_wait(target, None, key=record.key, headers=omitted)
    error_class = type(error).__name__
    metrics.DEAD_LETTERED.labels(consumer_name, record.topic, error_class).inc()
    log.warning(
        "%s: dead-lettered %s[%d]@%d: %s",
        consumer_name,
        record.topic,
        record.partition,
        record.offset,
        added[1][1].decode("utf-8", "replace"),
    )


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
