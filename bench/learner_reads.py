"""What the per-batch reads of learner progress cost as a tenant grows: prints numbers, asserts
nothing.

Starts a fresh SecantusDB (as `lrs serve` does), stores `--learners` learner-progress documents
(each with a small state, in teams of 10) through the real MongoDB adapter, then times, on the
store's CPU and the wall clock:

- team progress's read for a batch (`MongoProgressStore.learner_summaries`: two changed
  learners and the members of one touched team);
- an erasure's search for the learners naming one identifier
  (`MongoErasureStore.progress_learners`).

Usage: python bench/learner_reads.py [--learners 1000,20000] [--samples 30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_average, machine
from bench.procstat import cpu_of
from bench.store_insert import fresh_store
from lrs.adapters.mongo_erasure import MongoErasureStore
from lrs.adapters.mongo_progress import MongoProgressStore
from lrs.adapters.mongo_store import connect
from lrs.ports.progress import LearnerDoc
from lrs.progress import apply
from lrs.progress.model import LearnerState
from tests.support.factories import statement

TENANT = "acme"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def learner_doc(n: int) -> LearnerDoc:
    done = statement(n)
    who = f"mailto:l{n}@example.org"
    state = apply(LearnerState(who), done)
    team = f"team{n // 10}"
    summary = {"tenant": TENANT, "learner": who, "teams": [team]}
    return LearnerDoc.empty(TENANT, who).successor(state, summary, (team,))


async def timed(store_pid: int, samples: int, read: Callable[[], Awaitable[Any]]) -> str:
    """Store CPU and wall ms per call, over `samples` calls."""

    async def reads() -> None:
        for _ in range(samples):
            await read()

    started = time.perf_counter()
    _, in_store = await cpu_of(store_pid, reads)
    wall = (time.perf_counter() - started) / samples * 1e3
    return f"{in_store / samples * 1e3:>10.1f} {wall:>10.1f}"


async def measure(uri: str, store_pid: int, learners: int, samples: int) -> None:
    client = connect(uri)
    try:
        db = client[f"bench_reads_{learners}"]
        store = MongoProgressStore(db)
        await store.create_indexes()
        for start in range(0, learners, 500):
            batch = [learner_doc(n) for n in range(start, min(learners, start + 500))]
            await store.save_learners(batch, NOW)
        changed = [learner_doc(n).learner for n in (1, 2)]
        summaries = await timed(
            store_pid, samples, lambda: store.learner_summaries(TENANT, changed, ["team3"])
        )
        print(f"{learners:>9} {'team progress read':<28} {summaries}", flush=True)
        erasure = MongoErasureStore(db)
        found = await timed(
            store_pid, max(1, samples // 6), lambda: erasure.progress_learners(TENANT, changed[:1])
        )
        print(f"{learners:>9} {'erasure learner search':<28} {found}", flush=True)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", default="1000,20000")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {load_average()}")
    print(f"{'learners':>9} {'read':<28} {'store ms':>10} {'wall ms':>10}")
    with fresh_store() as (uri, store_pid):
        for learners in (int(n) for n in args.learners.split(",")):
            asyncio.run(measure(uri, store_pid, learners, args.samples))
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
