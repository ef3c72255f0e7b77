"""What a recomputing consumer holds between triggers: per computed thing (a team, a tenant's
organisation), the per-learner inputs its last computation used, so that a trigger naming the
learners that changed has only those read again (docs/decisions/0033, 0034).

What is held is right as long as no change to a learner went by without this instance seeing a
trigger naming that learner, which the holders rely on in this way:

* every write of a learner's progress is followed by a trigger naming the learner; changes made
  out of band send plain triggers (`Trigger.learners` None), which make the thing read whole;
* a trigger produced after a read lands after the record being handled, so a learner that
  changes after it was read is named again later in the same partition;
* so only a gap in what this instance handled can hide a change: a partition handed to another
  instance and back, a record removed by compaction, a batch handled again. Each shows as
  offsets that do not follow on from the last ones handled (`Held.follow`), and the partition's
  things are forgotten; a document written by someone else shows as a version other than the
  one held, and that thing is read whole;
* and in any case what is held is not used once its last whole read is a minute old
  (MOST_HELD_AGE): the next computation reads every learner.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Generic, TypeVar

from consumers.runner import Poison, Record

# What is held of a thing is not used once its last whole read is this old, whatever the
# triggers say (the thing's next computation reads it whole): a bound on how long a change that
# reached no trigger (an erasure that stopped before its triggers, a team left two versions
# back, docs/decisions/0033) can stay out of a thing that keeps being triggered.
MOST_HELD_AGE = timedelta(seconds=60)

V = TypeVar("V")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Trigger:
    """What a batch's triggers say of one thing: the partition they came on, and the learners
    they name as changed (None: some trigger was plain; read every learner)."""

    partition: int
    learners: frozenset[str] | None

    def and_then(self, later: Trigger) -> Trigger:
        """This trigger and a later one of the same thing, as one."""
        if self.learners is None or later.learners is None:
            return Trigger(later.partition, None)
        return Trigger(later.partition, self.learners | later.learners)


def merged_triggers(
    records: Sequence[Record], decode: Callable[[bytes | None], tuple[K, frozenset[str] | None]]
) -> tuple[dict[K, Trigger], list[Poison]]:
    """Per thing, what a batch's trigger records say (`decode`: a record's value -> the thing
    and the learners it names, None when plain; ValueError when it is no trigger), and the
    records that are no trigger."""
    found: dict[K, Trigger] = {}
    poison: list[Poison] = []
    for record in records:
        try:
            key, learners = decode(record.value)
        except ValueError as exc:  # orjson.JSONDecodeError is one
            poison.append(Poison(record, exc))
            continue
        before = found.get(key, Trigger(record.partition, frozenset()))
        found[key] = before.and_then(Trigger(record.partition, learners))
    return found, poison


@dataclass
class _Entry(Generic[V]):
    partition: int
    version: int  # of the document the values gave
    values: dict[str, V]
    size: int  # about what the values take in memory, in bytes
    read_at: datetime  # when every value was last read


class Held(Generic[V]):
    """Per key, the values (per learner) its last computation used, with the version of the
    document it wrote or found, for the partitions this instance handles; about `most_bytes`
    in all (`weigh`: about what some values take, in bytes), the least recently used first to
    go (a larger one is never held)."""

    def __init__(self, weigh: Callable[[Mapping[str, V]], int], most_bytes: int) -> None:
        self._weigh = weigh
        self._most_bytes = most_bytes
        self._entries: OrderedDict[Hashable, _Entry[V]] = OrderedDict()
        self._size = 0
        self._next_offset: dict[int, int] = {}

    def follow(self, records: Sequence[Record]) -> None:
        """Note a batch about to be handled; forget what came from each partition whose offsets
        do not follow on, without a gap, from the last batch's."""
        offsets: dict[int, list[int]] = {}
        for record in records:
            offsets.setdefault(record.partition, []).append(record.offset)
        for partition, seen in offsets.items():
            seen.sort()
            follows = self._next_offset.get(partition) == seen[0]
            if not follows or any(b != a + 1 for a, b in pairwise(seen)):
                self.drop_partition(partition)
            self._next_offset[partition] = seen[-1] + 1

    def values(
        self, key: Hashable, version: int, now: datetime, partition: int
    ) -> dict[str, V] | None:
        """A copy of the values held for `key`, if they came from the triggers of `partition`
        (a key that moved to another partition, when partitions are added, had its triggers
        there handled by another instance), gave its document at `version` and were last
        read whole less than MOST_HELD_AGE before `now`."""
        entry = self._entries.get(key)
        if entry is None or entry.partition != partition or entry.version != version:
            return None
        if now - entry.read_at >= MOST_HELD_AGE:
            return None
        self._entries.move_to_end(key)
        return dict(entry.values)

    def hold(
        self,
        key: Hashable,
        partition: int,
        version: int,
        values: Mapping[str, V],
        read_at: datetime | None,
    ) -> None:
        """Hold the values of `key`; `read_at`: when they were all read, None when only some
        were (the whole read before stays the one that counts)."""
        before = self._entries.get(key)
        self.drop(key)
        size = self._weigh(values)
        whole_read = read_at or (before.read_at if before else None)
        if size > self._most_bytes or whole_read is None:
            return
        self._entries[key] = _Entry(partition, version, dict(values), size, whole_read)
        self._size += size
        while self._size > self._most_bytes:
            _, oldest = self._entries.popitem(last=False)
            self._size -= oldest.size

    def drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._size -= entry.size

    def drop_partition(self, partition: int) -> None:
        """Forget what came from `partition` (a batch of it held a record that was not a
        trigger: whatever it said is unknown)."""
        for key in [k for k, entry in self._entries.items() if entry.partition == partition]:
            self.drop(key)
