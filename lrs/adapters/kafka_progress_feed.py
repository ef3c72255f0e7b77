"""The API process's live feed: one Kafka consumer per API process, without a consumer group,
assigned every partition of the topics the progress streams follow (`lrs.progress.learner`,
`lrs.progress.team`, `lrs.teams`, goal and organisation progress) and of
`lrs.statements.stored`, starting at their end (a stream's snapshot comes from MongoDB; only
what happens afterwards is needed here).

A progress topic's partitions are paused (not fetched) while no subscription of the hub
watches its kind (`watched_kinds`, docs/decisions/0035): fetching them costs the embedded
broker about a third of its work under a steady load, for nobody most of the time. The first
stream watching a kind wakes the feed (`wake_feed`), which seeks that kind's partitions to
their end, resumes them and then says which kinds it is `following`; the stream reads its
snapshot only then, so nothing falls in between. `UNWATCHED_SECONDS` after the last stream
watching a kind closed, the feed pauses that kind's partitions again.

Every progress record a subscriber wants (`ChangeSink.wants`, by its key) is decoded and
handed to the `ProgressHub` (through `ChangeSink`: an adapter does not import a service); the
others are not decoded. Of a stored
statement its `ce_id` header and its value are handed to `StoredSink` (the requests waiting
for their statements to be stored: lrs.adapters.stored_waiters), which decodes the value only
for a request waiting for it.

No group means no rebalances, no commits and no coordination between API instances: each
instance sees every change and serves its own subscribers. Partitions that appear later (more
partitions of a topic, or a topic created after the API started) are looked for every
`DISCOVER_SECONDS` (a metadata request for the feed's topics: `lrs.kafka_metadata`) and read
from their beginning (everything on them is newer than the start).

The reading runs as a `lrs.background.BackgroundTask`: whatever stops it (a broker error, a
record the hub cannot take, a bug) is logged and counted, and a new consumer resumes after the
last batch handed to the hub (with backoff; the API's /readyz answers 503 meanwhile). A batch
whose delivery failed is not delivered again; the stored sink is told when the feed is up and
when it stops, so its waiters read the store instead of waiting for what it may have missed.

`rewind` reads every topic again from its beginning: after the embedded broker's restart its
topics are new and shorter than the positions held, and Tansu holds a fetch beyond a
partition's end without an error (docs/decisions/0010).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from lrs import topics as topic_names
from lrs.background import BackgroundTask, unless_stopped
from lrs.codec import header
from lrs.fetch_pacing import ACK_PATH_FETCH_WAIT_MS, Bell, FetchPacer, doze_if_idle
from lrs.kafka_metadata import partitions_of
from lrs.progress.changes import KINDS, Change, Kind
from lrs.topics import split_key

log = logging.getLogger("lrs.progress.feed")
TASK_NAME = "progress-feed"
DISCOVER_SECONDS = 10.0
UNWATCHED_SECONDS = 30.0  # a stream's client reconnecting within this finds the feed following
RESTART_INITIAL_SECONDS = 0.25
RESTART_MAX_SECONDS = 5.0  # small: streams catch up within seconds of the broker's return


class ChangeSink(Protocol):
    """Where the feed hands every change it reads (the API's `lrs.services.progress_hub`) of
    the kinds it `watched_kinds`; sets `wake_feed` when a stream waits for a kind the feed does
    not follow; told which kinds the feed is `following`."""

    wake_feed: asyncio.Event

    @property
    def watched_kinds(self) -> frozenset[Kind]: ...

    def following(self, kinds: frozenset[Kind]) -> None: ...

    def wants(self, kind: Kind, tenant: str, entity: str) -> bool: ...

    def publish(self, change: Change) -> None: ...


class StoredSink(Protocol):
    """Where the feed tells the ids of stored statements (lrs.adapters.stored_waiters)."""

    def stored(self, event_id: str, value: bytes | None = None) -> None: ...

    def feed_up(self) -> None: ...

    def feed_down(self) -> None: ...


def key_parts(key: bytes | None) -> tuple[str, str] | None:
    """A record's (tenant, entity), or None for a key no change can have."""
    if key is None:
        return None
    try:
        tenant, entity = split_key(key)
    except UnicodeDecodeError:
        return None
    return (tenant, entity) if tenant and entity else None


def decode_change(kind: Kind, tenant: str, entity: str, value: bytes | None) -> Change | None:
    """The value of a record keyed (tenant, entity) as a Change, or None for one that is not
    usable (a tombstone, bad JSON)."""
    if value is None:
        return None
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, Mapping):
        return None
    version = doc.get("version")
    return Change(kind, tenant, entity, version if isinstance(version, int) else 0, doc)


