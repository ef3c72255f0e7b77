"""What one learner's held figures take in an organisation-progress consumer's memory.

organisation-progress keeps every learner's figures of a tenant from its last computation
(docs/decisions/0034), under a bound (`consumers.organisation.MOST_HELD_KB`): a tenant whose
learners weigh more is read whole for every batch of triggers. Folds the seeded workload with
the progress model, stores each learner's document as the progress consumer writes it, reads
it back as `progress_learners` answers (the days and summary as JSON bytes), builds the figures
as the MongoDB adapter does (`lrs.progress.organisation.figures_of`), and prints, measured with
tracemalloc: the bytes per learner, the weight the holder gives them (`_kb`), and how many such
learners the bound holds. Prints numbers, asserts nothing.

    python bench/organisation_memory.py [--statements N] [--learners L] [--activities A]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_average, machine
from bench.workload import Workload
from consumers.organisation import MOST_HELD_KB, _kb
from consumers.progress.learner import LearnerProgress
from lrs.adapters.memory_progress import InMemoryProgressStore
from lrs.adapters.mongo_progress import days_fields, learner_to_mongo, summary_fields
from lrs.adapters.state_cache import new_stamp
from lrs.ports.credentials import Principal
from lrs.progress.organisation import LearnerFigures, figures_of
from lrs.services.ingest import prepare

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


async def stored_learners(workload: Workload, statements: int) -> list[bytes]:
    """The workload's learner documents as `progress_learners` holds them (BSON)."""
    store = InMemoryProgressStore()
    folding = LearnerProgress(store, lambda: datetime.now(UTC))
    records = prepare(workload.statements(statements), WHO, "2.0.0", Deps())  # type: ignore[arg-type]
    for start in range(0, len(records), 100):
        batch = records[start : start + 100]
        await folding.apply_statements("default", [r.statement for r in batch])
    now = datetime.now(UTC)
    return [bson.encode(learner_to_mongo(d, now, new_stamp())) for d in store.learners.values()]


def as_read(stored: bytes) -> LearnerFigures:
    """A learner's figures as the adapter builds them from the projected document."""
    doc = bson.decode(stored)
    return figures_of(
        doc["learner"],
        days_fields(doc) or (),
        summary_fields(doc).get("activities") or (),
        doc.get("teams") or (),
    )


def measure(stored: list[bytes]) -> tuple[float, dict[str, LearnerFigures]]:
    """(bytes per learner, the figures by learner) of figures built from `stored`."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    held = {f.learner: f for f in (as_read(s) for s in stored)}
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown / len(held), held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=6000)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--activities", type=int, default=20, help="courses and modules")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {load_average()}")
    workload = Workload(seed=11, learners=args.learners, activities=args.activities)
    stored = asyncio.run(stored_learners(workload, args.statements))
    per_learner, held = measure(stored)
    rows = sum(len(f.activities) for f in held.values()) / len(held)
    days = sum(len(f.days) for f in held.values()) / len(held)
    weight = _kb(held) / len(held)
    print(
        f"{len(held)} learners, {args.statements} statements, {args.activities} activities: "
        f"{rows:.1f} summary rows and {days:.1f} days per learner"
    )
    print(f"held figures: {per_learner:,.0f} bytes per learner (measured, tracemalloc)")
    print(f"weighed by the holder (_kb): {weight * 1024:,.0f} bytes per learner")
    print(
        f"the bound ({MOST_HELD_KB // 1024} MB) holds about "
        f"{MOST_HELD_KB * 1024 / per_learner:,.0f} such learners "
        f"(weighed: {MOST_HELD_KB / weight:,.0f})"
    )


if __name__ == "__main__":
    main()
