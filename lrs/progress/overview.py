"""An organisation's progress at a glance (the dashboard's overview), as a pure function.

Input: the learners' progress summaries (`summarize_learner` values, as stored) and the teams
with their members; `as_of` is passed in (no clock here). Output:

* `learners` and `active`: learners with progress, and how many were active today (the UTC date
  of `as_of`), in the last 7 and in the last 30 days (a statement within that many days before
  `as_of`, as team summaries count them);
* `teams`: every team, with its members and how many of them were active in each window;
* `courses`: every activity other activities roll up to (a statement's context `parent` or
  `grouping`, lrs.progress.facts), with the learners who started it, completed it (or passed)
  and passed it; `completion_rate` = completed / started. `activities`: the other activities
  most learners started (at most `TOP_ACTIVITIES`), for organisations whose statements name no
  courses;
* `recent_learners`: the `RECENT_LEARNERS` last active learners (the way to a learner's page).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lrs.progress.model import is_completed
from lrs.progress.names import most_used
from lrs.xapi.timefmt import format_timestamp, parse_timestamp

TOP_ACTIVITIES = 50
RECENT_LEARNERS = 20
WINDOWS = {"7d": timedelta(days=7), "30d": timedelta(days=30)}

Summary = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TeamEntry:
    """A team of the organisation: registry teams have a `name` of their own."""

    team: str
    name: str | None
    members: Collection[str]
    registered: bool


def summarize_organisation(
    learners: Sequence[Summary], teams: Iterable[TeamEntry], as_of: datetime
) -> dict[str, Any]:
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    active = _activity_windows(learners, as_of)
    courses, others = _activity_rows(learners)
    return {
        "as_of": format_timestamp(as_of),
        "learners": len(learners),
        "active": {window: len(ids) for window, ids in active.items()},
        "teams": [_team_row(team, active) for team in sorted(teams, key=lambda t: t.team)],
        "courses": courses,
        "activities": others[:TOP_ACTIVITIES],
        "recent_learners": _recent_learners(learners),
    }


def _activity_windows(learners: Sequence[Summary], as_of: datetime) -> dict[str, set[str]]:
    """Learner ids active in each window: `today`, `7d`, `30d`."""
    windows: dict[str, set[str]] = {"today": set(), **{w: set() for w in WINDOWS}}
    for summary in learners:
        last = _totals(summary).get("last_activity_at")
        if not last:
            continue
        at = parse_timestamp(str(last))
        if at.date() == as_of.date() and at <= as_of:
            windows["today"].add(str(summary["learner"]))
        for window, span in WINDOWS.items():
            if at >= as_of - span:
                windows[window].add(str(summary["learner"]))
    return windows


def _team_row(team: TeamEntry, active: Mapping[str, set[str]]) -> dict[str, Any]:
    members = set(team.members)
    return {
        "team": team.team,
        "name": team.name,
        "registered": team.registered,
        "members": len(members),
        **{f"active_{window}": len(members & ids) for window, ids in active.items()},
    }


def _activity_rows(
    learners: Sequence[Summary],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(courses, other activities), each by learners started (most first), then id."""
    by_activity: dict[str, list[Mapping[str, Any]]] = {}
    for summary in learners:
        for row in summary.get("activities") or ():
            by_activity.setdefault(str(row["activity"]), []).append(row)
    rows = [_activity_row(activity, found) for activity, found in by_activity.items()]
    rows.sort(key=lambda r: (-r["started"], r["activity"]))
    courses = [r for r in rows if r["course"]]
    return courses, [r for r in rows if not r["course"]]


def _activity_row(activity: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    completed = sum(1 for r in rows if is_completed(r))
    return {
        "activity": activity,
        "name": most_used(r.get("name") for r in rows),
        "course": any(r.get("child_statements") for r in rows),
        "started": len(rows),
        "completed": completed,
        "passed": sum(1 for r in rows if r.get("success") is True),
        "completion_rate": round(completed / len(rows), 4),
    }


def _recent_learners(learners: Sequence[Summary]) -> list[dict[str, Any]]:
    """The `RECENT_LEARNERS` last active learners, most recent first (then by id)."""
    by_id = sorted(learners, key=lambda s: str(s["learner"]))
    recent = sorted(
        by_id, key=lambda s: str(_totals(s).get("last_activity_at") or ""), reverse=True
    )
    return [
        {
            "learner": s["learner"],
            "name": s.get("name"),
            "last_activity_at": _totals(s).get("last_activity_at"),
            "activities_started": _totals(s).get("activities_started", 0),
            "activities_completed": _totals(s).get("activities_completed", 0),
        }
        for s in recent[:RECENT_LEARNERS]
    ]


def _totals(summary: Summary) -> Mapping[str, Any]:
    return summary.get("totals") or {}
