"""Query benchmark: GET /statements' store queries at N stored statements. Prints numbers and
the store's `explain` of every query issued; asserts nothing about speed.

Loads N seeded statements (default 100,000) straight into the store through the store adapter
(`MongoStatementStore.insert_many`, batches of 1,000; no API, no broker, to save time), then
times `MongoStatementStore.query` (what GET /xapi/statements calls) for:

  first page (no filter, newest first), the next three `more` pages, an agent-filtered page,
  the same agent and an activity with `related_agents` / `related_activities` (one store
  range per key prefix, docs/decisions/0027), a verb+activity page, a `since` page (the last
  hour), an ascending `since` page.

Workload: 200 learners, 20 activities, 5 verbs, every 10 statements share one `stored` (one
POST batch), `stored` spread evenly over the last `--spread` seconds (default one day), 1% of
statements voided later. Starts its own SecantusDB in a temporary directory unless
--mongodb-uri is given.

Usage: python bench/queries.py [--n 100000] [--repeat 20] [--spread 86400] [--mongodb-uri URI]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pymongo import InsertOne

from bench.common import pct
from lrs.adapters.mongo_bulk import bulk_write_tolerating_duplicates
from lrs.adapters.mongo_store import MongoStatementStore, connect, to_document
from lrs.entry.embedded import free_port, start_and_wait, store_child
from lrs.ports.statements import AcceptedStatement
from lrs.xapi.ifi import actor_ifi
from lrs.xapi.index import VOIDED_VERB, agent_key
from lrs.xapi.query import StatementQuery
from tests.support.factories import activity, agent, statement, voiding

TENANT = "bench"
VERBS = ("attempted", "experienced", "completed", "passed", "failed")
BATCH = 1000
SAME_STORED = 10
Doc = dict[str, Any]


@dataclass
class Recorder:
    """Every `find` the adapter sends to the statements collection, for `explain`."""

    finds: list[Doc] = field(default_factory=list)
    on: bool = False


class RecordingCollection:
    """The statements collection, noting each `find`'s filter, sort and limit."""

    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self._inner = inner
        self._recorder = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        return RecordingCursor(self._inner.find(*args, **kwargs), args[0], self._recorder)


class RecordingCursor:
    def __init__(self, inner: Any, flt: Doc, recorder: Recorder) -> None:
        self._inner = inner
        self._command: Doc = {"find": "statements", "filter": flt}
        self._recorder = recorder
        if recorder.on:
            recorder.finds.append(self._command)

    def sort(self, spec: list[tuple[str, int]]) -> RecordingCursor:
        self._command["sort"] = dict(spec)
        self._inner = self._inner.sort(spec)
        return self

    def limit(self, n: int) -> RecordingCursor:
        self._command["limit"] = n
        self._inner = self._inner.limit(n)
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __aiter__(self) -> Any:
        return self._inner.__aiter__()


