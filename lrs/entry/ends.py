"""How far a consumer group has read on the embedded broker: the partitions' true ends (high
watermarks of fetch responses), a group's committed offsets, and what lies between.

Tansu answers ListOffsets (aiokafka's `end_offsets`) with the first offset of a partition's
last record batch plus one, short of the end whenever that batch holds several records
(measured: 24 records produced in five batches, `end_offsets` 19; docs/decisions/0032). The
high watermark each fetch response carries is right (the persister's Consistent-Through relies
on it, docs/decisions/0003). So a group-less client follows the partitions from just before
what ListOffsets answers (it fetches little) and drops the records it gets. Between two reads
its partitions are paused: a follower fetching all the time cost the supervisor about 3% of a
core, and the broker as much again, while `lrs serve` sat idle (docs/decisions/0021).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

K = TypeVar("K")

# The broker's longest hold of the follower's empty fetch (Tansu answers after half of it).
FETCH_WAIT_MS = 20
READ_TIMEOUT_SECONDS = 10.0  # a broker that answers no fetch for this long: TimeoutError


class FetchedEnds:
    """Follows `partitions` on the broker at `bootstrap`; `read` gives their ends."""

    def __init__(self, bootstrap: str, partitions: Sequence[TopicPartition]) -> None:
        self.partitions = sorted(partitions)
        self.follower = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=FETCH_WAIT_MS,
        )
        self._reading = asyncio.Lock()  # one read at a time: each pauses the partitions after it

    async def start(self) -> None:
        await self.follower.start()
        self.follower.assign(self.partitions)
        listed = await self.follower.end_offsets(self.partitions)
        for tp in self.partitions:
            self.follower.seek(tp, max(0, listed[tp] - 1))
        self.follower.pause(*self.partitions)  # fetching only while `read` waits

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.follower.stop()

    async def read(self) -> dict[TopicPartition, int]:
        """Every partition's end, from a fetch sent after this call: for each partition, the
        second fetch response processed from now on (the first may answer a request sent
        before). TimeoutError after READ_TIMEOUT_SECONDS without them. Reads made at once
        run one after the other."""
        async with self._reading:
            return await self._read()

    async def _read(self) -> dict[TopicPartition, int]:
        seen = {tp: self.follower.last_poll_timestamp(tp) for tp in self.partitions}
        answers = dict.fromkeys(self.partitions, 0)
        self.follower.resume(*self.partitions)
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                while min(answers.values()) < 2:
                    await self.follower.getmany(timeout_ms=FETCH_WAIT_MS)
                    for tp in self.partitions:
                        stamp = self.follower.last_poll_timestamp(tp)
                        if stamp is not None and stamp != seen.get(tp):
                            seen[tp] = stamp
                            answers[tp] += 1
        finally:
            self.follower.pause(*self.partitions)
        return {tp: self._highwater(tp) for tp in self.partitions}

    def _highwater(self, tp: TopicPartition) -> int:
        highwater: int | None = self.follower.highwater(tp)
        if highwater is None:  # aiokafka sets it from every fetch response
            raise RuntimeError(f"no high watermark for {tp} after two fetch responses")
        return highwater


async def committed_offsets(
    group: AIOKafkaConsumer, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """The offsets `group` (a client with the group's id, subscribed to nothing, so it never
    joins the group; the admin client's OffsetFetch is refused by the embedded broker) has
    committed on `partitions`; a partition without a commit is left out."""
    committed: dict[TopicPartition, int] = {}
    for tp in partitions:
        offset = await group.committed(tp)
        if offset is not None:
            committed[tp] = offset
    return committed


def unread(ends: Mapping[K, int], committed: Mapping[K, int]) -> int:
    """Records below `ends` not covered by `committed` (a partition without a commit: all of
    its records; a partition with nothing on it needs none)."""
    return sum(max(0, end - committed.get(partition, 0)) for partition, end in ends.items())
