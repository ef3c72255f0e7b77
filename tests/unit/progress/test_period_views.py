"""Period views' pure parts (lrs.services.progress_periods): the facts a period keeps, the cap
on statements per view, the learner view's shape, and how the goals of a period ended."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from lrs.goals import Goal, Owner, Target
from lrs.goals.periods import Period, ReviewPeriod, parse_review_period
from lrs.ports.progress import LearnerProgressDoc
from lrs.progress import fold, learner_id, summarize_learner
from lrs.services.progress_periods import (
    MAX_OLDER_PERIODS,
    MAX_STATEMENTS_RULE,
    older_periods,
    period_outcomes,
    period_view,
    states_within,
    within,
)
from lrs.xapi.errors import BadRequest
from tests.support.factories import COURSE, MODULE_A, stmt, voided_by_admin

LEARNER = learner_id(stmt())
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def asked(text: str) -> ReviewPeriod:
    period = parse_review_period(text, None, None)
    assert period is not None
    return period


def doc_of(statements: list[dict[str, Any]], version: int = 7) -> LearnerProgressDoc:
    state = fold(LEARNER, statements)
    return LearnerProgressDoc(LEARNER, state.to_dict(), {}, [], version)


OCTOBER_LAST = stmt("completed", MODULE_A, at="2026-10-31T23:59:59.999Z")
NOVEMBER_FIRST = stmt("passed", COURSE, at="2026-11-01T00:00:00Z", result={"duration": "PT10M"})
NOVEMBER_LATE = stmt("experienced", MODULE_A, at="2026-11-20T10:00:00Z", parents=[COURSE])
NOVEMBER_VOIDED = stmt("completed", "https://example.org/voided", at="2026-11-21T10:00:00Z")
DECEMBER_FIRST = stmt("completed", MODULE_A, at="2026-12-01T00:00:00Z")
ALL = [OCTOBER_LAST, DECEMBER_FIRST, NOVEMBER_LATE, NOVEMBER_VOIDED, NOVEMBER_FIRST]


def test_the_period_keeps_the_live_facts_timestamped_in_it() -> None:
    state = fold(LEARNER, [*ALL, voided_by_admin(NOVEMBER_VOIDED["id"])])
    kept = within(state, asked("2026-11"))
    assert set(kept.facts) == {NOVEMBER_FIRST["id"], NOVEMBER_LATE["id"]}
    assert set(within(state, asked("2026-Q4")).facts) == {
        s["id"] for s in ALL if s is not NOVEMBER_VOIDED
    }
    assert within(state, asked("2026-Q3")).facts == {}


def test_the_view_is_the_model_over_the_statements_of_the_period() -> None:
    november = asked("2026-11")
    doc = doc_of([*ALL, voided_by_admin(NOVEMBER_VOIDED["id"])])
    states = states_within({LEARNER: doc}, november, max_statements=10)
    view = period_view(states[LEARNER], doc, "t", ["registry:sales"], november, NOW)
    expected = summarize_learner(
        fold(LEARNER, [NOVEMBER_LATE, NOVEMBER_FIRST]),
        date(2026, 11, 30),
        registry_teams=["registry:sales"],
    )
    assert view == {**expected, "tenant": "t", "version": 7, "period": november.as_json()}
    assert view["totals"]["activities_passed"] == 1
    assert view["totals"]["time_spent_seconds"] == 600


def test_a_running_period_is_viewed_as_of_now() -> None:
    doc = doc_of(ALL)
    december = asked("2026-12")
    view = period_view(within(fold(LEARNER, ALL), december), doc, "t", [], december, NOW)
    assert view["as_of"] == "2026-11-30"
    assert view["statements"] == 1


def test_more_statements_than_the_cap_is_a_400_naming_the_setting() -> None:
    q4 = asked("2026-Q4")
    docs = {LEARNER: doc_of(ALL)}
    assert len(states_within(docs, q4, max_statements=5)[LEARNER].facts) == 5
    with pytest.raises(BadRequest) as refused:
        states_within(docs, q4, max_statements=4)
    assert "LRS_PERIOD_VIEW_MAX_STATEMENTS = 4" in refused.value.message
    assert refused.value.message.startswith("period: 5 statements fall in 2026-Q4")
    assert [d.rule for d in refused.value.details] == [MAX_STATEMENTS_RULE]
    # statements outside the period do not count against the cap
    assert states_within(docs, asked("2026-11"), max_statements=3)


def goal(**changes: Any) -> Goal:
    fields: dict[str, Any] = {
        "tenant": "t",
        "goal_id": "g",
        "name": "g",
        "owner": Owner("learner", LEARNER),
        "start": date(2026, 9, 1),
        "achieved_by": date(2026, 9, 30),
        "targets": (Target("minutes", minutes=10),),
    }
    return Goal(**{**fields, **changes})


def value(
    start: str, end: str, status: str, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "goalId": "g",
        "status": status,
        "percentage": 50.0,
        "period": {"start": start, "end": end},
        "previous_period": previous,
    }


def test_a_one_off_goal_that_ended_shows_its_final_status() -> None:
    ended = value("2026-09-01", "2026-09-30", "missed")
    assert period_outcomes(goal(), ended, asked("2026-Q3"), NOW) == {
        "outcomes": [
            {
                "period": {"start": "2026-09-01", "end": "2026-09-30"},
                "status": "missed",
                "percentage": 50.0,
                "final": True,
                "source": "published",
            }
        ],
        "outcomes_complete": True,
    }


def test_a_running_goal_shows_its_current_status_not_final() -> None:
    running = goal(start=date(2026, 11, 1), achieved_by=date(2026, 12, 31))
    current = value("2026-11-01", "2026-12-31", "on_track")
    (outcome,) = period_outcomes(running, current, asked("2026-11"), NOW)["outcomes"]
    assert (outcome["status"], outcome["final"]) == ("on_track", False)


def test_a_recurring_goal_lists_the_published_periods_overlapping() -> None:
    monthly = goal(start=date(2026, 9, 1), achieved_by=None, recurrence="month")
    previous = {"period": {"start": "2026-10-01", "end": "2026-10-31"}, "status": "achieved"}
    previous["percentage"] = 100.0
    current = value("2026-11-01", "2026-11-30", "at_risk", previous)
    q4 = period_outcomes(monthly, current, asked("2026-Q4"), NOW)
    assert [(o["period"]["start"], o["status"], o["final"]) for o in q4["outcomes"]] == [
        ("2026-10-01", "achieved", True),
        ("2026-11-01", "at_risk", False),
    ]
    assert q4["outcomes_complete"] is True
    october = period_outcomes(monthly, current, asked("2026-10"), NOW)
    assert [o["status"] for o in october["outcomes"]] == ["achieved"]
    # September is no longer kept in the published value
    q3 = period_outcomes(monthly, current, asked("2026-Q3"), NOW)
    assert q3 == {"outcomes": [], "outcomes_complete": False}
    # before the goal started, nothing is missing
    august = period_outcomes(monthly, current, asked("2026-08"), NOW)
    assert august == {"outcomes": [], "outcomes_complete": True}
    since_august = parse_review_period(None, "2026-08-01", "2026-10-15")
    assert since_august is not None
    assert period_outcomes(monthly, current, since_august, NOW)["outcomes_complete"] is False


def test_older_periods_of_a_recurring_goal_are_those_before_the_published_ones() -> None:
    weekly = goal(start=date(2026, 9, 2), achieved_by=None, recurrence="week")
    kept = Period(date(2026, 11, 16), date(2026, 11, 22))  # the previous week, when published
    periods, complete = older_periods(weekly, kept, asked("2026-Q3"))
    # September: the clipped first week (from Wednesday 2 September) to the week of 28 Sept.
    assert periods[0] == Period(date(2026, 9, 2), date(2026, 9, 6))
    assert periods[-1] == Period(date(2026, 9, 28), date(2026, 10, 4))
    assert len(periods) == 5
    assert complete
    q4 = asked("2026-Q4")
    periods, complete = older_periods(weekly, kept, q4)
    assert (periods[0].first_day, periods[-1].last_day) == (date(2026, 9, 28), date(2026, 11, 15))
    assert complete
    assert older_periods(weekly, kept, asked("2026-12")) == ([], True)


def test_older_periods_are_bounded() -> None:
    weekly = goal(start=date(2000, 1, 3), achieved_by=None, recurrence="week")
    kept = Period(date(2026, 11, 16), date(2026, 11, 22))
    everything = parse_review_period(None, "2000-01-01", "2026-11-30")
    assert everything is not None
    periods, complete = older_periods(weekly, kept, everything)
    assert len(periods) == MAX_OLDER_PERIODS
    assert not complete
    assert periods[-1] == Period(date(2026, 11, 9), date(2026, 11, 15))  # the most recent kept
