"""Learner documents kept decoded between batches by the progress consumer (docs/decisions/0006,
"Known limit"; 0029).

A learner's stored state holds the facts of up to `LRS_PROGRESS_HELD_FACTS` (400) of its
statements (older ones are sealed away, docs/decisions/0025), so reading and decoding it for
each batch costs up to a few milliseconds, and reading the document at all costs the embedded
store about a quarter of one. The consumer wrote most of those documents itself: it keeps them
decoded here, with the stamp of the write that stored them, and takes them from here without
reading the store.

Every write of a learner document gives it a new random stamp (the consumer's own writes, a
rebuild's reset, a document erased and created again), and the consumer's write of a kept
document is a compare-and-set on that stamp (`lrs.adapters.mongo_bulk.compare_and_set`): a
document changed or deleted by any other writer or process meanwhile, whatever its version
number, refuses the write, and the consumer drops what it kept and reads the stored document
again. The cache holds at most `max_facts` facts and voided ids in all and drops the least
recently used documents first.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict

from lrs.ports.progress import LearnerDoc
from lrs.progress import LearnerState


def new_stamp() -> str:
    """A stamp no earlier write of a document had (64 random bits)."""
    return secrets.token_hex(8)


def size_of(state: LearnerState) -> int:
    return len(state.facts) + len(state.voided) + 1


class StateCache:
    """Learner documents by document id, each with the stamp of the write that stored it."""

    def __init__(self, max_facts: int) -> None:
        self.max_facts = max_facts
        self._entries: OrderedDict[str, tuple[str, LearnerDoc]] = OrderedDict()
        self._held = 0

    def kept(self, key: str) -> tuple[str, LearnerDoc] | None:
        """The stamp and document kept for `key`, if any (now the most recently used)."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, stamp: str, doc: LearnerDoc) -> None:
        self.drop(key)
        size = size_of(doc.state)
        if size > self.max_facts:
            return
        self._entries[key] = (stamp, doc)
        self._held += size
        while self._held > self.max_facts:
            _, (_, oldest) = self._entries.popitem(last=False)
            self._held -= size_of(oldest.state)

    def drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._held -= size_of(entry[1].state)

    def clear(self) -> None:
        self._entries.clear()
        self._held = 0

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def held(self) -> int:
        """Facts and voided ids held, over all kept documents."""
        return self._held
