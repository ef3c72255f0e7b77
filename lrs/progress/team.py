"""Team progress: aggregates over the members' learner summaries (`lrs.progress.team` value).

Membership is the union of the team registry and the teams statements name (`context.team`,
`context.contextGroups`); the caller resolves it and passes the members in. A member may have
no progress yet (None): they still count in `members` and in the completion-rate denominator.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from lrs.progress.model import LearnerState, is_completed, summarize_learner
from lrs.progress.names import most_used
from lrs.xapi.timefmt import format_timestamp, parse_timestamp

Member = Mapping[str, Any] | LearnerState | None
ACTIVE_WINDOWS_DAYS = (7, 30)
# What `summarize_team` reads of a member's summary (`member_view`): of the summary, of its
# `totals`, and of each of its `activities` rows.
VIEWED = ("team_names", "totals", "activities")
VIEWED_TOTALS = ("time_spent_seconds", "last_activity_at")
VIEWED_ROW = ("activity", "name", "completion", "success", "score_best", "time_spent_seconds")


def registry_teams_for(learner: str, registry: Mapping[str, Collection[str]]) -> list[str]:
    """The registry teams (team id -> member learner ids) that list this learner."""
    return sorted(team for team, members in registry.items() if learner in members)


def summarize_team(team_id: str, members: Mapping[str, Member], as_of: datetime) -> dict[str, Any]:
    """The value of an `lrs.progress.team` event (schemas/events/team-progress.v1.json).

    * active_members_{7,30}d: members whose last activity is within that many days before
      `as_of` (a tz-aware time, passed in).
    * per activity: `completion_rate` = members who completed or passed it / all members;
      `pass_rate` = members who passed / members with a graded outcome (None if none);
      `average_score` = mean of the members' best scaled scores.
    * `name` (of the team, and of each activity): the name most members' statements gave it
      (lrs.progress.names.most_used); None when none did (a registry name is the registry's).
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    summaries = [_summary(member, as_of) for _, member in sorted(members.items())]
    live = [s for s in summaries if s is not None]
    activities = _activity_rows(live, len(summaries))
    return {
        "team": team_id,
        "name": most_used((s.get("team_names") or {}).get(team_id) for s in live),
        "as_of": format_timestamp(as_of),
        "members": len(summaries),
        **{f"active_members_{n}d": _active(live, as_of, n) for n in ACTIVE_WINDOWS_DAYS},
        "time_spent_seconds": _sum(s["totals"]["time_spent_seconds"] for s in live),
        "average_score": _mean(a["score_best"] for s in live for a in s["activities"]),
        "activities": activities,
    }


def member_view(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What `summarize_team` reads of a member's learner summary, and nothing else (VIEWED):
    the same team value for a fraction of the memory. A team-progress consumer holds it for
    every member of its teams between triggers (docs/decisions/0033); the activity ids and
    names are interned, so members share them. A field the summary lacks stays absent."""
    view = _kept(summary, VIEWED)
    if isinstance(totals := view.get("totals"), Mapping):
        view["totals"] = _kept(totals, VIEWED_TOTALS)
    if isinstance(rows := view.get("activities"), list):
        view["activities"] = [_row_view(row) for row in rows]
    return view


def _row_view(row: Mapping[str, Any]) -> dict[str, Any]:
    view = _kept(row, VIEWED_ROW)
    for key in ("activity", "name"):
        if isinstance(text := view.get(key), str):
            view[key] = sys.intern(text)
    return view


def _kept(fields: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {key: fields[key] for key in keys if key in fields}


def _summary(member: Member, as_of: datetime) -> Mapping[str, Any] | None:
    if isinstance(member, LearnerState):
        return summarize_learner(member, as_of.date())
    return member


def _active(summaries: Iterable[Mapping[str, Any]], as_of: datetime, days: int) -> int:
    since = as_of - timedelta(days=days)
    last_times = (s["totals"]["last_activity_at"] for s in summaries)
    return sum(1 for last in last_times if last and parse_timestamp(last) >= since)


def _activity_rows(summaries: list[Mapping[str, Any]], member_count: int) -> list[dict[str, Any]]:
    by_activity: dict[str, list[Mapping[str, Any]]] = {}
    for summary in summaries:
        for row in summary["activities"]:
            by_activity.setdefault(row["activity"], []).append(row)
    return [_activity_row(a, rows, member_count) for a, rows in sorted(by_activity.items())]


def _activity_row(
    activity: str, rows: list[Mapping[str, Any]], member_count: int
) -> dict[str, Any]:
    passed = sum(1 for r in rows if r["success"] is True)
    failed = sum(1 for r in rows if r["success"] is False)
    completed = sum(1 for r in rows if is_completed(r))
    return {
        "activity": activity,
        "name": most_used(r.get("name") for r in rows),
        "started": len(rows),
        "completed": completed,
        "passed": passed,
        "failed": failed,
        "completion_rate": _ratio(completed, member_count),
        "pass_rate": _ratio(passed, passed + failed),
        "average_score": _mean(r["score_best"] for r in rows),
        "time_spent_seconds": _sum(r["time_spent_seconds"] for r in rows),
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(math.fsum(present) / len(present), 4) if present else None


def _sum(values: Iterable[float]) -> float:
    return round(math.fsum(values), 2)
