"""What the readers of `lrs.statements.stored` have read, kept across restarts of `lrs serve`
on its memory-only broker (docs/decisions/0010, item 5, "Across restarts of `lrs serve`").

The embedded broker keeps its topics in memory. When `lrs serve` stops, or is killed, the
statements the persister had stored and forwarded onto `lrs.statements.stored` but progress (or
the webhooks consumer) had not read yet are gone from the broker, though not from the store:
their progress would never be counted. So while it runs, `lrs serve` records a moment before
which every stored statement has been read by every reader of that topic (the *read-through
mark*), and at its next start forwards again every statement stored since (`replay_stored`);
the readers are idempotent (a statement counted twice counts once).

A mark is taken in two steps, one round apart:
1. Read Consistent-Through (docs/decisions/0003): every statement with an earlier `stored` is
   in the store and was forwarded before the persister recorded its watermark. Then read the
   end offsets of `lrs.statements.stored` (as fetch responses report them, lrs.entry.ends:
   the embedded broker's ListOffsets falls short): each of those forwards lies below them.
2. Once every reader's committed offsets have reached those ends, that moment is read through
   and is written to the store (`serve_marks`, only ever moved forward).
While statements are being forwarded again (at start, after a broker restart) no mark is
taken or recorded, and a mark pending from before is dropped (`ReplayGate`): reaching end
offsets says nothing about records published after they were read. A broker replaced under a
pending mark (ends lower than the pending ones) drops it too.

One gap remains: a statement whose produce outlived `LRS_PRODUCE_TIMEOUT_SECONDS` was refused
to its client (503) but may still be stored later with an earlier `stored`; if `lrs serve`
stops before progress reads it, it is not replayed (its client's retry finds it stored).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition

from lrs import topics
from lrs.adapters.mongo_store import MongoStatementStore, connect
from lrs.entry.ends import FetchedEnds, committed_offsets, unread
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS
from lrs.xapi.timefmt import floor_to_millis

log = logging.getLogger("lrs.serve")
MARKS = "serve_marks"
READ_THROUGH = "stored-read-through"


def stored_topic_readers() -> list[str]:
    """The consumers of `lrs.statements.stored` (each reads it under its own group)."""
    return sorted(n for n, spec in CONSUMERS.items() if spec.topic == topics.STORED_STATEMENTS)


@dataclass(frozen=True)
class Pending:
    """A moment and the end offsets of `lrs.statements.stored` read just after it, taken
    while no replay ran since the gate's `generation`."""

    through: datetime
    ends: Mapping[int, int]
    generation: int


