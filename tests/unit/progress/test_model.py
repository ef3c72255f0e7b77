"""Learner progress: status rules, roll-up, attempts, scores, time, voiding, state storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest

from lrs.progress import LearnerState, apply, fold, summarize_learner, void
from tests.support.factories import (
    CMI5,
    COURSE,
    MODULE_A,
    MODULE_B,
    PROGRAM,
    group,
    stmt,
    voided_by_admin,
)

LEARNER = "mbox:mailto:learner1@example.org"
AS_OF = date(2026, 11, 20)


def summary(statements: Sequence[dict[str, Any]], as_of: date = AS_OF) -> dict[str, Any]:
    return summarize_learner(fold(LEARNER, statements), as_of)


def progress(statements: Sequence[dict[str, Any]], activity: str = MODULE_A) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {r["activity"]: r for r in summary(statements)["activities"]}
    return rows[activity]


def at(hour: int, day: int = 20) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00Z"


@pytest.mark.parametrize(
    ("verb", "result", "status", "completion", "success"),
    [
        ("attempted", None, "in_progress", False, None),
        ("experienced", None, "in_progress", False, None),
        ("progressed", {"extensions": {}}, "in_progress", False, None),
        ("https://example.org/verbs/bookmarked", None, "in_progress", False, None),
        (CMI5 + "launched", None, "in_progress", False, None),
        (CMI5 + "terminated", None, "in_progress", False, None),
        (CMI5 + "abandoned", None, "in_progress", False, None),
        ("completed", None, "completed", True, None),
        (CMI5 + "completed", None, "completed", True, None),
        (CMI5 + "satisfied", None, "completed", True, None),
        (CMI5 + "waived", None, "completed", True, None),
        ("passed", None, "passed", False, True),
        ("mastered", None, "passed", False, True),
        (CMI5 + "passed", {"completion": True}, "passed", True, True),
        ("failed", None, "failed", False, False),
        (CMI5 + "failed", {"completion": True}, "failed", True, False),
        # result alone drives the status (Data 2.4.5)
        ("experienced", {"completion": True}, "completed", True, None),
        ("answered", {"success": True}, "passed", False, True),
        ("answered", {"success": False}, "failed", False, False),
        ("attempted", {"completion": False}, "in_progress", False, None),
        # the verb wins over a contradicting result.success
        ("passed", {"success": False}, "passed", False, True),
        ("failed", {"success": True}, "failed", False, False),
        ("completed", {"completion": False}, "completed", True, None),
    ],
)
def test_status_of_one_statement(
    verb: str, result: dict[str, Any] | None, status: str, completion: bool, success: bool | None
) -> None:
    row = progress([stmt(verb, result=result)])
    assert (row["status"], row["completion"], row["success"]) == (status, completion, success)


@pytest.mark.parametrize(
    ("verbs", "status"),
    [
        (["passed", "failed"], "passed"),  # passed is sticky over a later failed attempt
        (["failed", "passed"], "passed"),
        (["failed", "failed"], "failed"),
        (["completed", "failed"], "failed"),  # finished but failed: the outcome is shown
        (["failed", "completed"], "failed"),
        (["completed", "passed"], "passed"),
        (["completed", "experienced"], "completed"),  # unknown/other verbs never downgrade
        (["passed", "https://example.org/verbs/reviewed"], "passed"),
        (["failed", "attempted"], "failed"),
        (["attempted", "experienced"], "in_progress"),
    ],
)
def test_status_precedence(verbs: list[str], status: str) -> None:
    statements = [stmt(v, at=at(9 + i)) for i, v in enumerate(verbs)]
    assert progress(statements)["status"] == status
    assert progress(statements[::-1])["status"] == status


def test_completed_and_passed_activity_counts_as_completed_in_totals() -> None:
    totals = summary([stmt("passed", MODULE_A), stmt("completed", MODULE_B)])["totals"]
    assert totals["activities_completed"] == 2
    assert (totals["activities_passed"], totals["activities_failed"]) == (1, 0)


def test_module_statement_rolls_up_to_course_and_programme_as_in_progress() -> None:
    s = summary([stmt("passed", MODULE_A, parents=[COURSE], grouping=[PROGRAM])])
    rows = {row["activity"]: row for row in s["activities"]}
    assert rows[MODULE_A]["status"] == "passed"
    for parent in (COURSE, PROGRAM):
        assert rows[parent]["status"] == "in_progress"
        assert (rows[parent]["completion"], rows[parent]["success"]) == (False, None)
        assert (rows[parent]["statements"], rows[parent]["child_statements"]) == (0, 1)
        assert rows[parent]["attempts"] == 0
    assert s["totals"]["activities_started"] == 3
    assert s["totals"]["activities_completed"] == 1


def test_course_completes_only_from_a_statement_about_the_course() -> None:
    children = [
        stmt("completed", MODULE_A, parents=[COURSE], at=at(9)),
        stmt("completed", MODULE_B, parents=[COURSE], at=at(10)),
    ]
    assert progress(children, COURSE)["status"] == "in_progress"
    done = [*children, stmt(CMI5 + "satisfied", COURSE, at=at(11))]
    course = progress(done, COURSE)
    assert (course["status"], course["statements"], course["child_statements"]) == (
        "completed",
        1,
        2,
    )


def test_course_time_and_dates_include_children_totals_count_each_statement_once() -> None:
    statements = [
        stmt("experienced", MODULE_A, parents=[COURSE], at=at(9), result={"duration": "PT10M"}),
        stmt("experienced", COURSE, at=at(8, day=19), result={"duration": "PT5M"}),
        stmt("experienced", MODULE_B, parents=[COURSE], at=at(12), result={"duration": "PT1M"}),
    ]
    s = summary(statements)
    rows = {row["activity"]: row for row in s["activities"]}
    assert rows[COURSE]["time_spent_seconds"] == 960
    assert rows[COURSE]["first_activity_at"] == "2026-11-19T08:00:00.000Z"
    assert rows[COURSE]["last_activity_at"] == "2026-11-20T12:00:00.000Z"
    assert rows[MODULE_A]["time_spent_seconds"] == 600
    assert s["totals"]["time_spent_seconds"] == 960


@pytest.mark.parametrize(
    ("verbs", "attempts"),
    [
        ([], 0),
        (["experienced"], 0),
        (["attempted"], 1),
        (["attempted", "attempted"], 2),
        ([CMI5 + "launched", CMI5 + "initialized"], 1),  # one cmi5 session
        ([CMI5 + "launched", CMI5 + "initialized"] * 3, 3),
        ([CMI5 + "launched", CMI5 + "launched"], 2),  # content never initialized
        (["passed"], 1),  # a graded outcome implies an attempt
        (["failed", "failed", "passed"], 3),
        (["attempted", "failed", "failed"], 2),
        (["completed"], 0),
    ],
)
def test_attempts(verbs: list[str], attempts: int) -> None:
    statements = [stmt("experienced", at=at(8))] + [
        stmt(v, at=at(9 + i)) for i, v in enumerate(verbs)
    ]
    assert progress(statements)["attempts"] == attempts


def test_latest_and_best_scores_by_timestamp_not_arrival() -> None:
    statements = [
        stmt("failed", at=at(9), result={"score": {"scaled": 0.4}}),
        stmt("passed", at=at(11), result={"score": {"scaled": 0.7}}),
        stmt("passed", at=at(10), result={"score": {"scaled": 0.9}}),
        stmt("experienced", at=at(12)),
    ]
    row = progress(statements)
    assert (row["score_latest"], row["score_best"]) == (0.7, 0.9)


def test_equal_timestamps_break_ties_by_statement_id() -> None:
    first = stmt(
        "answered",
        at=at(9),
        sid="00000000-0000-4000-8000-000000000001",
        result={"score": {"scaled": 0.1}},
    )
    second = stmt(
        "answered",
        at=at(9),
        sid="00000000-0000-4000-8000-000000000002",
        result={"score": {"scaled": 0.2}},
    )
    assert progress([second, first])["score_latest"] == 0.2
    assert progress([first, second])["score_latest"] == 0.2


def test_no_score_reported() -> None:
    row = progress([stmt("completed")])
    assert (row["score_latest"], row["score_best"]) == (None, None)


def test_reapplying_a_statement_is_a_no_op() -> None:
    doc = stmt("completed", result={"duration": "PT1M"})
    once = fold(LEARNER, [doc])
    assert apply(once, doc) is once
    assert (
        summarize_learner(fold(LEARNER, [doc, doc, doc]), AS_OF)["totals"]["time_spent_seconds"]
        == 60
    )


def test_statement_id_case_does_not_make_a_second_statement() -> None:
    doc = stmt("completed", sid="E05AA883-ACAF-40AD-BF54-02C8CE485FB0")
    lower = {**doc, "id": doc["id"].lower()}
    assert summary([doc, lower])["statements"] == 1


def test_conflicting_statements_under_one_id_resolve_the_same_in_any_order() -> None:
    a = stmt("passed", sid="e05aa883-acaf-40ad-bf54-02c8ce485fb0")
    b = stmt("failed", sid="e05aa883-acaf-40ad-bf54-02c8ce485fb0")
    assert summary([a, b]) == summary([b, a])
    assert summary([a, b])["statements"] == 1


def test_voiding_corrects_status_time_and_scores() -> None:
    passing = stmt("passed", at=at(10), result={"score": {"scaled": 0.9}, "duration": "PT30M"})
    statements = [stmt("failed", at=at(9), result={"score": {"scaled": 0.3}}), passing]
    assert progress(statements)["status"] == "passed"
    after = summary([*statements, voided_by_admin(passing["id"])])
    row = after["activities"][0]
    assert (row["status"], row["score_best"], row["attempts"]) == ("failed", 0.3, 1)
    assert after["totals"]["time_spent_seconds"] == 0
    assert after["statements"] == 1


def test_void_arriving_before_its_target_wins() -> None:
    target = stmt("passed")
    state = fold(LEARNER, [voided_by_admin(target["id"]), target])
    assert state.facts == {}
    assert target["id"] in state.voided


def test_voiding_the_only_statement_removes_the_activity_and_its_parents() -> None:
    target = stmt("completed", parents=[COURSE])
    s = summary([target, voided_by_admin(target["id"])])
    assert s["activities"] == []
    assert s["totals"]["first_activity_at"] is None
    assert s["totals"]["activities_started"] == 0


def test_void_twice_is_a_no_op() -> None:
    state = void(LearnerState(LEARNER), "ABC")
    assert void(state, "abc") is state


def test_voiding_statement_about_the_learner_itself_adds_no_activity() -> None:
    assert summary([voided_by_admin("00000000-0000-4000-8000-000000000009")])["statements"] == 0


def test_teams_from_statements_and_registry() -> None:
    state = fold(
        LEARNER, [stmt(team=group(1, 2, name="sales")), stmt(team=group(1, 2, name="sales"))]
    )
    s = summarize_learner(state, AS_OF, registry_teams=["registry:eng", "registry:eng"])
    assert s["teams"] == ["account:https://lms.example.org|sales", "registry:eng"]


def test_teams_leave_with_their_voided_statements() -> None:
    doc = stmt(team=group(1, name="sales"))
    assert summary([doc, voided_by_admin(doc["id"])])["teams"] == []


def test_state_round_trips_through_its_json_form() -> None:
    statements = [
        stmt("passed", parents=[COURSE], team=group(1, name="x"), result={"score": {"scaled": 1}})
    ]
    state = void(fold(LEARNER, statements), "dead")
    doc = state.to_dict()
    assert LearnerState.from_dict(doc) == state
    assert summarize_learner(LearnerState.from_dict(doc), AS_OF) == summarize_learner(state, AS_OF)


def test_empty_state_summary() -> None:
    s = summarize_learner(LearnerState(LEARNER), AS_OF)
    assert s == {
        "learner": LEARNER,
        "name": None,
        "as_of": "2026-11-20",
        "statements": 0,
        "teams": [],
        "team_names": {},
        "totals": {
            "activities_started": 0,
            "activities_completed": 0,
            "activities_passed": 0,
            "activities_failed": 0,
            "time_spent_seconds": 0,
            "active_days": 0,
            "current_streak_days": 0,
            "longest_streak_days": 0,
            "first_activity_at": None,
            "last_activity_at": None,
        },
        "activities": [],
    }


def test_apply_does_not_mutate_the_previous_state() -> None:
    before = fold(LEARNER, [stmt("attempted")])
    snapshot = before.to_dict()
    apply(before, stmt("passed"))
    void(before, next(iter(before.facts)))
    assert before.to_dict() == snapshot
