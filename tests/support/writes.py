"""Counting the store's document writes per statement (bench/writes.py and its test).

SecantusDB's own `serverStatus().opcounters` count COMMANDS (an insert of 500 documents adds
1), not documents, so the documents are counted at the wire instead: a pymongo command
listener, registered for every client of the process, adds up the documents of each `insert`,
the statements of each `update` and `delete` (upserts included, whether or not they change
anything) and each `findAndModify`, per collection of one database. The pipeline (API,
persister, progress consumers) runs in this process, so every write of it is seen.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from typing import Any

import httpx
from pymongo import monitoring
from pymongo.asynchronous.database import AsyncDatabase

from bench.workload import Workload
from tests.support.progress import progress_docs
from tests.support.stack import xapi_headers

Doc = dict[str, Any]
__all__ = ["Workload", "counter_for", "post_all", "wait_settled"]
RETRIES = 5

# the documents a write command carries, by command name
_WRITE_ITEMS = {"insert": "documents", "update": "updates", "delete": "deletes"}


class WriteCounter(monitoring.CommandListener):
    """Documents written to each collection of one database, seen at the wire."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.documents: Counter[str] = Counter()
        self.commands: Counter[str] = Counter()
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.database:
            return
        name = event.command_name
        if name in _WRITE_ITEMS:
            items = len(event.command.get(_WRITE_ITEMS[name]) or ())
        elif name.lower() == "findandmodify":
            items = 1
        else:
            return
        collection = str(event.command.get(name))
        with self._lock:
            self.documents[collection] += items
            self.commands[collection] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None

    def snapshot(self) -> tuple[Counter[str], Counter[str]]:
        with self._lock:
            return Counter(self.documents), Counter(self.commands)

    def reset(self) -> None:
        with self._lock:
            self.documents.clear()
            self.commands.clear()


_registered: dict[str, WriteCounter] = {}


def counter_for(database: str) -> WriteCounter:
    """The counter of `database`, registered for every pymongo client created afterwards
    (pymongo has no way to unregister a global listener: one per database name)."""
    if database not in _registered:
        _registered[database] = WriteCounter(database)
        monitoring.register(_registered[database])
    return _registered[database]


async def post_all(
    http: httpx.AsyncClient, statements: list[Doc], batch: int, clients: int
) -> None:
    """POST the statements in batches, `clients` requests at a time, in order per client."""
    batches = [statements[i : i + batch] for i in range(0, len(statements), batch)]

    async def one(worker: int) -> None:
        for body in batches[worker::clients]:
            for _ in range(RETRIES):  # 503: not acknowledged; sent again with the same ids
                response = await http.post("/xapi/statements", json=body, headers=xapi_headers())
                if response.status_code != 503:
                    break
            if response.status_code != 200:
                raise AssertionError(f"POST {response.status_code}: {response.text[:300]}")

    await asyncio.gather(*(one(w) for w in range(clients)))


async def settled(db: AsyncDatabase[Doc], tenant: str, statements: int) -> bool:
    """Every statement counted by a learner, and every team agreeing with its learners."""
    learners = list((await progress_docs(db, "progress_learners", tenant)).values())
    if sum(d["summary"]["statements"] for d in learners) != statements:
        return False
    expected: dict[str, tuple[int, float]] = {}
    for d in learners:
        for team in d.get("teams") or ():
            members, seconds = expected.get(team, (0, 0.0))
            spent = d["summary"]["totals"]["time_spent_seconds"]
            expected[team] = (members + 1, seconds + spent)
    teams = {
        team: (d["summary"]["members"], d["summary"]["time_spent_seconds"])
        for team, d in (await progress_docs(db, "progress_teams", tenant)).items()
    }
    return teams.keys() == expected.keys() and all(
        teams[t][0] == m and abs(teams[t][1] - s) < 1e-6 for t, (m, s) in expected.items()
    )


async def wait_settled(
    db: AsyncDatabase[Doc], tenant: str, statements: int, within: float = 600
) -> None:
    deadline = time.monotonic() + within
    while not await settled(db, tenant, statements):
        if time.monotonic() > deadline:
            raise AssertionError("progress did not reach every statement in time")
        await asyncio.sleep(0.2)  # polling a condition, with a deadline


def per_statement(documents: Counter[str], statements: int) -> dict[str, float]:
    return {c: n / statements for c, n in sorted(documents.items())}