class ReplayGate:
    """Replays of stored statements in progress (the supervisor's threads begin and end them);
    marks are taken only between them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._generation = 0

    def begin(self) -> None:
        with self._lock:
            self._active += 1
            self._generation += 1

    def end(self) -> None:
        with self._lock:
            self._active -= 1

    def idle_generation(self) -> int | None:
        """None while a replay runs; otherwise a number that changes with every replay."""
        with self._lock:
            return None if self._active else self._generation


def reached(ends: Mapping[int, int], committed: Mapping[int, int]) -> bool:
    """Whether a group's committed offsets are at or past `ends` on every partition (a
    partition with nothing on it needs no commit)."""
    return unread(ends, committed) == 0


def still_valid(pending: Pending, ends: Mapping[int, int]) -> bool:
    """False when a partition now ends below the pending end: the broker was replaced (its
    topics are new) and the pending offsets mean nothing on it."""
    return all(ends.get(p, 0) >= end for p, end in pending.ends.items())


async def read_mark(settings: LrsSettings) -> datetime | None:
    """The last read-through mark recorded, or None."""
    assert settings.mongodb_uri
    client = connect(settings.mongodb_uri)
    try:
        doc = await client[settings.mongodb_database][MARKS].find_one({"_id": READ_THROUGH})
    finally:
        await client.close()
    if doc is None:
        return None
    through: datetime = doc["through"]
    return through if through.tzinfo else through.replace(tzinfo=UTC)


class MarkRecorder:
    """The two-step rounds above, with the clients they use."""

    def __init__(self, settings: LrsSettings) -> None:
        assert settings.kafka_bootstrap
        assert settings.mongodb_uri
        self.settings = settings
        self.topic = settings.topic(topics.STORED_STATEMENTS)
        self.client = connect(settings.mongodb_uri)
        self.db = self.client[settings.mongodb_database]
        self.store = MongoStatementStore(self.db)
        bootstrap = settings.kafka_bootstrap
        self.ends = FetchedEnds(bootstrap, self.partitions())  # not ListOffsets: lrs.entry.ends
        # one client per reader's group, to read its committed offsets (it subscribes to
        # nothing, so it never joins the group; the admin client's OffsetFetch is refused by
        # the embedded broker)
        self.readers = [
            AIOKafkaConsumer(
                bootstrap_servers=bootstrap,
                group_id=f"{settings.consumer_group_prefix}-{name}",
                enable_auto_commit=False,
            )
            for name in stored_topic_readers()
        ]
        self.pending: Pending | None = None

    async def start(self) -> None:
        await self.ends.start()
        for consumer in self.readers:
            await consumer.start()

    async def close(self) -> None:
        await self.ends.close()
        for consumer in self.readers:
            with contextlib.suppress(Exception):
                await consumer.stop()
        await self.client.close()

    async def round(self, now: datetime, generation: int | None) -> datetime | None:
        """One round: record the pending moment if every reader has passed it (returned),
        then take a new one when none is pending. `generation`: the gate's (None: a replay
        runs, nothing is taken or recorded)."""
        if generation is None or (self.pending and self.pending.generation != generation):
            self.pending = None
        if generation is None:
            return None
        recorded = None
        if self.pending is not None:
            ends = await self.end_offsets()
            if not still_valid(self.pending, ends):
                self.pending = None
            elif await self.every_reader_reached(self.pending.ends):
                recorded = self.pending.through
                await self.record(recorded, now)
                self.pending = None
        if self.pending is None:
            self.pending = await self.take(now, generation)
        return recorded

    async def take(self, now: datetime, generation: int) -> Pending | None:
        s = self.settings
        topic, partitions = s.topic(topics.STATEMENTS), s.statement_partitions
        watermark = await self.store.consistent_through(topic, partitions)
        if watermark is None:  # the persister has not reported every partition yet
            return None
        through = min(watermark, now) - timedelta(seconds=s.produce_timeout_seconds)
        # at the store's precision (rounded down: earlier is always a true mark), so the mark
        # recorded is the one taken
        return Pending(floor_to_millis(through), await self.end_offsets(), generation)

    def partitions(self) -> list[TopicPartition]:
        count = self.settings.statement_partitions  # lrs.topics.topic_specs
        return [TopicPartition(self.topic, p) for p in range(count)]

    async def end_offsets(self) -> dict[int, int]:
        ends = await self.ends.read()
        return {tp.partition: offset for tp, offset in ends.items()}

    async def every_reader_reached(self, ends: Mapping[int, int]) -> bool:
        for reader in self.readers:
            committed = await committed_offsets(reader, self.partitions())
            if not reached(ends, {tp.partition: o for tp, o in committed.items()}):
                return False
        return True

    async def record(self, through: datetime, now: datetime) -> None:
        await self.db[MARKS].update_one(
            {"_id": READ_THROUGH},
            {"$max": {"through": through}, "$set": {"recorded_at": now}},
            upsert=True,
        )


async def record_marks(settings: LrsSettings, stop: threading.Event, gate: ReplayGate) -> None:
    """Rounds every `LRS_SERVE_MARK_SECONDS` until `stop` is set. A failed round (broker or
    store away, a broker restart) is logged and the next one starts afresh."""
    recorder: MarkRecorder | None = None
    try:
        while not stop.is_set():
            try:
                if recorder is None:
                    recorder = MarkRecorder(settings)
                    await recorder.start()
                await recorder.round(datetime.now(UTC), gate.idle_generation())
            except Exception as error:  # a round must never end the supervisor
                log.info("read-through mark: round failed (%r); starting afresh", error)
                if recorder is not None:
                    await recorder.close()
                recorder = None
            await asyncio.to_thread(stop.wait, settings.serve_mark_seconds)
    finally:
        if recorder is not None:
            await recorder.close()


def marks_in_thread(
    settings: LrsSettings, stop: threading.Event, gate: ReplayGate
) -> threading.Thread:
    """`record_marks` in a daemon thread of the supervisor, started."""

    def run() -> None:
        asyncio.run(record_marks(settings, stop, gate))

    thread = threading.Thread(target=run, name="read-through-marks", daemon=True)
    thread.start()
    return thread
