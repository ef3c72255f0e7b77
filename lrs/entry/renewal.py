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
have read everything (`Backlog`), and the dead letters' copy (`dead_letters`, `restore`), kept
on disk from before the old broker stops until they are on the new one (`keep`, `kept`; so
are they between a stop of `lrs serve` and its next start, `letters_on_broker`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from lrs import topics
from lrs.adapters.kafka_dead_letters import KafkaDeadLetters
from lrs.entry.ends import FetchedEnds, committed_offsets, unread
from lrs.ports.dead_letters import DeadLetter, Selection
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS

log = logging.getLogger("lrs.serve")
RETRY_SECONDS = 30.0  # after a renewal given up; doubling while holds are in vain in a row ...
MAX_RETRY_SECONDS = 600.0  # ... up to this (Growth.later)
# The most records the consumers may have left to read (summed over them) for the API processes
# to be held while they finish: beyond, the pipeline is behind and the renewal waits.
MOST_UNREAD_TO_HOLD = 2000
DRAIN_POLL_SECONDS = 0.05  # between two looks at the consumers' committed offsets
# In the data directory: the embedded broker's dead letters between a renewal, or a stop of
# `lrs serve`, and their restore on the next broker (lrs.entry.supervisor).
KEPT_LETTERS_FILE = "kept-dead-letters.json"


def resident_kb(pid: int) -> int | None:
    """A process's resident memory in KB (VmRSS, Linux /proc); None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def resident_mb(pid: int) -> float | None:
    kb = resident_kb(pid)
    return None if kb is None else kb / 1024


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
        self._held_in_vain = 0

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
        self._held_in_vain = 0

    def later(self, now: float, *, after_hold: bool) -> float:
        """A renewal given up: the next one no sooner than RETRY_SECONDS from `now`. After one
        that held the API processes in vain, twice that after two such in a row, and so on up
        to MAX_RETRY_SECONDS (a consumer that cannot read, say while the store is away, must not
        have the API held again and again). Returns the wait."""
        wait: float = RETRY_SECONDS
        if after_hold:
            wait = min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2.0**self._held_in_vain)
            self._held_in_vain += 1
        self._not_before = now + wait
        return wait


@dataclass(frozen=True)
class Reader:
    """One consumer of `lrs serve`: its group and the topic it reads (with the prefix)."""

    group: str
    topic: str


def readers(settings: LrsSettings) -> list[Reader]:
    prefix = settings.consumer_group_prefix
    return [Reader(f"{prefix}-{name}", settings.topic(s.topic)) for name, s in CONSUMERS.items()]


class Backlog:
    """What the consumers of `lrs serve` have not read (committed) yet on its broker, and which
    dead-letter topics hold letters. Ends: lrs.entry.ends (fetched, since Tansu's ListOffsets
    falls short). Committed offsets: one client per consumer's group (lrs.entry.ends too)."""

    def __init__(self, settings: LrsSettings) -> None:
        assert settings.kafka_bootstrap
        bootstrap = settings.kafka_bootstrap
        self.readers = readers(settings)
        self.partitions = partitions_by_topic(settings)
        self.letter_topics = letter_topics(settings)
        followed = {r.topic for r in self.readers} | set(self.letter_topics.values())
        self.ends = FetchedEnds(bootstrap, [tp for t in followed for tp in self._of(t)])
        self.groups = {
            r.group: AIOKafkaConsumer(
                bootstrap_servers=bootstrap, group_id=r.group, enable_auto_commit=False
            )
            for r in self.readers
        }
        self.behind: dict[str, int] = {}  # each group's records left, at the last `unread`

    async def __aenter__(self) -> Backlog:
        try:
            for client in self.groups.values():
                await client.start()
            await self.ends.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.ends.close()
        for client in self.groups.values():
            with contextlib.suppress(Exception):
                await client.stop()

    def _of(self, topic: str) -> list[TopicPartition]:
        return self.partitions[topic]

    async def unread(self) -> tuple[int, dict[TopicPartition, int]]:
        """Records some consumer has not committed yet, summed over the consumers, and the
        ends. The ends are read before and after the commits: a record produced meanwhile (by
        a consumer's output, a clock) counts as unread."""
        before = await self.ends.read()
        self.behind = {}
        for reader in self.readers:
            partitions = self._of(reader.topic)
            committed = await committed_offsets(self.groups[reader.group], partitions)
            self.behind[reader.group] = unread({tp: before[tp] for tp in partitions}, committed)
        after = await self.ends.read()
        return sum(self.behind.values()) + unread(after, before), after

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
        return with_letters(self.letter_topics, self.partitions, ends)


async def drain(
    settings: LrsSettings,
    within: float,
    hold_api: Callable[[], None],
    stop_consumers: Callable[[], None],
) -> list[DeadLetter] | None:
    """When the consumers have at most MOST_UNREAD_TO_HOLD records left to read, hold the API
    processes (`hold_api`: nothing new comes from them); once every consumer has read
    everything (waiting up to `within` seconds), stop them (`stop_consumers`) and copy the dead
    letters; they are returned. None when the consumers were too far behind or did not finish
    in time, or a record came between the last look and their stop (a clock's): then the API
    processes may be held and some consumers stopped; the caller lets them go on."""
    async with Backlog(settings) as backlog:
        left, _ = await backlog.unread()
        if left > MOST_UNREAD_TO_HOLD:
            group, most = max(backlog.behind.items(), key=lambda item: item[1])
            log.warning(
                "the consumers have %d records left to read (%s %d): not renewed now",
                left,
                group,
                most,
            )
            return None
        hold_api()
        if not await backlog.drained(within):
            log.warning("the consumers did not read everything within %.0fs: not renewed", within)
            return None
        stop_consumers()
        left, ends = await backlog.unread()
        if left:
            log.warning("%d records came as the consumers were stopped: not renewed", left)
            return None
        names = backlog.with_letters(ends)
    return await dead_letters(settings, names)


def partitions_by_topic(settings: LrsSettings) -> dict[str, list[TopicPartition]]:
    """Every topic of the LRS (lrs.topics.topic_specs, prefixed) with its partitions."""
    specs = topics.topic_specs(settings.topic_prefix, settings.statement_partitions)
    return {s.name: [TopicPartition(s.name, p) for p in range(s.partitions)] for s in specs}


def letter_topics(settings: LrsSettings) -> dict[str, str]:
    """Each consumed topic's (lrs.topics.CONSUMED) dead-letter topic, by the consumed one."""
    return {name: settings.topic(topics.dlq(name)) for name in topics.CONSUMED}


def with_letters(
    letters: Mapping[str, str],
    partitions: Mapping[str, list[TopicPartition]],
    ends: Mapping[TopicPartition, int],
) -> list[str]:
    """The consumed topics whose dead-letter topic (`letters`, by consumed topic) is not empty
    by its partitions' `ends`."""
    return [
        name for name, topic in letters.items() if any(ends[tp] > 0 for tp in partitions[topic])
    ]


async def letters_on_broker(settings: LrsSettings) -> list[DeadLetter]:
    """Every dead letter on the broker: read from the dead-letter topics whose ends (fetched,
    lrs.entry.ends) show records, as an empty one takes a reader seconds to call empty."""
    assert settings.kafka_bootstrap
    partitions, letters = partitions_by_topic(settings), letter_topics(settings)
    followed = [tp for topic in letters.values() for tp in partitions[topic]]
    ends = FetchedEnds(settings.kafka_bootstrap, followed)
    try:
        await ends.start()
        seen = await ends.read()
    finally:
        await ends.close()
    return await dead_letters(settings, with_letters(letters, partitions, seen))


async def dead_letters(settings: LrsSettings, names: list[str]) -> list[DeadLetter]:
    """Every dead letter of the consumed topics `names` (they are nowhere but on the broker)."""
    assert settings.kafka_bootstrap
    reader = KafkaDeadLetters(settings.kafka_bootstrap, settings.topic_prefix)
    return [letter for name in names for letter in await reader.all(Selection(topic=name))]


async def restore(settings: LrsSettings, letters: list[DeadLetter]) -> int:
    """`letters` onto the (new) broker, each as it was, to its dead-letter topic's partition."""
    assert settings.kafka_bootstrap
    return await KafkaDeadLetters(settings.kafka_bootstrap, settings.topic_prefix).restore(letters)


def kept_letters_path(settings: LrsSettings) -> Path:
    return settings.data_dir / KEPT_LETTERS_FILE


def keep(path: Path, letters: Sequence[DeadLetter]) -> None:
    """`letters` on disk, whole or not at all (written beside, synced, then renamed): between
    the old broker's end and their restore on the new one they are nowhere else, and neither
    a restore that fails nor a killed `lrs serve` may lose them (`kept` reads them back)."""
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        out.write(orjson.dumps([_letter_to_json(letter) for letter in letters]))
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


def kept(path: Path) -> list[DeadLetter]:
    """The dead letters `keep` wrote to `path`; none when there is no such file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    return [_letter_from_json(item) for item in orjson.loads(raw)]


def _letter_to_json(letter: DeadLetter) -> dict[str, Any]:
    return {
        "topic": letter.topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "time": letter.time.isoformat(),
        "key": _b64(letter.key),
        "value": _b64(letter.value),
        "headers": [[name, _b64(value)] for name, value in letter.headers],
    }


def _letter_from_json(item: dict[str, Any]) -> DeadLetter:
    return DeadLetter(
        topic=item["topic"],
        partition=item["partition"],
        offset=item["offset"],
        time=datetime.fromisoformat(item["time"]),
        key=_bytes(item["key"]),
        value=_bytes(item["value"]),
        headers=tuple((name, _bytes(value) or b"") for name, value in item["headers"]),
    )


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode()


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
