"""Order-independence and idempotence, checked on random workloads (fixed seeds).

The claim (docs/decisions/0006): progress is a function of the SET of non-voided
statements. So for any workload, applying its statements in any order, with duplicates
re-delivered and voids arriving before or after their targets, must give exactly the summary
of applying the surviving statements once, in time order.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from lrs.progress import LearnerState, apply, fold, summarize_learner, summarize_team
from lrs.progress.team import member_view
from tests.support.factories import (
    ADL,
    CMI5,
    COURSE,
    MODULE_A,
    MODULE_B,
    PROGRAM,
    group,
    stmt,
    voided_by_admin,
)

VERBS = [
    *(ADL + v for v in ("attempted", "experienced", "completed", "passed", "failed", "answered")),
    *(ADL + v for v in ("progressed", "mastered", "terminated", "suspended", "scored")),
    *(CMI5 + v for v in ("launched", "initialized", "completed", "passed", "failed")),
    *(CMI5 + v for v in ("abandoned", "waived", "terminated", "satisfied")),
    "https://example.org/verbs/bookmarked",
]
OBJECTS = [MODULE_A, MODULE_B, COURSE, PROGRAM]
START = datetime(2026, 11, 1, tzinfo=UTC)
AS_OF_DAYS = [date(2026, 11, 10), date(2026, 11, 21), date(2026, 12, 5)]


@dataclass
class Workload:
    live: list[dict[str, Any]]  # statements that survive
    stream: list[dict[str, Any]]  # what arrives: everything, shuffled, with duplicates


def random_time(rng: random.Random) -> str:
    moment = START + timedelta(minutes=rng.randrange(0, 20 * 24 * 60, 7))
    zone = timezone(timedelta(hours=rng.choice([-5, 0, 0, 2, 9])))
    return moment.astimezone(zone).isoformat()


def random_result(rng: random.Random) -> dict[str, Any] | None:
    if rng.random() < 0.3:
        return None
    candidates: dict[str, Any] = {
        "score": {"scaled": round(rng.uniform(-0.2, 1), 3)},
        "completion": rng.choice([True, False]),
        "success": rng.choice([True, False]),
        "duration": rng.choice(["PT0.1S", "PT0.2S", f"PT{rng.randint(1, 90)}M", "PT1H2.37S"]),
    }
    return {k: v for k, v in candidates.items() if rng.random() < 0.5}


def random_statement(rng: random.Random, learner: int) -> dict[str, Any]:
    obj = rng.choice(OBJECTS)
    parents = [p for p in (COURSE, PROGRAM) if p != obj and rng.random() < 0.5]
    team = rng.choice([None, None, group(learner, name="sales"), group(learner, 9)])
    return stmt(
        rng.choice(VERBS),
        obj,
        at=random_time(rng),
        learner=learner,
        result=random_result(rng),
        parents=parents[:1] or None,
        grouping=parents[1:] or None,
        team=team,
    )


def workload(seed: int, learner: int = 1) -> Workload:
    rng = random.Random(seed)
    statements = [random_statement(rng, learner) for _ in range(rng.randint(1, 25))]
    voided = [s for s in statements if rng.random() < 0.25]
    voids = [voided_by_admin(s["id"]) for s in voided] + [
        voided_by_admin(f"{rng.getrandbits(128):032x}")
    ]
    stream = statements + voids
    stream += [rng.choice(stream) for _ in range(rng.randint(0, len(stream)))]
    rng.shuffle(stream)
    voided_ids = {s["id"] for s in voided}
    live = sorted((s for s in statements if s["id"] not in voided_ids), key=_time_order)
    return Workload(live, stream)


def _time_order(statement: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(statement["timestamp"])


def learner_id(n: int) -> str:
    return f"mbox:mailto:learner{n}@example.org"


def summaries(state: LearnerState) -> list[dict[str, Any]]:
    return [summarize_learner(state, day) for day in AS_OF_DAYS]


@pytest.mark.parametrize("seed", range(150))
def test_any_order_with_duplicates_and_voids_equals_the_live_set_once(seed: int) -> None:
    work = workload(seed)
    arrived = fold(learner_id(1), work.stream)
    oracle = fold(learner_id(1), work.live)
    assert arrived.facts == oracle.facts
    assert summaries(arrived) == summaries(oracle)


@pytest.mark.parametrize("seed", range(50))
def test_state_stored_as_json_between_batches_changes_nothing(seed: int) -> None:
    work = workload(seed)
    cut = random.Random(seed).randint(0, len(work.stream))
    state = fold(learner_id(1), work.stream[:cut])
    state = LearnerState.from_dict(json.loads(json.dumps(state.to_dict())))
    for statement in work.stream[cut:]:
        state = apply(state, statement)
    assert summaries(state) == summaries(fold(learner_id(1), work.live))


@pytest.mark.parametrize("seed", range(30))
def test_team_summary_is_order_independent(seed: int) -> None:
    works = {n: workload(seed * 10 + n, learner=n) for n in (1, 2, 3)}
    as_of = datetime(2026, 11, 21, 6, tzinfo=UTC)
    arrived = {learner_id(n): fold(learner_id(n), w.stream) for n, w in works.items()}
    oracle = {learner_id(n): fold(learner_id(n), w.live) for n, w in works.items()}
    assert summarize_team("t", arrived, as_of) == summarize_team("t", oracle, as_of)


@pytest.mark.parametrize("seed", range(40))
def test_a_team_of_member_views_is_the_team_of_their_summaries(seed: int) -> None:
    """team-progress holds and computes from `member_view`s of the members' summaries: what
    `summarize_team` reads of them is all they keep (docs/decisions/0033)."""
    rng = random.Random(seed)
    works = {n: workload(seed * 10 + n, learner=n) for n in range(1, rng.randint(2, 6))}
    day = rng.choice(AS_OF_DAYS)
    as_of = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=rng.randint(0, 23))
    full: dict[str, Any] = {
        learner_id(n): summarize_learner(fold(learner_id(n), w.stream), day)
        for n, w in works.items()
    }
    full["registered, no progress"] = None
    views = {k: member_view(v) if v is not None else None for k, v in full.items()}
    assert summarize_team("t", views, as_of) == summarize_team("t", full, as_of)
    assert all(len(orjson.dumps(views[k])) < len(orjson.dumps(v)) for k, v in full.items() if v)


@pytest.mark.parametrize("seed", range(30))
def test_the_oracle_comparison_can_fail(seed: int) -> None:
    """Guard against a vacuous property: losing any one live statement changes the summary."""
    work = next(w for w in (workload(seed + 1000 * k) for k in range(20)) if w.live)
    dropped = random.Random(seed).choice(work.live)
    partial = fold(learner_id(1), [s for s in work.stream if s is not dropped])
    assert summaries(partial) != summaries(fold(learner_id(1), work.live))


def test_workloads_exercise_the_interesting_cases() -> None:
    """The generator must actually produce voids, duplicates and every status."""
    statuses: set[str] = set()
    voids = duplicates = 0
    for seed in range(150):
        work = workload(seed)
        ids = [s["id"] for s in work.stream]
        duplicates += len(ids) - len(set(ids))
        voids += sum(1 for s in work.stream if s["verb"]["id"].endswith("/voided"))
        state = fold(learner_id(1), work.live)
        statuses |= {a["status"] for a in summarize_learner(state, AS_OF_DAYS[1])["activities"]}
    assert statuses == {"in_progress", "completed", "passed", "failed"}
    assert voids > 150
    assert duplicates > 150
