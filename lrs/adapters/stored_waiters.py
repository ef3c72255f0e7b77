"""Waking requests when their statements are stored, without asking the store.

The persister forwards every statement it stored to `lrs.statements.stored`, with its document
id (`<tenant>/<statement id>`) as the `ce_id` header (`lrs.codec.encode_accepted`). Each API
process's Kafka feed (`lrs.adapters.kafka_progress_feed`) reads that topic and tells
`StoredWaiters` every id it sees, with the record; a request waiting for its statements
(`MongoStatementStore.wait_stored`) registers their ids here and is woken when the last of them
has been seen. The record is the statement as the store holds it (the persister forwards it
only once the store acknowledged its insert, journaled under `lrs serve`, and an equivalent
replay as the store had it), so a waiter keeps it and the request is answered from it without
reading the store; a waiter that was not handed every statement (a record it could not decode,
an id seen before it registered, a feed that restarted) reads the store. This used to be a
change stream on `statements`: on the embedded store its getMores were 12% of the store's
command time under load (docs/decisions/0002); then a read of the store after each wake-up,
about 8% of it.

Every waiter is woken to read when the feed (re)starts, since what was forwarded while it was
down is not seen; and waiters also read the store slowly on their own (every 2 s while the feed
is up, every 0.25 s while it is not: `ready`), so correctness never depends on the feed.

The last `RECENT_IDS` ids seen are remembered: a request registers after the broker
acknowledged its statements, and the persister may have stored and forwarded them (and the
feed read them) in between; such a waiter is done at once instead of missing its wake-up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any

from lrs.codec import accepted_statement_unchecked

RECENT_IDS = 20_000  # ids seen stored that a late registration still finds (a few seconds')


class Waiter:
    """The ids one request is waiting for; `done` is set when all have been seen stored (or
    when every waiter is asked to read the store: `pending` then still holds ids)."""

    def __init__(self, doc_ids: Iterable[str]) -> None:
        self.pending = set(doc_ids)
        self.done = asyncio.Event()
        # The stored statements the feed handed over, by statement id (shared between the
        # waiters of one id: read only).
        self.statements: dict[str, dict[str, Any]] = {}
        if not self.pending:
            self.done.set()

    def seen(self, doc_id: str, statement: dict[str, Any] | None = None) -> None:
        if statement is not None:
            self.statements[str(statement["id"])] = statement
        self.pending.discard(doc_id)
        if not self.pending:
            self.done.set()


class StoredWaiters:
    """The requests of one API process waiting for their statements to be stored."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[Waiter]] = {}
        self._recent: deque[str] = deque()
        self._recent_set: set[str] = set()
        self.ready = asyncio.Event()  # set while a feed tells what is stored

    def register(self, doc_ids: Iterable[str]) -> Waiter:
        waiter = Waiter(doc_ids)
        for doc_id in waiter.pending & self._recent_set:
            waiter.seen(doc_id)
        for doc_id in waiter.pending:
            self._waiters.setdefault(doc_id, set()).add(waiter)
        return waiter

    def unregister(self, waiter: Waiter, doc_ids: Iterable[str]) -> None:
        for doc_id in doc_ids:
            waiting = self._waiters.get(doc_id)
            if waiting is not None:
                waiting.discard(waiter)
                if not waiting:
                    del self._waiters[doc_id]

    def stored(self, doc_id: str, value: bytes | None = None) -> None:
        """The persister stored (or holds) `doc_id`, forwarded as `value` (the accepted-statement
        envelope): wake whoever waits for it, handing over the statement when it decodes."""
        self._remember(doc_id)
        waiting = list(self._waiters.get(doc_id, ()))
        if not waiting:
            return
        statement = accepted_statement_unchecked(value)
        for waiter in waiting:
            waiter.seen(doc_id, statement)

    def feed_up(self) -> None:
        """A feed now tells what is stored; what was stored before it is not seen, so every
        waiter reads the store now instead of at its slow safety read."""
        self.ready.set()
        for waiters in list(self._waiters.values()):
            for waiter in waiters:
                waiter.done.set()

    def feed_down(self) -> None:
        self.ready.clear()

    def _remember(self, doc_id: str) -> None:
        if doc_id in self._recent_set:
            return
        if len(self._recent) >= RECENT_IDS:
            self._recent_set.discard(self._recent.popleft())
        self._recent.append(doc_id)
        self._recent_set.add(doc_id)
