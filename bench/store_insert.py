"""What one statement insert and one learner-progress write cost the embedded store
(SecantusDB), by layout.

The floor under any LRS on this store: each statement is inserted once. Starts a fresh
SecantusDB, inserts the seeded workload's statements in batches (journaled, as `lrs serve`
writes) into collections indexed as this LRS indexes `statements` (and as before
docs/decisions/0028, with `voids` and `ref` under indexes of their own; keys as written now, and
as written before docs/decisions/0027, with each filter value repeated), with fewer indexes,
and as a synchronous LRS that keeps one document per statement with one secondary index on the
statement id (Ralph's layout); prints the store process's CPU per inserted statement. Then the
workload's learner-progress documents (folded by the progress model, as the progress consumer
writes them) are written again in bulk compare-and-set writes, as the consumer writes them,
under the secondary indexes of `progress_learners` today (`tenant_links`), under the two that
came before it (docs/decisions/0026), and under none; and with the summary as a sub-document,
as earlier versions stored it.
Prints numbers, asserts nothing.

    python bench/store_insert.py [--statements N] [--batch B]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.write_concern import WriteConcern

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_average, machine
from bench.procstat import cpu_seconds
from bench.workload import Workload
from consumers.progress.learner import LearnerProgress
from lrs.adapters.memory_progress import InMemoryProgressStore
from lrs.adapters.mongo_bulk import compare_and_set
from lrs.adapters.mongo_progress import learner_to_mongo, summary_fields
from lrs.adapters.mongo_store import KEYS_INDEX, STORED_INDEX, to_document
from lrs.adapters.state_cache import new_stamp
from lrs.entry.embedded import free_port, start_and_wait, store_child
from lrs.ports.credentials import Principal
from lrs.services.ingest import prepare
from lrs.xapi.index import index_statement

Doc = dict[str, Any]
WHO = Principal(
    "default",
    "bench",
    frozenset({"statements/write", "define"}),
    {"objectType": "Agent", "account": {"homePage": "http://bench.example", "name": "bench"}},
)


class Deps:
    """What `prepare` reads: a clock and an id factory."""

    def clock(self) -> datetime:
        return datetime.now(UTC)

    def new_id(self) -> str:
        return str(uuid.uuid4())


def ours(statements: Sequence[Doc]) -> list[Doc]:
    records = prepare(statements, WHO, "2.0.0", Deps())  # type: ignore[arg-type]
    return [to_document(r) for r in records]


def ours_repeated(statements: Sequence[Doc]) -> list[Doc]:
    """As this LRS stored statements before docs/decisions/0027: every related agent and
    activity under `ragent|` / `ractivity|` too, the actor, authority and object included."""
    docs = ours(statements)
    for doc in docs:
        index = index_statement(orjson.loads(bytes(doc["body"])))
        related = [f"ragent|{a}" for a in index.related_agents]
        related += [f"ractivity|{a}" for a in index.related_activities]
        doc["keys"] = list(dict.fromkeys([*doc["keys"], *related]))
    return docs


def ralph_like(statements: Sequence[Doc]) -> list[Doc]:
    """One document per statement: the statement under `_source`, an own `_id`."""
    records = prepare(statements, WHO, "2.0.0", Deps())  # type: ignore[arg-type]
    return [{"_id": str(uuid.uuid4()), "_source": r.statement} for r in records]


def our_indexes(leave_out: frozenset[str] = frozenset()) -> list[IndexModel]:
    """The secondary indexes of `statements` today, but those named in `leave_out`."""
    stored = ("tenant", "voided", "stored", "id")
    keys = ("tenant", "keys", "voided", "stored", "id")
    models = {
        STORED_INDEX: IndexModel([(f, ASCENDING) for f in stored], name=STORED_INDEX),
        KEYS_INDEX: IndexModel([(f, ASCENDING) for f in keys], name=KEYS_INDEX),
    }
    return [m for name, m in models.items() if name not in leave_out]


def links_indexed_apart() -> list[IndexModel]:
    """As before docs/decisions/0028: `voids` and `ref` under indexes of their own."""
    voids = IndexModel([("tenant", 1), ("voids", 1)], name="tenant_voids")
    return [*our_indexes(), voids, IndexModel([("tenant", 1), ("ref", 1)], name="tenant_ref")]


# Each layout of ours in turn with the one before it: one run of a layout is noisy.
LAYOUTS: list[tuple[str, Callable[[Sequence[Doc]], list[Doc]], list[IndexModel]]] = [
    ("this LRS: 2 secondary indexes", ours, our_indexes()),
    ("voids and ref indexed apart (before 0028)", ours, links_indexed_apart()),
    ("this LRS: 2 secondary indexes, again", ours, our_indexes()),
    ("voids and ref indexed apart, again", ours, links_indexed_apart()),
    ("the same, filter values repeated (before 0027)", ours_repeated, links_indexed_apart()),
    ("this LRS without the filter-keys index", ours, our_indexes(frozenset({KEYS_INDEX}))),
    ("this LRS: _id only", ours, []),
    ("Ralph-like: _source.id index", ralph_like, [IndexModel([("_source.id", 1)])]),
]


async def measure(
    uri: str, store_pid: int, name: str, docs: list[Doc], indexes: list[IndexModel], batch: int
) -> tuple[float, float]:
    """(store CPU µs, wall µs) per inserted document."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(uri)
    try:
        db = client["bench_store_insert"]
        collection = db.get_collection(name, write_concern=WriteConcern(j=True))
        if indexes:
            await collection.create_indexes(indexes)
        await collection.insert_many(docs[:batch], ordered=False)  # warm-up, not counted
        rest = docs[batch:]
        cpu_before, started = cpu_seconds(store_pid) or 0.0, time.perf_counter()
        for start in range(0, len(rest), batch):
            await collection.insert_many(rest[start : start + batch], ordered=False)
        wall = time.perf_counter() - started
        cpu = (cpu_seconds(store_pid) or 0.0) - cpu_before
        return cpu / len(rest) * 1e6, wall / len(rest) * 1e6
    finally:
        await client.close()


