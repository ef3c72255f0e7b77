"""Waking requests when their statements are stored, without polling.

One change stream per API process watches inserts into `statements`; a request registers the
document ids it waits for and is woken when the last of them is inserted. Where change streams
are unavailable (a standalone mongod), waiters fall back to a slow poll, so correctness never
depends on the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

log = logging.getLogger("lrs.adapters.mongo")
RETRY_SECONDS = 1.0
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
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="statement-insert-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def register(self, doc_ids: Iterable[str]) -> Waiter:
        waiter = Waiter(doc_ids)
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

    async def _run(self) -> None:
        while True:
            try:
                async with await self._collection.watch(PIPELINE) as stream:
                    self.ready.set()
                    async for event in stream:
                        self._wake(event["documentKey"]["_id"])
            except PyMongoError as exc:
                self.ready.clear()
                log.warning("statement change stream unavailable (%s); waiters poll", exc)
                await asyncio.sleep(RETRY_SECONDS)

    def _wake(self, doc_id: str) -> None:
        for waiter in list(self._waiters.get(doc_id, ())):
            waiter.seen(doc_id)
