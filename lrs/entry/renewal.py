"""A planned renewal of the embedded broker (docs/decisions/0032).

The embedded broker (Tansu's memory engine) keeps every record produced for as long as it runs:
it has no retention and no DeleteRecords. Nothing on it is needed once every consumer has read
it (the store holds the statements and their progress; the compacted topics' latest values
are put back from the store, lrs.wiring.republish), except the dead letters, which are only
there. So once the broker has grown `LRS_EMBEDDED_BROKER_RENEW_MB` since it settled,
`lrs serve` holds its API processes, waits until every consumer has committed the end of its
topic, copies the dead letters, and replaces the broker with an empty one
(`Stack.renew_broker`, lrs/entry/supervisor.py).

This module holds the parts of that: when a renewal is due (`Growth`), whether the consumers
have read everything (`Backlog`), and the dead letters' copy (`dead_letters`, `restore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from lrs import topics
from lrs.adapters.kafka_dead_letters import KafkaDeadLetters
from lrs.ports.dead_letters import DeadLetter, Selection
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS

RETRY_SECONDS = 30.0  # after a renewal given up (the consumers did not finish reading in time)
DRAIN_POLL_SECONDS = 0.05  # between two looks at the consumers' committed offsets
# The broker's longest hold of the end follower's empty fetch (Tansu answers after half of it)
END_FETCH_WAIT_MS = 20


def resident_mb(pid: int) -> float | None:
    """A process's resident memory in MB (Linux /proc), or None when it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


class Growth:
    """Whether the broker is due for a renewal: it has grown `limit_mb` (0: never) since it
    settled. It has settled once its topics exist and the latest values are republished onto
    it (`settled`, set by whoever republishes); its resident memory then is the baseline, so
    what the republish puts on a new broker never counts as growth (were that above the limit,
    every renewal would call for the next)."""

    def __init__(self, limit_mb: int, read: Callable[[int], float | None] = resident_mb) -> None:
        self.limit_mb = limit_mb
        self.settled = threading.Event()
        self._read = read
        self._baseline: float | None = None
        self._not_before = 0.0

    def due(self, pid: int, now: float) -> float | None:
        """The MB grown since the baseline when a renewal is due, else None. `now`: a
        monotonic time, compared with the end of the wait after a renewal given up."""
        if self.limit_mb == 0 or now < self._not_before or not self.settled.is_set():
            return None
        resident = self._read(pid)
        if resident is None:
            return None
        if self._baseline is None:
            self._baseline = resident
            return None
        grown = resident - self._baseline
        return grown if grown >= self.limit_mb else None

    def replaced(self) -> None:
        """A new broker (renewed, or restarted after a crash): a new baseline once settled."""
        self.settled.clear()
        self._baseline = None

    def later(self, now: float) -> None:
        """A renewal given up: the next one no sooner than RETRY_SECONDS from `now`."""
        self._not_before = now + RETRY_SECONDS


@dataclass(frozen=True)
class Reader:
    """One consumer of `lrs serve`: its group and the topic it reads (with the prefix)."""

    group: str
    topic: str


def readers(settings: LrsSettings) -> list[Reader]:
    prefix = settings.consumer_group_prefix
    return [Reader(f"{prefix}-{name}", settings.topic(s.topic)) for name, s in CONSUMERS.items()]


def unread(ends: Mapping[TopicPartition, int], committed: Mapping[TopicPartition, int]) -> int:
    """Records below `ends` not covered by `committed` (a partition without a commit: all of
    its records)."""
    return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())


