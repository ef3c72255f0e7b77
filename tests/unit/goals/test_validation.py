"""Goal definitions: what a valid body gives, and a 400 naming the field for each bad one."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from lrs.goals import parse_goal
from lrs.goals.model import Owner
from lrs.xapi.errors import BadRequest

TODAY = date(2026, 3, 1)
COURSE = "https://example.org/course/security"


def body(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "goalId": "security-q1",
        "name": "Security course by 31 March",
        "owner": {"kind": "team", "id": "registry:sales"},
        "startDate": "2026-01-01",
        "achievedByDate": "2026-03-31",
        "targets": [
            {"kind": "members", "share": 0.8, "of": {"kind": "complete", "activities": [COURSE]}}
        ],
    }
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not None}


def problem(doc: object) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse_goal(doc, "t1", TODAY)
    return caught.value


def test_a_team_goal_is_read_whole() -> None:
    goal = parse_goal(body(description="Everyone, please"), "t1", TODAY)
    assert goal.owner == Owner("team", "registry:sales")
    assert (goal.start, goal.achieved_by) == (date(2026, 1, 1), date(2026, 3, 31))
    [target] = goal.targets
    assert (target.kind, target.share) == ("members", 0.8)
    assert target.of is not None
    assert target.of.activities == (COURSE,)
    assert goal.as_json()["targets"][0]["of"]["require"] == "completed"


def test_start_defaults_to_today_and_id_to_the_given_one() -> None:
    doc = body(startDate=None, goalId=None)
    goal = parse_goal(doc, "t1", TODAY, goal_id="generated")
    assert (goal.start, goal.goal_id) == (TODAY, "generated")


def test_a_recurring_learner_goal_needs_no_due_date() -> None:
    doc = body(
        owner={"kind": "learner", "id": "mbox:mailto:a@example.org"},
        achievedByDate=None,
        recurrence="week",
        targets=[
            {"kind": "learning_days", "days": 5, "per": "week"},
            {"kind": "minutes", "minutes": 90},
        ],
    )
    goal = parse_goal(doc, "t1", TODAY)
    assert goal.recurrence == "week"
    assert [t.kind for t in goal.targets] == ["learning_days", "minutes"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"owner": {"kind": "department", "id": "x"}}, "owner.kind"),
        ({"owner": {"kind": "team"}}, "owner.id"),
        ({"owner": {"kind": "organisation", "id": "x"}}, "owner.id"),
        ({"startDate": "2026-02-30"}, "startDate"),
        ({"achievedByDate": "2025-12-31"}, "achievedByDate"),
        ({"achievedByDate": None}, "achievedByDate"),
        ({"recurrence": "fortnight"}, "recurrence"),
        ({"targets": []}, "targets"),
        ({"goalId": "has space"}, "goalId"),
        ({"colour": "red"}, "colour"),
        ({"targets": [{"kind": "complete", "activities": [COURSE]}]}, "targets[0].kind"),
        (
            {
                "targets": [
                    {"kind": "members", "share": 1.5, "of": {"kind": "minutes", "minutes": 5}}
                ]
            },
            "targets[0].share",
        ),
        (
            {"targets": [{"kind": "members", "share": 0.5, "of": {"kind": "members"}}]},
            "targets[0].of.kind",
        ),
        (
            {
                "targets": [
                    {
                        "kind": "members",
                        "share": 0.5,
                        "of": {"kind": "complete", "activities": ["not an iri"]},
                    }
                ]
            },
            "targets[0].of.activities",
        ),
        (
            {
                "targets": [
                    {
                        "kind": "members",
                        "share": 0.5,
                        "of": {"kind": "score", "activity": COURSE, "score": 0},
                    }
                ]
            },
            "targets[0].of.score",
        ),
        (
            {
                "targets": [
                    {
                        "kind": "members",
                        "share": 0.5,
                        "of": {"kind": "learning_days", "days": 8, "per": "week"},
                    }
                ]
            },
            "targets[0].of.days",
        ),
        (
            {
                "targets": [
                    {"kind": "members", "share": 0.5, "of": {"kind": "minutes", "minutes": True}}
                ]
            },
            "targets[0].of.minutes",
        ),
        (
            {
                "targets": [
                    {
                        "kind": "members",
                        "share": 0.5,
                        "of": {"kind": "complete", "activities": [COURSE], "require": "aced"},
                    }
                ]
            },
            "targets[0].of.require",
        ),
    ],
)
def test_a_bad_field_is_named(changes: dict[str, Any], field: str) -> None:
    error = problem(body(**changes))
    assert error.message.startswith(f"invalid goal: {field}: "), error.message
    assert error.details[0].path == field


def test_learning_days_per_period_cannot_exceed_the_period() -> None:
    owner = {"kind": "learner", "id": "mbox:mailto:a@example.org"}
    targets = [{"kind": "learning_days", "days": 40}]
    error = problem(body(owner=owner, startDate="2026-03-01", targets=targets))
    assert "targets[0].days" in error.message
    assert "31" in error.message


def test_every_problem_is_listed() -> None:
    error = problem(body(name="", recurrence="daily", targets="none"))
    assert [i.path for i in error.details] == ["name", "recurrence", "targets"]
    assert "2 more" in error.message


def test_a_body_that_is_not_an_object() -> None:
    assert problem([1, 2]).details[0].path == "$"
