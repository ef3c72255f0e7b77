"""Decoded learner states kept between batches by the progress consumer (docs/decisions/0006,
"Known limit").

A learner's stored state holds the facts of up to `LRS_PROGRESS_HELD_FACTS` (400) of its
statements (older ones are sealed away, docs/decisions/0025), so reading and decoding it for
each batch costs up to a few milliseconds. The consumer wrote most of those states itself: it
keeps them decoded here and, on the next batch, reads only the documents' other fields.

A kept state is used only while the stored document carries the stamp the state was written
with: every write of a learner document gives it a new random stamp (the consumer's own writes,
a rebuild's reset, a document erased and created again), so a state changed by any other writer
or process is never taken from here, whatever its version number. The cache holds at most
`max_facts` facts and voided ids in all and drops the least recently used states first.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict

from lrs.progress import LearnerState


def new_stamp() -> str:
    """A stamp no earlier write of a document had (64 random bits)."""
    return secrets.token_hex(8)


def size_of(state: LearnerState) -> int:
    return len(state.facts) + len(state.voided) + 1


class StateCache:
    """Learner states by document id, each with the stamp of the write that stored it."""

    def __init__(self, max_facts: int) -> None:
        self.max_facts = max_facts
        self._entries: OrderedDict[str, tuple[str, LearnerState]] = OrderedDict()
        self._held = 0

    def get(self, key: str, stamp: object) -> LearnerState | None:
        """The state kept for `key` if it was stored with `stamp`, else None."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != stamp:
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: str, stamp: str, state: LearnerState) -> None:
        self.drop(key)
        size = size_of(state)
        if size > self.max_facts:
            return
        self._entries[key] = (stamp, state)
        self._held += size
        while self._held > self.max_facts:
            _, (_, oldest) = self._entries.popitem(last=False)
            self._held -= size_of(oldest)

    def drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._held -= size_of(entry[1])

    def clear(self) -> None:
        self._entries.clear()
        self._held = 0

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def held(self) -> int:
        """Facts and voided ids held, over all kept states."""
        return self._held
