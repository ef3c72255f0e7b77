"""Progress toward a goal, from its members' learner states and the time (pure; no clock).

What counts: the live (non-voided) statements of the members whose timestamp falls on a day of
the goal's current period (lrs.goals.periods). Activity figures are those of the learner
progress model over exactly those statements (`lrs.progress.summarize_learner`), so a course
counts the way progress already rolls up: its modules make it "in progress", and it is
completed or passed by a statement about the course itself (docs/decisions/0006).

Per target, `value` against `target` and `percentage` = 100 * min(1, value / target):
* `complete`: activities of the list completed (or passed, with `require: "passed"`);
* `score`: the best scaled score on the activity (0 when none);
* `learning_days` per period: distinct UTC days with a statement; per week: the weeks of the
  period (ISO weeks clipped to it) with at least `days` such days (at most the week's days in
  the period), against the number of weeks;
* `minutes`: the statements' durations (Data 4.6), in minutes;
* `members`: members meeting the learner-level target `of`, against ceil(share * members);
  no members means not met.
A goal's `percentage` is the mean of its targets' (each capped at 100).

Status (`status_of`), in this order:
1. `not_started` before the period starts;
2. `achieved` when every target is met;
3. `missed` once the period is over (the end of `achievedByDate`, or of the recurring period);
4. `at_risk` when the goal's fraction done is below the fraction of the period elapsed by more
   than AT_RISK_ALLOWANCE (10 points): e.g. half-way through the quarter with under 40 % done;
5. `not_started` when nothing counts yet (and not at risk), otherwise `on_track`.
Evaluation is a function of the SET of each member's facts: the order in which statements (and
voids) reached the learner state cannot change it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from lrs.goals.model import Goal, Target
from lrs.goals.periods import Period, current_period, previous_period
from lrs.progress.model import LearnerState, is_completed, summarize_learner
from lrs.progress.streaks import utc_date
from lrs.xapi.timefmt import format_timestamp

AT_RISK_ALLOWANCE = 0.10
STATUSES = ("not_started", "on_track", "at_risk", "achieved", "missed")


@dataclass(frozen=True, slots=True)
class Window:
    """One learner's learning within a period: activity rows, active days, seconds."""

    activities: Mapping[str, Mapping[str, Any]]
    days: frozenset[date]
    seconds: float


def learner_window(state: LearnerState | None, period: Period) -> Window:
    """The part of a learner's state that falls on the period's days."""
    if state is None:
        return Window({}, frozenset(), 0.0)
    facts = {sid: f for sid, f in state.whole().facts.items() if period.holds(utc_date(f.at))}
    inside = LearnerState(state.learner, facts)
    summary = summarize_learner(inside, period.last_day)
    rows = {row["activity"]: row for row in summary["activities"]}
    days = frozenset(utc_date(f.at) for f in facts.values())
    return Window(rows, days, summary["totals"]["time_spent_seconds"])


def learner_value(target: Target, window: Window, period: Period) -> tuple[float, float]:
    """(value, target) of a learner-level target."""
    if target.kind == "complete":
        done = sum(1 for a in target.activities if _done(window.activities.get(a), target.require))
        return float(done), float(len(target.activities))
    if target.kind == "score":
        row = window.activities.get(target.activity or "")
        best = row.get("score_best") if row else None
        return float(best if best is not None else 0.0), float(target.score or 0.0)
    if target.kind == "learning_days":
        return _learning_days(target, window, period)
    if target.kind == "minutes":
        return round(window.seconds / 60, 2), float(target.minutes or 0.0)
    raise ValueError(f"not a learner-level target: {target.kind}")


def _done(row: Mapping[str, Any] | None, require: str) -> bool:
    if row is None:
        return False
    return row["success"] is True if require == "passed" else is_completed(row)


def _learning_days(target: Target, window: Window, period: Period) -> tuple[float, float]:
    wanted = target.days or 0
    if target.per == "period":
        return float(len(window.days)), float(wanted)
    weeks = period.weeks()
    met = 0
    for week in weeks:
        length = (week.last_day - week.first_day).days + 1
        active = sum(1 for d in window.days if week.holds(d))
        met += active >= min(wanted, length)
    return float(met), float(len(weeks))


def _fraction(value: float, target: float) -> float:
    if target <= 0:
        return 0.0
    return min(1.0, max(0.0, value) / target)


def _percentage(fraction: float) -> float:
    return round(100 * fraction, 2)