class KafkaProgressFeed:
    def __init__(
        self,
        bootstrap: str,
        topics: Mapping[str, Kind],
        hub: ChangeSink,
        *,
        idle_after: float = 30.0,
        # The broker's longest hold of an empty fetch while records come: the persister's
        # (LRS_CONSUMER_ACK_FETCH_WAIT_MS), since a request's acknowledgement waits for the feed
        # to see its stored statements (Tansu looks at a held fetch again only after half its
        # wait: docs/decisions/0021); and once idle (LRS_CONSUMER_IDLE_FETCH_WAIT_MS).
        busy_wait_ms: int = ACK_PATH_FETCH_WAIT_MS,
        idle_wait_ms: int = 500,
        stored: tuple[str, StoredSink] | None = None,  # lrs.statements.stored and its sink
        bell: Bell | None = None,  # idle, fetch nothing until rung (lrs.adapters.doorbell)
        doze_seconds: float = 15.0,  # ... or for this long (LRS_CONSUMER_DOZE_SECONDS)
        unwatched_seconds: float = UNWATCHED_SECONDS,
        discover_seconds: float = DISCOVER_SECONDS,
    ) -> None:
        self._discover_seconds = discover_seconds
        self._unwatched_seconds = unwatched_seconds
        self._following: frozenset[Kind] = frozenset()  # kinds whose topics are fetched
        self._unwatched_since: dict[Kind, float] = {}  # followed kinds nobody watches now
        self._bell = bell
        self._doze_seconds = doze_seconds
        self._bootstrap = bootstrap
        # after `idle_after` seconds without a change, empty fetches are held longer
        # (lrs.fetch_pacing, docs/decisions/0021)
        self._idle = (idle_after, idle_wait_ms)
        self._busy_wait_ms = busy_wait_ms
        self._topics = dict(topics)
        self._kinds = frozenset(self._topics.values())
        # kinds of no topic read here: nothing to wait for (the hub counts them as followed)
        self._unread = KINDS - self._kinds
        self._hub = hub
        self._stored_topic: str | None = stored[0] if stored is not None else None
        self._stored: StoredSink | None = stored[1] if stored is not None else None
        self._read = [*self._topics, *([self._stored_topic] if self._stored_topic else [])]
        self._stored_up = False  # the stored sink was told the feed is up (this session)
        # The next offset to read of every partition found so far (where a new consumer resumes).
        self._positions: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._rewind_asked = False
        self.task = BackgroundTask(
            TASK_NAME, self._session, initial=RESTART_INITIAL_SECONDS, cap=RESTART_MAX_SECONDS
        )

    async def start(self) -> None:
        """Connect and position at the end of every partition read (the progress topics' only
        of the kinds the hub watches); returns once positioned, so a change produced after `start`
        returns is delivered."""
        self._following = self._hub.watched_kinds & self._kinds
        self._consumer = await self._connected(fresh_at_end=True)
        self._tell_following()  # positioned at the end now
        self.task.start()

    async def stop(self) -> None:
        await self.task.stop()
        await self._close()

    def fetched_topics(self) -> set[str]:
        """The topics the current consumer fetches from now: assigned, not paused (none
        between sessions)."""
        consumer = self._consumer
        if consumer is None:
            return set()
        return {tp.topic for tp in consumer.assignment() if tp not in consumer.paused()}

    def rewind(self) -> None:
        """Read every partition again from its beginning, at the feed's next read (within a
        fetch's wait): the topics were created anew (lrs.entry.supervisor restarts the embedded
        broker, which keeps them in memory, and signals its API processes). What the new topics
        hold is newer than anything read: the statements replayed from the store, the compacted
        topics' latest values, what was written since. Streams skip versions they sent; the
        stored sink is told down then up, so its waiters read the store once."""
        self._rewind_asked = True

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_wait_ms=self._busy_wait_ms,
        )

    async def _connected(self, *, fresh_at_end: bool = False) -> AIOKafkaConsumer:
        """A started consumer assigned every partition found (see `_assign`)."""
        consumer = self._new_consumer()
        try:
            await consumer.start()
            await self._assign(consumer, fresh_at_end=fresh_at_end)
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def _session(self, up: Callable[[], None]) -> None:
        """One consumer's life: the one `start` connected, or a new one after a failure."""
        try:
            if self._consumer is None:
                self._consumer = await self._connected()
            up()
            self._tell_stored_up(self._consumer)
            await self._follow(self._consumer)
        finally:
            if self._stored is not None and self._stored_up:
                self._stored.feed_down()
            self._stored_up = False
            await self._close()

    def _tell_stored_up(self, consumer: AIOKafkaConsumer) -> None:
        """Tell the stored sink the feed is up once it reads the stored topic (a topic not
        created yet is assigned when a later discovery finds it)."""
        if self._stored is None or self._stored_up:
            return
        if any(tp.topic == self._stored_topic for tp in consumer.assignment()):
            self._stored.feed_up()
            self._stored_up = True

    async def _assign(self, consumer: AIOKafkaConsumer, *, fresh_at_end: bool = False) -> None:
        """Assign every partition found; those read before resume where the feed left off, new
        ones start at their end (first start) or their beginning (found later). The progress
        topics' are paused unless the feed follows them (a paused partition is not fetched)."""
        known = await partitions_of(consumer, self._read)
        found = {TopicPartition(topic, p) for topic, ps in known.items() for p in ps}
        missing = sorted(topic for topic, ps in known.items() if not ps)
        if missing:
            log.warning("feed topics missing (will look again): %s", ", ".join(missing))
        fresh = sorted(found - self._positions.keys())
        wanted = found | self._positions.keys()
        if not wanted or (consumer.assignment() and not fresh):
            return  # nothing to read yet, or nothing new
        consumer.assign(sorted(wanted))
        unfollowed = self._assigned_of(consumer, self._kinds - self._following)
        if unfollowed:  # before any await: a new assignment is fetched at once
            consumer.pause(*unfollowed)
        for tp, offset in self._positions.items():
            consumer.seek(tp, offset)
        if fresh:
            await (consumer.seek_to_end if fresh_at_end else consumer.seek_to_beginning)(*fresh)
            for tp in fresh:
                self._positions[tp] = await consumer.position(tp)

    def _tell_following(self) -> None:
        self._hub.following(self._following | self._unread)

    def _assigned_of(
        self, consumer: AIOKafkaConsumer, kinds: frozenset[Kind]
    ) -> list[TopicPartition]:
        """The assigned partitions of these kinds' topics (not `partitions_of`, the broker's)."""
        return [tp for tp in consumer.assignment() if self._topics.get(tp.topic) in kinds]

    async def _follow_if_watched(self, consumer: AIOKafkaConsumer, now: float) -> None:
        """Read the topics of the kinds the hub newly watches from their end (then tell it);
        let a kind go `unwatched_seconds` after nobody watches it."""
        self._hub.wake_feed.clear()
        watched = self._hub.watched_kinds & self._kinds
        if watched - self._following:
            await self._follow_kinds(consumer, watched - self._following)
            self._tell_following()
            # read again: a stream of a kind about to be let go may have opened meanwhile
            watched = self._hub.watched_kinds & self._kinds
        for kind in watched:
            self._unwatched_since.pop(kind, None)
        for kind in self._following - watched:
            self._unwatched_since.setdefault(kind, now)
        gone = frozenset(
            kind
            for kind, since in self._unwatched_since.items()
            if now - since >= self._unwatched_seconds
        )
        if gone:
            self._following -= gone
            for kind in gone:
                del self._unwatched_since[kind]
            self._tell_following()
            consumer.pause(*self._assigned_of(consumer, gone))

    async def _follow_kinds(self, consumer: AIOKafkaConsumer, kinds: frozenset[Kind]) -> None:
        """Fetch these kinds' partitions from their end (a partition found later is read from
        its beginning: all of it is newer)."""
        partitions = self._assigned_of(consumer, kinds)
        if partitions:
            await consumer.seek_to_end(*partitions)
            for tp in partitions:
                self._positions[tp] = await consumer.position(tp)
        consumer.resume(*partitions)
        self._following |= kinds

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        loop = asyncio.get_running_loop()
        next_discovery = loop.time() + self._discover_seconds
        idle_after, idle_wait_ms = self._idle
        if self._bell is not None:  # dozing fetches nothing; between dozes, brief holds
            idle_wait_ms = self._busy_wait_ms
        pacer = FetchPacer(self._busy_wait_ms, idle_wait_ms, idle_after)
        while True:
            if self._rewind_asked:
                await self._rewound(consumer)
            if loop.time() >= next_discovery:
                next_discovery = loop.time() + self._discover_seconds
                await self._assign(consumer)
                self._tell_stored_up(consumer)
            await self._follow_if_watched(consumer, loop.time())
            if self._bell is not None:
                await doze_if_idle(
                    consumer, self._bell, pacer, self._doze_seconds, stop=self._hub.wake_feed
                )
            batches = await self._fetched(consumer)
            pacer.saw(sum(len(records) for records in batches.values()))
            pacer.apply(consumer)
            for tp, records in batches.items():
                self._positions[tp] = records[-1].offset + 1
                if tp.topic == self._stored_topic:
                    self._tell_stored(records)
                else:
                    self._deliver(self._topics[tp.topic], records)

    async def _fetched(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
        """The next records; unless the feed follows every kind, a stream waiting for one it
        does not ends the wait."""
        fetch = consumer.getmany(timeout_ms=500, max_records=1000)
        batches: dict[TopicPartition, list[Any]] | None = await (
            fetch if self._following == self._kinds else unless_stopped(fetch, self._hub.wake_feed)
        )
        return batches or {}

    async def _rewound(self, consumer: AIOKafkaConsumer) -> None:
        """`rewind`: forget every position; each partition found is then fresh and read from
        its beginning."""
        self._rewind_asked = False
        self._positions.clear()
        if self._stored is not None and self._stored_up:
            self._stored.feed_down()
            self._stored_up = False
        consumer.assign([])
        await self._assign(consumer)
        self._tell_stored_up(consumer)
        log.warning("feed rewound: every partition is read again from its beginning")

    def _tell_stored(self, records: list[Any]) -> None:
        assert self._stored is not None
        for record in records:
            if header(record.headers, topic_names.HEADER_CE_TYPE) != (
                topic_names.STATEMENT_ACCEPTED_TYPE
            ):
                continue  # a learner-refresh trigger
            event_id = header(record.headers, topic_names.HEADER_CE_ID)
            if event_id:
                self._stored.stored(event_id, record.value)

    def _deliver(self, kind: Kind, records: list[Any]) -> None:
        """Each change some subscriber wants, decoded (most are not wanted: a learner's change
        is of interest only while someone watches that learner)."""
        for record in records:
            parts = key_parts(record.key)
            if parts is None or not self._hub.wants(kind, *parts):
                continue
            change = decode_change(kind, *parts, record.value)
            if change is not None:
                self._hub.publish(change)
