"""Goal progress: each target kind, the member share, periods and the status rule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from lrs.goals import evaluate_goal, parse_goal
from lrs.goals.model import Goal
from lrs.progress import LearnerState, fold, learner_id
from tests.support.factories import COURSE, MODULE_A, stmt

TODAY = datetime(2026, 3, 1, tzinfo=UTC).date()
L1 = learner_id(stmt(learner=1))
L2 = learner_id(stmt(learner=2))
L3 = learner_id(stmt(learner=3))


def goal(owner: dict[str, Any], targets: list[dict[str, Any]], **extra: Any) -> Goal:
    doc = {"name": "g", "owner": owner, "targets": targets, "startDate": "2026-03-01"}
    doc.setdefault("achievedByDate", "2026-03-31")
    doc.update(extra)
    doc = {k: v for k, v in doc.items() if v is not None}
    return parse_goal(doc, "t1", TODAY, goal_id="g1")


def state(learner: str, statements: Sequence[dict[str, Any]]) -> LearnerState:
    return fold(learner, statements)


def at(day: int, hour: int = 10) -> str:
    return f"2026-03-{day:02d}T{hour:02d}:00:00Z"


def now(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


LEARNER = {"kind": "learner", "id": L1}


def test_completing_the_listed_activities() -> None:
    g = goal(LEARNER, [{"kind": "complete", "activities": [MODULE_A, COURSE]}])
    members = {L1: state(L1, [stmt("completed", MODULE_A, at=at(2))])}
    value = evaluate_goal(g, members, now(3))
    assert value["targets"][0] | {} == {
        "kind": "complete",
        "value": 1.0,
        "target": 2.0,
        "percentage": 50.0,
        "met": False,
    }
    assert value["status"] == "on_track"
    members[L1] = state(
        L1, [stmt("completed", MODULE_A, at=at(2)), stmt("completed", COURSE, at=at(4))]
    )
    assert evaluate_goal(g, members, now(5))["status"] == "achieved"


def test_a_module_alone_does_not_complete_its_course() -> None:
    g = goal(LEARNER, [{"kind": "complete", "activities": [COURSE]}])
    done_module = stmt("completed", MODULE_A, at=at(2), parents=[COURSE])
    assert evaluate_goal(g, {L1: state(L1, [done_module])}, now(3))["targets"][0]["value"] == 0


def test_passing_is_required_when_asked() -> None:
    g = goal(LEARNER, [{"kind": "complete", "activities": [COURSE], "require": "passed"}])
    completed = state(L1, [stmt("completed", COURSE, at=at(2))])
    passed = state(L1, [stmt("passed", COURSE, at=at(2))])
    assert evaluate_goal(g, {L1: completed}, now(3))["targets"][0]["met"] is False
    assert evaluate_goal(g, {L1: passed}, now(3))["targets"][0]["met"] is True


def test_statements_outside_the_period_do_not_count() -> None:
    g = goal(LEARNER, [{"kind": "complete", "activities": [COURSE]}])
    before = state(L1, [stmt("completed", COURSE, at="2026-02-28T23:59:59Z")])
    assert evaluate_goal(g, {L1: before}, now(3))["targets"][0]["value"] == 0


def test_best_score() -> None:
    g = goal(LEARNER, [{"kind": "score", "activity": COURSE, "score": 0.8}])
    scores = [
        stmt("scored", COURSE, at=at(d), result={"score": {"scaled": s}})
        for d, s in ((2, 0.6), (3, 0.5))
    ]
    value = evaluate_goal(g, {L1: state(L1, scores)}, now(4))
    assert (value["targets"][0]["value"], value["targets"][0]["percentage"]) == (0.6, 75.0)


def test_minutes_from_durations() -> None:
    g = goal(LEARNER, [{"kind": "minutes", "minutes": 60}])
    spent = [stmt("experienced", MODULE_A, at=at(2), result={"duration": "PT45M"})]
    spent.append(stmt("experienced", MODULE_A, at=at(3), result={"duration": "PT30M"}))
    target = evaluate_goal(g, {L1: state(L1, spent)}, now(4))["targets"][0]
    assert (target["value"], target["met"]) == (75.0, True)


def test_learning_days_per_week_counts_weeks_met() -> None:
    # March 2026: Sun 1 (a one-day week), then Mon 2 .. Sun 8, ... up to Tue 31.
    g = goal(LEARNER, [{"kind": "learning_days", "days": 3, "per": "week"}])
    days = [1, 2, 3, 4, 9, 10]
    target = evaluate_goal(
        g, {L1: state(L1, [stmt("experienced", at=at(d)) for d in days])}, now(11)
    )["targets"][0]
    assert (target["value"], target["target"]) == (2.0, 6.0)  # week of the 1st (1 day), 2-8


def test_learning_days_per_period() -> None:
    g = goal(LEARNER, [{"kind": "learning_days", "days": 3}])
    days = [2, 2, 5]
    target = evaluate_goal(
        g,
        {
            L1: state(
                L1,
                [stmt("experienced", at=at(d, h)) for d, h in zip(days, (8, 9, 9), strict=False)],
            )
        },
        now(6),
    )["targets"][0]
    assert (target["value"], target["met"]) == (2.0, False)


def test_a_share_of_team_members() -> None:
    of = {"kind": "complete", "activities": [COURSE], "require": "passed"}
    g = goal({"kind": "team", "id": "t"}, [{"kind": "members", "share": 0.6, "of": of}])
    members = {
        L1: state(L1, [stmt("passed", COURSE, at=at(2))]),
        L2: state(L2, [stmt("failed", COURSE, at=at(2))]),
        L3: None,
    }
    value = evaluate_goal(g, members, now(3))
    target = value["targets"][0]
    assert (target["value"], target["target"], target["members"]) == (1.0, 2.0, 3)
    assert target["members_meeting"] == [L1] == value["members_meeting"]
    members[L2] = state(L2, [stmt("failed", COURSE, at=at(2)), stmt("passed", COURSE, at=at(4))])
    assert evaluate_goal(g, members, now(5))["status"] == "achieved"


def test_a_team_without_members_does_not_meet_its_goal() -> None:
    of = {"kind": "minutes", "minutes": 5}
    g = goal({"kind": "organisation"}, [{"kind": "members", "share": 0.5, "of": of}])
    assert evaluate_goal(g, {}, now(3))["targets"][0]["met"] is False


def test_status_through_the_period() -> None:
    g = goal(LEARNER, [{"kind": "minutes", "minutes": 100}])
    forty = state(L1, [stmt("experienced", at=at(2), result={"duration": "PT40M"})])
    assert (
        evaluate_goal(g, {L1: None}, datetime(2026, 2, 27, tzinfo=UTC))["status"] == "not_started"
    )
    assert evaluate_goal(g, {L1: None}, now(2))["status"] == "not_started"
    assert evaluate_goal(g, {L1: None}, now(10))["status"] == "at_risk"
    assert evaluate_goal(g, {L1: forty}, now(10))["status"] == "on_track"
    # 40 % done: at risk once more than half of the month is gone (40 % + the 10-point allowance)
    assert evaluate_goal(g, {L1: forty}, now(16, 13))["status"] == "at_risk"
    final = evaluate_goal(g, {L1: forty}, datetime(2026, 4, 1, tzinfo=UTC))
    assert (final["status"], final["next_check_at"]) == ("missed", None)


def test_next_check_is_when_the_status_would_change() -> None:
    g = goal(LEARNER, [{"kind": "minutes", "minutes": 100}])
    forty = state(L1, [stmt("experienced", at=at(2), result={"duration": "PT40M"})])
    # half of March (31 days) = 15.5 days after the start: the 16th at 12:00
    assert evaluate_goal(g, {L1: forty}, now(10))["next_check_at"] == "2026-03-16T12:00:00.000Z"
    risky = evaluate_goal(g, {L1: forty}, now(20))
    assert risky["next_check_at"] == "2026-04-01T00:00:00.000Z"
    early = evaluate_goal(g, {L1: None}, datetime(2026, 2, 1, tzinfo=UTC))
    assert early["next_check_at"] == "2026-03-01T00:00:00.000Z"


def test_a_recurring_goal_measures_the_current_period_and_reports_the_last() -> None:
    g = goal(
        LEARNER, [{"kind": "learning_days", "days": 2}], achievedByDate=None, recurrence="week"
    )
    days = [state(L1, [stmt("experienced", at=at(d)) for d in (3, 4)])][0]
    value = evaluate_goal(g, {L1: days}, now(10))
    assert value["period"] == {"start": "2026-03-09", "end": "2026-03-15"}
    assert value["targets"][0]["value"] == 0
    assert value["previous_period"] == {
        "period": {"start": "2026-03-02", "end": "2026-03-08"},
        "status": "achieved",
        "percentage": 100.0,
    }
    achieved = evaluate_goal(g, {L1: days}, now(5))
    assert (achieved["status"], achieved["next_check_at"]) == (
        "achieved",
        "2026-03-09T00:00:00.000Z",
    )


def test_quarters_and_months() -> None:
    from lrs.goals.periods import current_period

    q = goal(
        LEARNER,
        [{"kind": "minutes", "minutes": 1}],
        achievedByDate=None,
        recurrence="quarter",
        startDate="2026-01-15",
    )
    assert current_period(q, datetime(2026, 2, 1, tzinfo=UTC)).as_json() == {
        "start": "2026-01-15",
        "end": "2026-03-31",
    }
    assert current_period(q, datetime(2026, 12, 31, tzinfo=UTC)).as_json() == {
        "start": "2026-10-01",
        "end": "2026-12-31",
    }
    m = goal(
        LEARNER,
        [{"kind": "minutes", "minutes": 1}],
        achievedByDate="2026-05-10",
        recurrence="month",
    )
    assert current_period(m, datetime(2027, 1, 1, tzinfo=UTC)).as_json() == {
        "start": "2026-05-01",
        "end": "2026-05-10",
    }
