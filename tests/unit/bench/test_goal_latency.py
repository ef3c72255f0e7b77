"""The pure parts of bench/goal_latency.py: the goal and statements it sends, which stream
events mean "achieved", and the printed summary."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bench.goal_latency import (
    ACTIVITY,
    EXPERIENCED,
    PASSED,
    achieved_goal,
    goal_body,
    learner_ifi,
    learner_statement,
    phase_line,
)


def test_goal_body_is_a_learner_goal_to_pass_the_activity_within_thirty_days() -> None:
    body = goal_body("g-1", "ann", date(2026, 11, 30))
    assert body["owner"] == {"kind": "learner", "id": "mbox:mailto:ann@example.org"}
    assert (body["startDate"], body["achievedByDate"]) == ("2026-11-30", "2026-12-30")
    assert body["targets"] == [{"kind": "complete", "activities": [ACTIVITY], "require": "passed"}]


def test_learner_statement_names_the_learner_the_goal_names_and_succeeds_only_when_passed() -> None:
    now = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)
    passed = learner_statement("ann", PASSED, ACTIVITY, now)
    other = learner_statement("ann", EXPERIENCED, ACTIVITY, now)
    assert "mbox:" + passed["actor"]["mbox"] == learner_ifi("ann")
    assert (passed["result"]["success"], other["result"]["success"]) == (True, False)
    assert passed["timestamp"] == "2026-11-30T14:00:00+00:00"
    assert passed["id"] != other["id"]


def test_only_a_goal_progress_event_with_status_achieved_names_its_goal() -> None:
    assert achieved_goal("goal-progress", {"goalId": "g", "status": "achieved"}) == "g"
    assert achieved_goal("goal-progress", {"goalId": "g", "status": "on_track"}) is None
    assert achieved_goal("goal-removed", {"goalId": "g", "status": "achieved"}) is None
    assert achieved_goal("goal-progress", None) is None


def test_phase_line_gives_nearest_rank_percentiles_in_milliseconds() -> None:
    line = phase_line("busy", [0.1, 0.2, 0.3, 0.4], 1)
    assert line == "busy: p50=200 ms p95=400 ms max=400 ms (4 samples, 1 missed)"
    assert phase_line("idle", [], 2) == "idle: no samples (2 missed)"
