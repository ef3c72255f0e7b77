"""Team aggregates over member summaries, relative to an `as_of` time passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from lrs.progress import (
    LearnerState,
    fold,
    registry_teams_for,
    summarize_learner,
    summarize_team,
)
from tests.support.factories import COURSE, MODULE_A, stmt

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def learner(n: int, statements: Sequence[dict[str, Any]]) -> dict[str, Any]:
    state = fold(f"mbox:mailto:learner{n}@example.org", statements)
    return summarize_learner(state, AS_OF.date())


def ago(days: float) -> str:
    return (AS_OF - timedelta(days=days)).isoformat()


def test_rates_scores_and_time_per_activity() -> None:
    members = {
        "a": learner(1, [stmt("passed", result={"score": {"scaled": 0.9}, "duration": "PT10M"})]),
        "b": learner(2, [stmt("failed", result={"score": {"scaled": 0.5}, "duration": "PT5M"})]),
        "c": learner(3, [stmt("completed")]),
        "d": learner(4, [stmt("attempted")]),
        "e": None,  # in the registry, no statements yet
    }
    team = summarize_team("t", members, AS_OF)
    (row,) = team["activities"]
    assert row == {
        "activity": MODULE_A,
        "name": None,  # `stmt` objects carry no definition
        "started": 4,
        "completed": 2,  # passed or completed
        "passed": 1,
        "failed": 1,
        "completion_rate": 0.4,  # of all 5 members
        "pass_rate": 0.5,  # of the 2 graded
        "average_score": 0.7,
        "time_spent_seconds": 900,
    }
    assert (team["members"], team["time_spent_seconds"], team["average_score"]) == (5, 900, 0.7)


def test_pass_rate_is_null_when_nobody_was_graded() -> None:
    team = summarize_team("t", {"a": learner(1, [stmt("completed")])}, AS_OF)
    assert team["activities"][0]["pass_rate"] is None
    assert team["activities"][0]["average_score"] is None
    assert team["average_score"] is None


def test_roll_up_shows_in_team_activities() -> None:
    team = summarize_team("t", {"a": learner(1, [stmt("passed", parents=[COURSE])])}, AS_OF)
    rows = {row["activity"]: row for row in team["activities"]}
    assert (rows[COURSE]["started"], rows[COURSE]["completed"]) == (1, 0)
    assert (rows[MODULE_A]["started"], rows[MODULE_A]["completed"]) == (1, 1)


@pytest.mark.parametrize(
    ("days_ago", "active_7", "active_30"),
    [
        (0, 1, 1),
        (6.9, 1, 1),
        (7, 1, 1),  # exactly 7 days before as_of is inside the window
        (7.01, 0, 1),
        (30, 0, 1),
        (30.5, 0, 0),
        (-1, 1, 1),  # clock skew: a timestamp after as_of still counts as active
    ],
)
def test_active_member_windows(days_ago: float, active_7: int, active_30: int) -> None:
    members = {"a": learner(1, [stmt("experienced", at=ago(days_ago))]), "b": None}
    team = summarize_team("t", members, AS_OF)
    assert (team["active_members_7d"], team["active_members_30d"]) == (active_7, active_30)


def test_as_of_in_another_zone_is_the_same_instant() -> None:
    members = {"a": learner(1, [stmt("experienced", at=ago(6.99))])}
    shifted = AS_OF.astimezone(timezone(timedelta(hours=-5)))
    assert summarize_team("t", members, shifted) == summarize_team("t", members, AS_OF)


def test_naive_as_of_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        summarize_team("t", {}, datetime(2026, 11, 20))  # noqa: DTZ001


def test_members_may_be_given_as_states() -> None:
    state = fold("mbox:mailto:learner1@example.org", [stmt("passed")])
    as_state = summarize_team("t", {"a": state}, AS_OF)
    as_summary = summarize_team("t", {"a": summarize_learner(state, date(2026, 11, 20))}, AS_OF)
    assert as_state == as_summary


def test_empty_team() -> None:
    team = summarize_team("t", {}, AS_OF)
    assert team == {
        "team": "t",
        "name": None,
        "as_of": "2026-11-20T12:00:00.000Z",
        "members": 0,
        "active_members_7d": 0,
        "active_members_30d": 0,
        "time_spent_seconds": 0,
        "average_score": None,
        "activities": [],
    }


def test_member_with_empty_state_counts_but_is_not_active() -> None:
    team = summarize_team("t", {"a": LearnerState("x")}, AS_OF)
    assert (team["members"], team["active_members_30d"]) == (1, 0)


def test_registry_teams_for() -> None:
    registry = {"eng": {"l1", "l2"}, "sales": {"l2"}, "ops": set()}
    assert registry_teams_for("l2", registry) == ["eng", "sales"]
    assert registry_teams_for("l9", registry) == []