class Backlog:
    """What the consumers of `lrs serve` have not read (committed) yet on its broker, and which
    dead-letter topics hold letters.

    End offsets are high watermarks from fetch responses: Tansu answers ListOffsets (aiokafka's
    `end_offsets`) with the first offset of a partition's last record batch plus one, short of
    the end whenever that batch holds several records (measured: 24 records in 5 batches,
    `end_offsets` 19). One group-less client follows every partition from just before that
    answer, so it fetches little; the records it gets are dropped. Committed offsets: one client
    per consumer's group (it subscribes to nothing, so it never joins the group; the admin
    client's OffsetFetch is refused by the embedded broker, lrs.entry.counted)."""

    def __init__(self, settings: LrsSettings) -> None:
        assert settings.kafka_bootstrap
        bootstrap = settings.kafka_bootstrap
        self.readers = readers(settings)
        specs = topics.topic_specs(settings.topic_prefix, settings.statement_partitions)
        self.partitions = {spec.name: spec.partitions for spec in specs}
        self.letter_topics = {name: settings.topic(topics.dlq(name)) for name in topics.CONSUMED}
        self.follower = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=END_FETCH_WAIT_MS,
        )
        self.groups = {
            r.group: AIOKafkaConsumer(
                bootstrap_servers=bootstrap, group_id=r.group, enable_auto_commit=False
            )
            for r in self.readers
        }

    async def __aenter__(self) -> Backlog:
        try:
            for client in [self.follower, *self.groups.values()]:
                await client.start()
            followed = self._followed()
            self.follower.assign(followed)
            listed = await self.follower.end_offsets(followed)
            for tp in followed:
                self.follower.seek(tp, max(0, listed[tp] - 1))
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for client in [self.follower, *self.groups.values()]:
            with contextlib.suppress(Exception):
                await client.stop()

    def _of(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in range(self.partitions[topic])]

    def _followed(self) -> list[TopicPartition]:
        read = {r.topic for r in self.readers} | set(self.letter_topics.values())
        return sorted(tp for topic in read for tp in self._of(topic))

    async def ends(self) -> dict[TopicPartition, int]:
        """Every followed partition's end, from a fetch sent after this call: for each
        partition, the second fetch response processed from now on (the first may answer a
        request sent before)."""
        followed = self._followed()
        seen: dict[TopicPartition, int | None] = {}
        answers = dict.fromkeys(followed, 0)
        while min(answers.values()) < 2:
            await self.follower.getmany(timeout_ms=END_FETCH_WAIT_MS)
            for tp in followed:
                stamp = self.follower.last_poll_timestamp(tp)
                if stamp is not None and stamp != seen.get(tp):
                    seen[tp] = stamp
                    answers[tp] += 1
        return {tp: self._highwater(tp) for tp in followed}

    def _highwater(self, tp: TopicPartition) -> int:
        highwater: int | None = self.follower.highwater(tp)
        if highwater is None:  # not after a fetch response: aiokafka sets it from each one
            raise RuntimeError(f"no high watermark for {tp} after two fetch responses")
        return highwater

    async def unread(self) -> tuple[int, dict[TopicPartition, int]]:
        """Records some consumer has not committed yet, summed over the consumers, and the
        ends. The ends are read before and after the commits: a record produced meanwhile (by
        a consumer's output, a clock) counts as unread."""
        before = await self.ends()
        total = 0
        for reader in self.readers:
            group = self.groups[reader.group]
            committed: dict[TopicPartition, int] = {}
            for tp in self._of(reader.topic):
                offset = await group.committed(tp)
                if offset is not None:
                    committed[tp] = offset
            total += unread({tp: before[tp] for tp in self._of(reader.topic)}, committed)
        after = await self.ends()
        return total + unread(after, before), after

    async def drained(self, within: float) -> bool:
        """Whether every consumer has read everything, looking again until `within` seconds
        have passed (at least once)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + within
        while (await self.unread())[0]:
            if loop.time() >= give_up:
                return False
            await asyncio.sleep(DRAIN_POLL_SECONDS)  # polling the broker's offsets, no sync
        return True

    def with_letters(self, ends: Mapping[TopicPartition, int]) -> list[str]:
        """The consumed topics (lrs.topics.CONSUMED) whose dead-letter topic is not empty."""
        return [
            name
            for name, topic in self.letter_topics.items()
            if any(ends[tp] > 0 for tp in self._of(topic))
        ]


async def drain(
    settings: LrsSettings, within: float, stop_consumers: Callable[[], None]
) -> list[DeadLetter] | None:
    """With the API processes held (nothing new comes from them): once every consumer has read
    everything (waiting up to `within` seconds), stop them (`stop_consumers`) and copy the dead
    letters; they are returned. None when the consumers did not finish in time, or a record
    came between the last look and their stop (a clock's): then some may have been stopped."""
    async with Backlog(settings) as backlog:
        if not await backlog.drained(within):
            return None
        stop_consumers()
        left, ends = await backlog.unread()
        if left:
            return None
        names = backlog.with_letters(ends)
    return await dead_letters(settings, names)


async def dead_letters(settings: LrsSettings, names: list[str]) -> list[DeadLetter]:
    """Every dead letter of the consumed topics `names` (they are nowhere but on the broker)."""
    assert settings.kafka_bootstrap
    reader = KafkaDeadLetters(settings.kafka_bootstrap, settings.topic_prefix)
    return [letter for name in names for letter in await reader.all(Selection(topic=name))]


async def restore(settings: LrsSettings, letters: list[DeadLetter]) -> int:
    """`letters` onto the (new) broker, each as it was, to its dead-letter topic's partition."""
    assert settings.kafka_bootstrap
    return await KafkaDeadLetters(settings.kafka_bootstrap, settings.topic_prefix).restore(letters)
