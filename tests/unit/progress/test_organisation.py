"""Organisation progress as a pure function (lrs.progress.organisation): the day windows, learning
days per learner per week, completion and pass rates per course over the learners who started
it, teams side by side (registry members without statements count as members only), goal
status counts (archived left out), the next check, and the published schema."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any

import pytest

from lrs.progress import fold, learner_id, summarize_learner
from lrs.progress.organisation import (
    ActivityMark,
    LearnerFigures,
    activity_mark,
    figures_of,
    learner_figures,
    summarize_organisation_progress,
    team_entries,
)
from tests.support.factories import COURSE, MODULE_A, stmt, voided_by_admin
from tests.unit.progress.test_schemas import assert_invalid, assert_valid

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
SCHEMA = "organisation-progress.v1.json"
SQUAD = {"objectType": "Group", "mbox": "mailto:squad@example.org"}


def figures(learner: int, statements: list[dict[str, Any]]) -> LearnerFigures:
    state = fold(learner_id(stmt(learner=learner)), statements)
    summary = summarize_learner(state, NOW.date())
    return learner_figures(state, summary["activities"], summary["teams"])


def on(day: str, learner: int, verb: str = "experienced", **kw: Any) -> dict[str, Any]:
    obj = kw.pop("obj", MODULE_A)
    parents = kw.pop("parents", [COURSE] if obj == MODULE_A else None)
    return stmt(verb, obj, at=f"{day}T09:00:00Z", learner=learner, parents=parents, **kw)


def goal(owner: dict[str, str], status: str, *, archived: bool = False) -> dict[str, Any]:
    return {"owner": owner, "status": status, "archived": archived}


def organisation() -> dict[str, Any]:
    passed = on("2026-11-19", 1, "passed", obj=COURSE)
    learners = [
        # 1: today, yesterday and 10 days ago; passed the course
        figures(1, [on("2026-11-20", 1), on("2026-11-19", 1), passed, on("2026-11-10", 1)]),
        # 2: six days ago (in 7d) and 29 days ago (in 30d and in the 28-day learning window? no)
        figures(2, [on("2026-11-14", 2, team=SQUAD), on("2026-10-22", 2)]),
        # 3: only 40 days ago, and a statement voided: a learner, never active
        figures(3, [on("2026-10-11", 3)]),
        # 4: everything voided: not a learner at all
        figures(4, [on("2026-11-20", 4, sid="v-1"), voided_by_admin("v-1")]),
        # 5: completed the course (not passed), 20 days ago; a future-dated statement
        figures(5, [on("2026-10-31", 5, "completed", obj=COURSE), on("2026-11-25", 5)]),
    ]
    registry = [("registry:sales", "Sales", [learners[0].learner, "mbox:mailto:new@x.org"])]
    goals = [
        goal({"kind": "organisation"}, "on_track"),
        goal({"kind": "team", "id": "registry:sales"}, "at_risk"),
        goal({"kind": "team", "id": "registry:sales"}, "achieved"),
        goal({"kind": "team", "id": "registry:sales"}, "missed", archived=True),
        goal({"kind": "learner", "id": learners[1].learner}, "not_started"),
    ]
    return summarize_organisation_progress(learners, team_entries(registry, learners), goals, NOW)


def test_active_learners_by_utc_day_windows_ending_today() -> None:
    value = organisation()
    assert value["learners"] == 4  # learner 4's only statement is voided
    assert value["active"] == {"today": 1, "7d": 2, "30d": 4 - 1}  # 3 is 40 days back


def test_learning_days_per_learner_per_week_over_four_weeks() -> None:
    # 1: 20th, 19th, 10th; 2: 14th (22 Oct is 29 days back: outside 28); 5: 31 Oct (25th is
    # in the future)
    assert organisation()["learning_days"] == {
        "weeks": 4,
        "days": 5,
        "learners": 3,
        "per_learner_per_week": round(5 / 3 / 4, 2),
    }


def test_course_rates_are_over_the_learners_who_started_the_course() -> None:
    (course,) = organisation()["courses"]
    assert course["activity"] == COURSE
    assert (course["started"], course["completed"], course["passed"]) == (4, 2, 1)
    assert (course["completion_rate"], course["pass_rate"]) == (0.5, 0.25)


def test_teams_side_by_side_with_members_activity_and_goals() -> None:
    squad, sales = organisation()["teams"]  # by id
    assert (sales["team"], sales["name"], sales["registered"]) == ("registry:sales", "Sales", True)
    assert sales["members"] == 2  # the newcomer without statements is a member ...
    assert sales["active"] == {"today": 1, "7d": 1, "30d": 1}  # ... never active
    assert sales["learning_days_per_learner_per_week"] == 0.75
    assert sales["completion_rate"] == 1.0
    assert sales["goals"] == {
        "not_started": 0,
        "on_track": 0,
        "at_risk": 1,
        "achieved": 1,
        "missed": 0,  # archived
    }
    assert (squad["team"], squad["name"], squad["registered"]) == (
        "mbox:mailto:squad@example.org",
        None,
        False,
    )
    assert (squad["members"], squad["active"]["7d"], squad["completion_rate"]) == (1, 1, 0.0)


def test_goal_status_counts_per_owner_kind_without_archived_goals() -> None:
    counts = organisation()["goals"]
    assert counts["organisation"]["on_track"] == 1
    assert (counts["team"]["at_risk"], counts["team"]["achieved"], counts["team"]["missed"]) == (
        1,
        1,
        0,
    )
    assert counts["learner"]["not_started"] == 1
    assert sum(sum(c.values()) for c in counts.values()) == 4


def test_next_check_is_the_next_utc_midnight_and_time_needs_a_zone() -> None:
    assert organisation()["next_check_at"] == "2026-11-21T00:00:00.000Z"
    with pytest.raises(ValueError, match="timezone"):
        summarize_organisation_progress([], [], [], datetime(2026, 11, 20))  # noqa: DTZ001


def test_the_order_of_the_inputs_does_not_matter() -> None:
    learners = [figures(n, [on(f"2026-11-{10 + n}", n)]) for n in range(1, 8)]
    registry = [("t", None, [lr.learner for lr in learners[:3]])]
    expected = summarize_organisation_progress(learners, team_entries(registry, learners), [], NOW)
    shuffled = learners[:]
    random.Random(5).shuffle(shuffled)
    again = summarize_organisation_progress(shuffled, team_entries(registry, shuffled), [], NOW)
    assert again == expected


def test_values_match_the_published_schema() -> None:
    value = {**organisation(), "tenant": "acme", "version": 3}
    assert_valid(SCHEMA, value)
    assert_valid(
        SCHEMA, {**summarize_organisation_progress([], [], [], NOW), "tenant": "a", "version": 1}
    )
    assert_invalid(SCHEMA, {**value, "active": {"today": 1}})
    assert_invalid(SCHEMA, {**value, "version": 0})


def row(activity: str, **fields: Any) -> dict[str, Any]:
    """A summary row as `summarize_learner` gives it, with `fields` changed."""
    base = {"activity": activity, "name": "A course", "completion": False, "success": None}
    return {**base, "child_statements": 0, "statements": 3, "score_best": 0.5, **fields}


def test_a_mark_keeps_what_the_organisation_counts_of_a_row() -> None:
    assert activity_mark(row("c", child_statements=2)) == ActivityMark(
        "c", "A course", rolled_up=True, completed=False, passed=False
    )
    assert activity_mark(row("c", completion=True)).completed
    passed = activity_mark(row("c", success=True))
    assert (passed.completed, passed.passed) == (True, True)  # a pass finishes an activity
    failed = activity_mark(row("c", success=False, completion=True))
    assert (failed.completed, failed.passed) == (True, False)
    assert activity_mark(row("c", name=None)).name is None
    assert activity_mark({"activity": "older"}) == ActivityMark("older", None, False, False, False)


def test_figures_share_what_repeats_from_learner_to_learner() -> None:
    """Held for every learner of a tenant, a learner's figures share the activity ids, names,
    team ids and days with the others' (docs/decisions/0034)."""
    day = "2026-11-20"

    def built(learner: str) -> LearnerFigures:
        rows = [row("".join(["course/", "1"]), name="".join(["Course ", "1"]))]
        days = [date.fromisoformat(day), date.fromisoformat("2026-11-02")]
        return figures_of(learner, days, rows, ["".join(["team/", "b"]), "team/a"])

    ann, bob = built("ann"), built("bob")
    assert ann.days == (date(2026, 11, 2), date(2026, 11, 20))  # sorted
    assert ann.teams == ("team/a", "team/b")
    assert ann.activities[0].activity is bob.activities[0].activity
    assert ann.activities[0].name is bob.activities[0].name
    assert ann.teams[1] is bob.teams[1]
    assert all(a is b for a, b in zip(ann.days, bob.days, strict=True))
    assert figures_of("cy", [date(2026, 11, 2)] * 3, [], ["t", "t"]).days == (date(2026, 11, 2),)