async def learner_docs(statements: int) -> list[Doc]:
    """The workload's learner-progress documents as the progress consumer stores them."""
    store = InMemoryProgressStore()
    folding = LearnerProgress(store, lambda: datetime.now(UTC))
    records = prepare(Workload(seed=11).statements(statements), WHO, "2.0.0", Deps())  # type: ignore[arg-type]
    for start in range(0, len(records), 100):
        batch = records[start : start + 100]
        await folding.apply_statements("default", [r.statement for r in batch])
    return [learner_to_mongo(d, datetime.now(UTC), new_stamp()) for d in store.learners.values()]


def summary_as_fields(doc: Doc) -> Doc:
    """The document as versions before 2026-12-01 stored it: the summary as a sub-document."""
    return {**doc, "summary": summary_fields(doc)}


LEARNER_INDEXES: dict[str, list[IndexModel]] = {
    "tenant_links": [IndexModel([("tenant", 1), ("links", 1)], name="tenant_links")],
    "tenant_teams, group_members": [
        IndexModel([("tenant", 1), ("teams", 1)], name="tenant_teams"),
        IndexModel([("members", 1)], name="group_members", sparse=True),
    ],
    "none": [],
}


async def measure_replaces(
    uri: str, store_pid: int, name: str, docs: list[Doc], indexes: list[IndexModel], rounds: int
) -> tuple[float, float]:
    """(store CPU µs, wall µs) per written document: each document `rounds` times, in bulk
    writes of 50 compare-and-set writes (`lrs.adapters.mongo_bulk.compare_and_set`), each
    bulk write unjournaled and followed by one journaled write (the journal fence), as the
    progress consumer writes them."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(uri)
    try:
        db = client["bench_store_insert"]
        collection = db.get_collection(name, write_concern=WriteConcern(j=False))
        fences = db.get_collection("journal_fences", write_concern=WriteConcern(j=True))
        if indexes:
            await collection.create_indexes(indexes)
        await collection.insert_many(docs, ordered=False)
        cpu_before, started = cpu_seconds(store_pid) or 0.0, time.perf_counter()
        for round_ in range(rounds):
            ops = [
                compare_and_set(d["_id"], d["version"] + round_, next_version(d, round_))
                for d in docs
            ]
            for start in range(0, len(ops), 50):
                await collection.bulk_write(ops[start : start + 50], ordered=False)
                await fences.update_one({"_id": name}, {"$inc": {"seals": 1}}, upsert=True)
        wall = time.perf_counter() - started
        cpu = (cpu_seconds(store_pid) or 0.0) - cpu_before
        count = rounds * len(docs)
        return cpu / count * 1e6, wall / count * 1e6
    finally:
        await client.close()


def next_version(doc: Doc, round_: int) -> Doc:
    return {**doc, "version": doc["version"] + round_ + 1}


async def run(uri: str, store_pid: int, statements: int, batch: int) -> None:
    workload = Workload(seed=11)
    print(f"{statements} statements per layout (the first batch of {batch} not counted)")
    print(f"{'statement insert':<52} {'store CPU µs/stmt':>18} {'wall µs/stmt':>13}")
    for n, (label, build, indexes) in enumerate(LAYOUTS):
        docs = build(workload.statements(statements))
        cpu, wall = await measure(uri, store_pid, f"layout{n}", docs, indexes, batch)
        print(f"{label:<52} {cpu:>18.0f} {wall:>13.0f}")
    learners = await learner_docs(statements)
    size = sum(len(orjson.dumps(d, default=str)) for d in learners) // len(learners)
    print(f"{len(learners)} learner-progress documents of about {size} bytes, each written 5 times")
    print(f"{'learner-progress write':<52} {'store CPU µs/doc':>18} {'wall µs/doc':>13}")
    as_fields = [summary_as_fields(d) for d in learners]
    layouts = [(f"as stored, indexes: {k}", learners, v) for k, v in LEARNER_INDEXES.items()]
    layouts.append(("summary as fields, tenant_links", as_fields, LEARNER_INDEXES["tenant_links"]))
    cases = layouts * 2  # each layout twice, in turn: one run of a layout is noisy
    for n, (label, docs, indexes) in enumerate(cases):
        cpu, wall = await measure_replaces(uri, store_pid, f"learners{n}", docs, indexes, 5)
        print(f"{label:<52} {cpu:>18.0f} {wall:>13.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {load_average()}")
    with fresh_store() as (uri, store_pid):
        asyncio.run(run(uri, store_pid, args.statements, args.batch))
    print(f"load average after: {load_average()}")


@contextmanager
def fresh_store() -> Iterator[tuple[str, int]]:
    """(URI, pid) of a fresh SecantusDB started as `lrs serve` starts it (512 MB of cache;
    the URI asks for journaled writes), killed afterwards."""
    with tempfile.TemporaryDirectory(prefix="lrs-bench-store-") as scratch:
        port = free_port()
        store = store_child(port, Path(scratch) / "store", Path(scratch) / "store.log", 512)
        start_and_wait(store, port)
        try:
            assert store.pid is not None
            yield f"mongodb://127.0.0.1:{port}/?directConnection=true&journal=true", store.pid
        finally:
            store.kill()


if __name__ == "__main__":
    main()
