"""What a learner's history costs the progress pipeline, per statement: prints numbers,
asserts nothing.

A learner's progress document held the facts of every live statement of the learner
(docs/decisions/0006, "Known limit"); it now holds at most LRS_PROGRESS_HELD_FACTS of them and
seals the older ones away (docs/decisions/0025). Before that, what one more statement cost grew
with the learner's history. For each history length H this script starts a fresh SecantusDB (as
`lrs serve` does, journaled writes), stores `--learners` learner-progress documents of H
statements each (folded by the progress consumer's own code, `LearnerProgress`, on the real
MongoDB adapter), then measures:

- one more statement of one learner, as the progress consumer handles it (load the
  document, fold, summarize, write back with compare-and-set, seal): this process's CPU and
  the store's CPU, per statement;
- one recomputation's read of the organisation consumer (`MongoOrganisationProgress.learners`,
  what `organisation-progress` reads for a tenant on every trigger): this process's CPU and the
  store's, per call.

Usage: python bench/progress_history.py [--learners N] [--histories 10,100,1000] [--samples S]
                                        [--kept-facts F] [--held-facts F]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_average, machine
from bench.procstat import cpu_of
from bench.store_insert import WHO, Deps, fresh_store
from bench.workload import Workload
from consumers.progress.learner import LearnerProgress
from lrs.adapters.mongo_organisation import MongoOrganisationProgress
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.state_cache import StateCache
from lrs.services.ingest import prepare
from lrs.settings import LrsSettings

TENANT = "default"
Doc = dict[str, Any]


def accepted(statements: list[Doc]) -> list[Doc]:
    """The statements as the progress consumer receives them (stored, authority set)."""
    return [r.statement for r in prepare(statements, WHO, "2.0.0", Deps())]  # type: ignore[arg-type]


async def measure(
    uri: str, store_pid: int, learners: int, history: int, samples: int, kept: int, held: int
) -> str:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(uri)
    try:
        db = client[f"bench_history_{history}"]
        store = MongoProgressStore(db, StateCache(kept))
        await store.create_indexes()
        folding = LearnerProgress(store, lambda: datetime.now(UTC), held)
        workload = Workload(seed=history, learners=learners)
        for learner in range(learners):  # each learner's history in one batch: one write each
            batch = accepted([workload.statement(learner) for _ in range(history)])
            await folding.apply_statements(TENANT, batch)
        size = await _state_bytes(db)
        fold_mine = fold_store = 0.0
        for n in range(samples):
            statement = accepted([workload.statement(n % learners)])

            async def one_more(batch: list[Doc] = statement) -> object:
                return await folding.apply_statements(TENANT, batch)

            mine, in_store = await cpu_of(store_pid, one_more)
            fold_mine, fold_store = fold_mine + mine, fold_store + in_store
        organisation = MongoOrganisationProgress(db)
        read_mine = read_store = 0.0
        for _ in range(samples):
            mine, in_store = await cpu_of(store_pid, lambda: organisation.learners(TENANT))
            read_mine, read_store = read_mine + mine, read_store + in_store
        return (
            f"{history:>8} {size / 1024:>10.1f} {fold_mine / samples * 1e6:>12.0f}"
            f" {fold_store / samples * 1e6:>12.0f} {read_mine / samples * 1e3:>13.1f}"
            f" {read_store / samples * 1e3:>13.1f}"
        )
    finally:
        await client.close()


async def _state_bytes(db: Any) -> float:
    """The mean stored size of a learner document (its state and summary as written)."""
    sizes = [len(orjson.dumps(d, default=str)) async for d in db["progress_learners"].find({})]
    return sum(sizes) / max(1, len(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--histories", default="10,100,1000")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument(
        "--kept-facts",
        type=int,
        default=LrsSettings().progress_state_cache_facts,
        help="facts of the learner states kept decoded (LRS_PROGRESS_STATE_CACHE_FACTS); 0: none",
    )
    parser.add_argument(
        "--held-facts",
        type=int,
        default=LrsSettings().progress_held_facts,
        help="facts a learner's state holds at most (LRS_PROGRESS_HELD_FACTS)",
    )
    args = parser.parse_args()
    histories = [int(h) for h in args.histories.split(",")]
    print(f"machine: {machine()}; load average {load_average()}")
    print(
        f"{args.learners} learners of H statements each (the seeded workload's); one more"
        f" statement of one learner, and the organisation consumer's read, {args.samples} times;"
        f" states kept decoded: up to {args.kept_facts} facts; held: {args.held_facts}"
    )
    print(
        f"{'H':>8} {'doc KB':>10} {'fold µs':>12} {'store µs':>12}"
        f" {'org read ms':>13} {'store ms':>13}"
    )
    with fresh_store() as (uri, store_pid):
        for history in histories:
            line = asyncio.run(
                measure(
                    uri,
                    store_pid,
                    args.learners,
                    history,
                    args.samples,
                    args.kept_facts,
                    args.held_facts,
                )
            )
            print(line, flush=True)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
