"""Goal progress is a function of the members' SETS of live statements: whatever the order in
which statements, duplicates and voids reached the learner states, the evaluation is the same
(hypothesis draws the workloads and the orders)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lrs.goals import evaluate_goal, parse_goal
from lrs.progress import LearnerState, apply, learner_id
from tests.support.factories import COURSE, MODULE_A, MODULE_B, stmt, voided_by_admin

LEARNERS = (1, 2, 3)
VERBS = ("experienced", "completed", "passed", "failed", "scored")
OBJECTS = (MODULE_A, MODULE_B, COURSE)
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
OF_TARGETS: list[dict[str, Any]] = [
    {"kind": "complete", "activities": [COURSE, MODULE_A]},
    {"kind": "complete", "activities": [COURSE], "require": "passed"},
    {"kind": "score", "activity": MODULE_B, "score": 0.7},
    {"kind": "learning_days", "days": 2, "per": "week"},
    {"kind": "learning_days", "days": 4},
    {"kind": "minutes", "minutes": 30},
]


def goals() -> list[Any]:
    period = {"startDate": "2026-03-01", "achievedByDate": "2026-03-31"}
    team = parse_goal(
        {
            "name": "team",
            "owner": {"kind": "team", "id": "t"},
            "targets": [{"kind": "members", "share": 0.5, "of": of} for of in OF_TARGETS],
            **period,
        },
        "t1",
        date(2026, 3, 1),
        goal_id="team",
    )
    mine = parse_goal(
        {"name": "me", "owner": {"kind": "learner", "id": _id(1)}, "targets": OF_TARGETS, **period},
        "t1",
        date(2026, 3, 1),
        goal_id="me",
    )
    weekly = parse_goal(
        {
            "name": "weekly",
            "owner": {"kind": "learner", "id": _id(1)},
            "recurrence": "week",
            "startDate": "2026-03-01",
            "targets": OF_TARGETS[3:],
        },
        "t1",
        date(2026, 3, 1),
        goal_id="weekly",
    )
    return [team, mine, weekly]


def _id(n: int) -> str:
    return learner_id(stmt(learner=n))


statement = st.builds(
    lambda learner, verb, obj, day, hour, score, minutes, parent: stmt(
        verb,
        obj,
        at=f"2026-{day[0]:02d}-{day[1]:02d}T{hour:02d}:00:00Z",
        learner=learner,
        result={"score": {"scaled": score}, "duration": f"PT{minutes}M"},
        parents=[COURSE] if parent and obj != COURSE else None,
    ),
    st.sampled_from(LEARNERS),
    st.sampled_from(VERBS),
    st.sampled_from(OBJECTS),
    st.sampled_from([(2, 27), (3, 1), (3, 2), (3, 3), (3, 9), (3, 10), (3, 18), (3, 19), (4, 1)]),
    st.integers(0, 23),
    st.sampled_from([0.2, 0.7, 0.9]),
    st.integers(1, 20),
    st.booleans(),
)


@st.composite
def workload(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(statements, delivery): a random order of the statements, some twice, and voids of
    some of them, placed before or after their targets."""
    statements = draw(st.lists(statement, min_size=1, max_size=25))
    voided = draw(st.lists(st.sampled_from(statements), max_size=5, unique_by=lambda s: s["id"]))
    voids = [dict(voided_by_admin(s["id"]), actor=s["actor"]) for s in voided]
    repeats = draw(st.lists(st.sampled_from(statements), max_size=5))
    delivery = draw(st.permutations([*statements, *voids, *repeats]))
    return statements, delivery


def states(delivered: list[dict[str, Any]]) -> dict[str, LearnerState | None]:
    found: dict[str, LearnerState | None] = {_id(n): None for n in LEARNERS}
    for s in delivered:
        learner = learner_id(s)
        found[learner] = apply(found[learner] or LearnerState(learner), s)
    return found


@settings(max_examples=60, deadline=None)
@given(workload(), st.randoms(use_true_random=False))
def test_any_delivery_order_gives_the_same_goal_progress(
    drawn: tuple[list[dict[str, Any]], list[dict[str, Any]]], rng: Any
) -> None:
    statements, delivery = drawn
    other = list(delivery)
    rng.shuffle(other)
    voided = {s["object"]["id"] for s in delivery if s["verb"]["id"].endswith("voided")}
    once = [s for s in statements if s["id"] not in voided]  # the survivors, each once
    for g in goals():
        members = states(delivery)
        members = members if g.owner.kind != "learner" else {g.owner.id: members[g.owner.id]}
        expected = evaluate_goal(g, _only(states(once), members), NOW)
        assert evaluate_goal(g, members, NOW) == expected
        assert evaluate_goal(g, _only(states(other), members), NOW) == expected


def _only(
    found: dict[str, LearnerState | None], like: dict[str, LearnerState | None]
) -> dict[str, LearnerState | None]:
    return {k: found[k] for k in like}
