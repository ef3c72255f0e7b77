"""What one learner takes in the memory of the consumers that hold learners between batches.

organisation-progress holds every learner's figures of a tenant from its last computation
(docs/decisions/0034), and team-progress every member's summary of a team (0033), each under a
bound (`LRS_ORGANISATION_HELD_MB`; `consumers.progress.members.MOST_HELD_KB`): a tenant or
team whose learners weigh more is read whole for every batch. Folds the seeded workload with
the progress model, stores each learner's document as the progress consumer writes it (BSON),
decodes it as the store's reads answer (the days and summary as JSON bytes), and measures with
tracemalloc, per learner: what was held before (the decoded summary rows), what is held now
(`lrs.progress.organisation.figures_of`; `consumers.progress.members.as_member`), the weight the
holder gives it, and how many such learners 64 MB hold. Prints numbers, asserts nothing.

    python bench/held_memory.py [--statements N] [--learners L] [--activities A]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import load_average, machine
from bench.store_insert import WHO, Deps
from bench.workload import Workload
from consumers.organisation import _weight as organisation_weight
from consumers.progress.learner import LearnerProgress
from consumers.progress.members import _weight as members_weight
from consumers.progress.members import as_member
from lrs.adapters.memory_progress import InMemoryProgressStore
from lrs.adapters.mongo_progress import days_fields, learner_to_mongo, summary_fields
from lrs.adapters.state_cache import new_stamp
from lrs.ports.progress import LearnerSummary
from lrs.progress.organisation import figures_of
from lrs.services.ingest import prepare

Doc = dict[str, Any]
BOUND_KB = 64 * 1024


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


def figures_before(doc: Doc) -> Any:
    """What organisation-progress held of a learner before 2026-12-04: days, decoded rows and
    teams as the adapter read them."""
    rows = summary_fields(doc).get("activities") or ()
    return (days_fields(doc) or frozenset(), rows, frozenset(doc.get("teams") or ()))


def figures_now(doc: Doc) -> Any:
    rows = summary_fields(doc).get("activities") or ()
    return figures_of(doc["learner"], days_fields(doc) or (), rows, doc.get("teams") or ())


def summary_read(doc: Doc) -> LearnerSummary:
    """A member as team-progress reads it (`learner_summaries`), held so before 2026-12-04."""
    return LearnerSummary(doc["learner"], summary_fields(doc), tuple(doc.get("teams") or ()))


def member_now(doc: Doc) -> LearnerSummary:
    return as_member(summary_read(doc))


def measured(stored: list[bytes], build: Callable[[Doc], Any]) -> tuple[float, dict[str, Any]]:
    """(bytes per learner, what was built by learner) of `build` over the decoded documents."""
    docs = [bson.decode(s) for s in stored]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    held = {d["learner"]: build(d) for d in docs}
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown / len(held), held


def report(label: str, per_learner: float, weighed: float | None) -> None:
    """One line: bytes per learner measured and as weighed (None: not held), and how many
    learners the default bound holds."""
    shown = f"{weighed:>8,.0f}" if weighed is not None else f"{'':>8}"
    print(f"{label:<46} {per_learner:>9,.0f} {shown} {BOUND_KB * 1024 / per_learner:>10,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--statements", type=int, default=6000)
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--activities", type=int, default=20, help="courses and modules")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {load_average()}")
    workload = Workload(seed=11, learners=args.learners, activities=args.activities)
    stored = asyncio.run(stored_learners(workload, args.statements))
    rows_days = [
        (len(summary_fields(d).get("activities") or ()), len(days_fields(d) or ()))
        for d in (bson.decode(s) for s in stored)
    ]
    print(
        f"{len(stored)} learners, {args.statements} statements, {args.activities} activities: "
        f"{sum(r for r, _ in rows_days) / len(stored):.1f} summary rows and "
        f"{sum(d for _, d in rows_days) / len(stored):.1f} days per learner"
    )
    print(f"{'held, per learner':<46} {'bytes':>9} {'weighed':>8} {'in 64 MB':>10}")
    per_learner, _ = measured(stored, figures_before)
    report("organisation: decoded rows (before 2026-12-04)", per_learner, None)
    per_learner, figures = measured(stored, figures_now)
    report("organisation: figures_of", per_learner, organisation_weight(figures) / len(figures))
    del figures  # (the days `figures_of` shares stay cached: the team's are not counted again)
    per_learner, _ = measured(stored, summary_read)
    report("team: summaries as read (before 2026-12-04)", per_learner, None)
    per_learner, members = measured(stored, member_now)
    report("team: as_member", per_learner, members_weight(members) / len(members))


if __name__ == "__main__":
    main()