def workload(n: int, seed: int, spread: float, now: datetime) -> list[AcceptedStatement]:
    rng = random.Random(seed)
    courses = [activity(f"course/{i}", f"Course {i}") for i in range(20)]
    records = []
    for i in range(n):
        moment = now - timedelta(seconds=spread * (1 - (i // SAME_STORED) * SAME_STORED / n))
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        doc = statement(rng.randrange(200), rng.choice(VERBS), rng.choice(courses))
        doc["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        records.append(accepted(doc, moment))
    for target in rng.sample(records, n // 100):
        doc = voiding(target.statement_id, learner=0)
        records.append(accepted(doc, target.stored + timedelta(seconds=1)))
    records.sort(key=lambda r: r.stored)
    return records


def accepted(doc: Doc, stored: datetime) -> AcceptedStatement:
    full = {**doc, "stored": stored.isoformat(), "authority": agent("auth"), "version": "1.0.0"}
    return AcceptedStatement(TENANT, full, stored, actor_ifi(full["actor"]))


async def load(store: MongoStatementStore, db: Any, records: list[AcceptedStatement]) -> float:
    """Plain statements as the adapter's own documents (`to_document`) in bulk; the voiding
    statements through `insert_many`, so voiding is done by the adapter's write path."""
    started = time.perf_counter()
    plain = [r for r in records if r.statement["verb"]["id"] != VOIDED_VERB]
    for start in range(0, len(plain), BATCH):
        docs = [InsertOne(to_document(r)) for r in plain[start : start + BATCH]]
        await bulk_write_tolerating_duplicates(db["statements"], docs)  # a retried batch
    voids = [r for r in records if r.statement["verb"]["id"] == VOIDED_VERB]
    for start in range(0, len(voids), BATCH):
        await store.insert_many(voids[start : start + BATCH])
    return time.perf_counter() - started


Query = Callable[[], Awaitable[Any]]


async def timed(label: str, run: Query, repeat: int, recorder: Recorder) -> list[Doc]:
    await run()  # once unrecorded: the plans shown are those of a page like the last
    recorder.finds.clear()
    recorder.on = True
    await run()
    recorder.on = False
    finds = list(recorder.finds)
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        durations.append(time.perf_counter() - started)
    print(
        f"{label:<28} p50 {pct(durations, 0.5):8.1f} ms   p95 {pct(durations, 0.95):8.1f} ms"
        f"   finds/query {len(finds)}"
    )
    return finds


async def explain(db: Any, command: Doc) -> str:
    """One line: the plan's stages, index, and the documents and keys examined."""
    reply = await db.command({"explain": command, "verbosity": "executionStats"})
    plan = reply["queryPlanner"]["winningPlan"]
    stages, node = [], plan
    while node:
        stages.append(node["stage"] + (f"({node['indexName']})" if "indexName" in node else ""))
        node = node.get("inputStage")
    stats = reply["executionStats"]
    return (
        f"{' > '.join(stages)}  keysExamined {stats['totalKeysExamined']}"
        f"  docsExamined {stats['totalDocsExamined']}  nReturned {stats['nReturned']}"
    )


async def scenarios(
    store: MongoStatementStore, records: list[AcceptedStatement]
) -> dict[str, Query]:
    """The queries timed, each a closure; the `more` pages follow the first page's cursor."""
    one = records[len(records) // 2].statement
    who = agent_key(one["actor"])
    since = records[-1].stored - timedelta(hours=1)
    first = StatementQuery(limit=100)
    cursors = []
    query = first
    for _ in range(3):
        cursor = (await store.query(TENANT, query)).next_cursor
        assert cursor is not None, "fewer than four pages stored"
        cursors.append(cursor)
        query = first.after(cursor)

    def page(query: StatementQuery) -> Query:
        return lambda: store.query(TENANT, query)

    return {
        "first page": page(first),
        "more page 1": page(first.after(cursors[0])),
        "more page 2": page(first.after(cursors[1])),
        "more page 3": page(first.after(cursors[2])),
        "agent page": page(StatementQuery(limit=100, agent=who)),
        "related agent page": page(StatementQuery(limit=100, agent=who, related_agents=True)),
        "related activity page": page(
            StatementQuery(limit=100, activity=one["object"]["id"], related_activities=True)
        ),
        "verb+activity page": page(
            StatementQuery(limit=100, verb=one["verb"]["id"], activity=one["object"]["id"])
        ),
        "since page (last hour)": page(StatementQuery(limit=100, since=since)),
        "since page, ascending": page(StatementQuery(limit=100, since=since, ascending=True)),
    }


@asynccontextmanager
async def a_store(uri: str | None) -> AsyncIterator[str]:
    if uri:
        yield uri
        return
    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        child = store_child(port, Path(data) / "store")
        start_and_wait(child, port)
        try:
            yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
        finally:
            child.stop()


async def main(args: argparse.Namespace) -> None:
    async with a_store(args.mongodb_uri) as uri:
        client = connect(uri)
        db = client[f"bench_queries_{uuid.uuid4().hex[:8]}"]
        store = MongoStatementStore(db)
        await store.create_indexes()
        recorder = Recorder()
        store._statements = RecordingCollection(store._statements, recorder)  # type: ignore[assignment]
        records = workload(args.n, args.seed, args.spread, datetime.now(UTC))
        seconds = await load(store, db, records)
        print(f"loaded {len(records)} statements through the store adapter in {seconds:.1f} s")
        explained: dict[str, list[Doc]] = {}
        for label, run in (await scenarios(store, records)).items():
            explained[label] = await timed(label, run, args.repeat, recorder)
        print("\nexplain (executionStats) of every find each query sent:")
        for label, finds in explained.items():
            print(f"{label}:")
            for command in finds:
                print(f"  {await explain(db, command)}")
        await client.drop_database(db.name)
        await client.close()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--n", type=int, default=100_000, help="statements to load")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per query")
    parser.add_argument("--spread", type=float, default=86_400.0, help="seconds of `stored`")
    parser.add_argument("--mongodb-uri", default=None, help="an existing store (else embedded)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
