"""Waking requests when their statements are stored, without polling the collection.

One change stream per API process watches inserts into `statements` (after an empty answer it
asks again only after EMPTY_ANSWER_PAUSE_SECONDS); a request registers the
document ids it waits for and is woken when the last of them is inserted, and every waiter is
woken when the stream is (re)opened, since inserts made while it was closed were not seen.
Waiters also poll slowly (`MongoStatementStore.wait_stored`), so correctness never depends on
the stream.

The watcher remembers the last `RECENT_IDS` ids it saw inserted: a request registers after the
broker acknowledged its statements, and the persister may have inserted them (and the event
arrived) in between; such a waiter is done at once instead of missing its wake-up. What the
waiter is finally told comes from a read of the store, never from this memory.

The stream runs as a `lrs.background.BackgroundTask`: whatever ends it (the store going away,
an event it cannot read, a bug) is logged and counted, and the stream is opened again with
backoff; while it is not open the API's /readyz answers 503. On a server without change streams
(a standalone mongod refuses them with code 40573) the task counts as up and waiters poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from lrs.background import BackgroundTask

log = logging.getLogger("lrs.adapters.mongo")
TASK_NAME = "statement-insert-watcher"
RESTART_INITIAL_SECONDS = 0.25
RESTART_MAX_SECONDS = 5.0  # small: a store back from an outage is watched again within seconds
CHANGE_STREAMS_UNSUPPORTED = frozenset({40573})
# After an empty answer the next getMore waits this long: a store that answers a change
# stream's getMore at every write of any collection (SecantusDB) is asked at most ~50 times a
# second per API process instead of once per write (docs/decisions/0023); a store that waits for
# a matching event (MongoDB, up to maxAwaitTimeMS) answers empty rarely, so it costs nothing.
# An insert landing during the pause is seen at most this much later.
EMPTY_ANSWER_PAUSE_SECONDS = 0.02
RECENT_IDS = 20_000  # ids seen inserted that a late registration still finds (a few seconds')
PIPELINE: list[dict[str, Any]] = [
    {"$match": {"operationType": "insert"}},
    {"$project": {"documentKey": 1}},
]


class Waiter:
    """The ids one request is waiting for; `done` is set when all have been seen inserted."""

    def __init__(self, doc_ids: Iterable[str]) -> None:
        self.pending = set(doc_ids)
        self.done = asyncio.Event()
        if not self.pending:
            self.done.set()

    def seen(self, doc_id: str) -> None:
        self.pending.discard(doc_id)
        if not self.pending:
            self.done.set()


class InsertWatcher:
    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._collection = collection
        self._waiters: dict[str, set[Waiter]] = {}
        self._recent: deque[str] = deque()
        self._recent_set: set[str] = set()
        self.task = BackgroundTask(
            TASK_NAME,
            self._watch,
            initial=RESTART_INITIAL_SECONDS,
            cap=RESTART_MAX_SECONDS,
        )
        self.ready = asyncio.Event()  # set while the change stream is open

    def start(self) -> None:
        self.task.start()

    async def stop(self) -> None:
        await self.task.stop()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[InsertWatcher]:
        """The change stream open (and reopened) until exit: for API processes only."""
        self.start()
        try:
            yield self
        finally:
            await self.stop()

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

    async def _watch(self, up: Callable[[], None]) -> None:
        """One session: open the change stream and wake waiters until it fails."""
        try:
            async with await self._collection.watch(PIPELINE) as stream:
                self.ready.set()
                up()
                self._wake_all_to_read()  # inserts while it was closed were not seen
                while stream.alive:
                    event = await stream.try_next()
                    if event is None:  # an empty answer: let writes gather before asking again
                        await asyncio.sleep(EMPTY_ANSWER_PAUSE_SECONDS)
                        continue
                    self._wake(event["documentKey"]["_id"])
        except OperationFailure as exc:
            if exc.code not in CHANGE_STREAMS_UNSUPPORTED:
                raise
            log.warning("the store has no change streams (%s); waiters poll", exc)
            up()
            await asyncio.Event().wait()  # nothing to watch, ever: stay up until stopped
        finally:
            self.ready.clear()

    def _wake(self, doc_id: str) -> None:
        self._remember(doc_id)
        for waiter in list(self._waiters.get(doc_id, ())):
            waiter.seen(doc_id)

    def _wake_all_to_read(self) -> None:
        for waiters in list(self._waiters.values()):
            for waiter in waiters:
                waiter.done.set()

    def _remember(self, doc_id: str) -> None:
        if doc_id in self._recent_set:
            return
        if len(self._recent) >= RECENT_IDS:
            self._recent_set.discard(self._recent.popleft())
        self._recent.append(doc_id)
        self._recent_set.add(doc_id)