def evaluate_targets(
    goal: Goal, members: Mapping[str, LearnerState | None], period: Period
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each target's figures, and the members meeting every target (group goals)."""
    windows = {m: learner_window(s, period) for m, s in sorted(members.items())}
    rows: list[dict[str, Any]] = []
    meeting_all = set(windows)
    for target in goal.targets:
        if target.kind == "members":
            row, meeting = _members_row(target, windows, period)
            meeting_all &= set(meeting)
        else:
            window = windows.get(goal.owner.id or "") or learner_window(None, period)
            value, wanted = learner_value(target, window, period)
            row = _row(target.kind, value, wanted)
        rows.append(row)
    return rows, sorted(meeting_all) if goal.owner.kind != "learner" else []


def _row(kind: str, value: float, wanted: float) -> dict[str, Any]:
    fraction = _fraction(value, wanted)
    met = wanted > 0 and value >= wanted
    return {
        "kind": kind,
        "value": value,
        "target": wanted,
        "percentage": _percentage(fraction),
        "met": met,
    }


def _members_row(
    target: Target, windows: Mapping[str, Window], period: Period
) -> tuple[dict[str, Any], list[str]]:
    assert target.of is not None
    assert target.share is not None
    meeting = []
    for member, window in windows.items():
        value, wanted = learner_value(target.of, window, period)
        if value >= wanted:
            meeting.append(member)
    required = math.ceil(target.share * len(windows) - 1e-9)
    row = _row("members", float(len(meeting)), float(required))
    row["met"] = bool(windows) and len(meeting) >= required
    row.update(members=len(windows), members_meeting=meeting)
    return row, meeting


def status_of(
    period: Period, now: datetime, fraction: float, achieved: bool
) -> tuple[str, datetime | None]:
    """The status by the rule of the module docstring, and the next time at which it would
    change with no new statement (None: never)."""
    if now < period.start:
        return "not_started", period.start
    if achieved:
        return "achieved", None
    if now >= period.end:
        return "missed", None
    length = (period.end - period.start).total_seconds()
    elapsed = (now - period.start).total_seconds() / length
    if fraction + AT_RISK_ALLOWANCE < elapsed:
        return "at_risk", period.end
    crossing = period.start + (period.end - period.start) * (fraction + AT_RISK_ALLOWANCE)
    next_check = min(period.end, crossing) if crossing > now else period.end
    return ("not_started" if fraction == 0 else "on_track"), next_check


def evaluate_goal(
    goal: Goal, members: Mapping[str, LearnerState | None], now: datetime
) -> dict[str, Any]:
    """The `lrs.progress.goal` value of a goal (schemas/events/goal-progress.v1.json), without
    the consumer's `version`. `members`: every member's state (None: no progress yet); for a
    learner goal, the owner alone."""
    period = current_period(goal, now)
    outcome = _outcome(goal, members, period, now)
    status, next_check = outcome["status"], outcome.pop("next_check")
    if goal.recurrence is not None and next_check is None and status in ("achieved", "missed"):
        next_check = _rollover(goal, period, now)
    previous = previous_period(goal, period)
    value = {
        "tenant": goal.tenant,
        "goalId": goal.goal_id,
        "name": goal.name,
        "owner": goal.owner.as_json(),
        "archived": goal.archived,
        "definition_version": goal.version,
        "as_of": format_timestamp(now),
        "period": period.as_json(),
        **outcome,
        "previous_period": _previous(goal, members, previous) if previous else None,
        "next_check_at": format_timestamp(next_check) if next_check and not goal.archived else None,
    }
    return value


def _outcome(
    goal: Goal, members: Mapping[str, LearnerState | None], period: Period, now: datetime
) -> dict[str, Any]:
    targets, meeting = evaluate_targets(goal, members, period)
    fraction = math.fsum(t["percentage"] for t in targets) / (100 * len(targets))
    achieved = all(t["met"] for t in targets)
    status, next_check = status_of(period, now, fraction, achieved)
    return {
        "status": status,
        "percentage": round(100 * fraction, 2),
        "members": len(members),
        "members_meeting": meeting,
        "targets": targets,
        "next_check": next_check,
    }


def _rollover(goal: Goal, period: Period, now: datetime) -> datetime | None:
    """A recurring goal's next period begins at the end of this one (unless this is the last)."""
    if goal.achieved_by is not None and period.last_day >= goal.achieved_by:
        return None
    return period.end if period.end > now else None


def ended_period(
    goal: Goal, members: Mapping[str, LearnerState | None], period: Period
) -> dict[str, Any]:
    """How one period of the goal ended, `{period, status, percentage}`, evaluated at its end
    (`previous_period`, and the older periods a growth talk asks for)."""
    return _previous(goal, members, period)


def _previous(
    goal: Goal, members: Mapping[str, LearnerState | None], period: Period
) -> dict[str, Any]:
    """How the period before the current one ended (recurring goals)."""
    outcome = _outcome(goal, members, period, period.end)
    return {
        "period": period.as_json(),
        "status": outcome["status"],
        "percentage": outcome["percentage"],
    }
