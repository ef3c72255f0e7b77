"""Progress of a whole organisation (the tenant): the `lrs.progress.organisation` value, as a
pure function of the learners, the teams, the goal progress values and the time passed in
(docs/organisation.md, docs/decisions/0020-organisation-progress.md).

Definitions (every day is a UTC calendar day; "today" is the UTC date of `as_of`):

* `learners`: learners with at least one live (not voided) statement.
* `active.today` / `active.7d` / `active.30d`: learners with a live statement whose timestamp
  falls on today / on one of the 7 / 30 days ending today (today included). A statement dated
  after today counts from its day on (a clock recomputes the value every midnight).
* `learning_days`: over the `LEARNING_WEEKS` weeks (28 days) ending today: `days` = the
  (learner, day) pairs with a live statement, `learners` = the learners with at least one such
  day, `per_learner_per_week` = days / learners / LEARNING_WEEKS (0 without learners), rounded
  to 2 decimals: how many days a week those who learn at all learn, on average.
* `courses`: every activity some learner's statements roll up to (a statement's context
  `parent` or `grouping`, as learner progress counts it), with `started` = learners who have
  the course in progress (a live statement about it or about an activity under it),
  `completed` = those of them who completed or passed it, `passed` = those who passed it;
  `completion_rate` = completed / started and `pass_rate` = passed / started (4 decimals).
  Most started first, then by id; at most `MAX_COURSES` (`courses_omitted` says how many more).
* `teams`: every team side by side, by id: registry teams (with their registry name) and teams
  only statements name (name None); members = registry members + learners whose progress lists
  the team (a member without statements counts as a member, never as active). Per team:
  `members`, `active` (as above, among the members), `learning_days_per_learner_per_week` (as
  above, among the members), `completion_rate` = the members' completed courses / the courses
  they started, and `goals` (status counts of the team's goals). At most `MAX_TEAMS`.
* `goals`: per owner kind (`organisation`, `team`, `learner`) the number of goals in each status
  (`not_started`, `on_track`, `at_risk`, `achieved`, `missed`), from the goal progress values;
  archived goals are left out.
* `next_check_at`: the next midnight (UTC), when the windows move with no new statement.
"""

from __future__ import annotations

import functools
import sys
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from lrs.progress.model import LearnerState, is_completed
from lrs.progress.names import most_used
from lrs.progress.overview import TeamEntry
from lrs.progress.streaks import utc_date
from lrs.xapi.timefmt import format_timestamp

ACTIVE_WINDOWS = {"today": 1, "7d": 7, "30d": 30}
LEARNING_WEEKS = 4
MAX_COURSES = 100
MAX_TEAMS = 500
GOAL_STATUSES = ("not_started", "on_track", "at_risk", "achieved", "missed")
GOAL_OWNER_KINDS = ("organisation", "team", "learner")

Summary = Mapping[str, Any]


class ActivityMark(NamedTuple):
    """What the organisation needs of one activity row of a learner's summary
    (`summarize_learner(...)["activities"]`): the activity and its name, whether other
    activities of the learner rolled up to it (`child_statements`: a course), whether the
    learner is done with it (`is_completed`) and whether they passed it (`success` true).
    A tuple: built for every row of every learner read, it is made about twice as fast as a
    frozen dataclass."""

    activity: str
    name: str | None
    rolled_up: bool
    completed: bool
    passed: bool


@dataclass(frozen=True, slots=True)
class LearnerFigures:
    """What the organisation needs of one learner: the UTC days with a live statement (sorted),
    the marks of the learner's summary rows and the teams the learner's progress lists
    (sorted). Built by `figures_of` only, which sorts them (the day counts bisect the days)
    and keeps them small: an organisation-progress consumer holds them for every learner of
    its tenants (docs/decisions/0034)."""

    learner: str
    days: tuple[date, ...]
    activities: tuple[ActivityMark, ...] = ()
    teams: tuple[str, ...] = ()


def figures_of(
    learner: str, days: Iterable[date], rows: Iterable[Summary], teams: Iterable[str]
) -> LearnerFigures:
    """A learner's figures from the days, the summary rows and the teams.

    Held for thousands of learners, they share what repeats from learner to learner: the
    activity ids, names and team ids (interned strings) and the days (one `date` per day);
    a row keeps five fields of its thirteen. A learner with 17.5 rows and 19 days then takes
    about 2.1 KB where the decoded rows took about 21 KB (bench/held_memory.py)."""
    return LearnerFigures(
        learner,
        tuple(sorted({_shared_day(d) for d in days})),
        tuple(activity_mark(row) for row in rows),
        tuple(sorted({sys.intern(t) for t in teams})),
    )


def activity_mark(row: Summary) -> ActivityMark:
    """The mark of a summary row (see `ActivityMark`)."""
    name = row.get("name")
    return ActivityMark(
        sys.intern(str(row["activity"])),
        sys.intern(name) if isinstance(name, str) else None,
        bool(row.get("child_statements")),
        is_completed(row),
        row.get("success") is True,
    )


@functools.lru_cache(maxsize=16_384)  # about 45 years of days
def _shared_day(day: date) -> date:
    """The first `date` seen equal to `day`: learners' days share their objects."""
    return day


def learner_figures(
    state: LearnerState, activities: Iterable[Summary], teams: Iterable[str]
) -> LearnerFigures:
    """A learner's figures from the stored state (its facts' days) and summary."""
    return figures_of(state.learner, active_days(state), activities, teams)


def active_days(state: LearnerState) -> frozenset[date]:
    """The UTC days with a live statement of the learner (by statement timestamp), sealed
    facts' included."""
    return frozenset(utc_date(f.at) for f in state.facts.values()) | state.sealed.counted.days


def summarize_organisation_progress(
    learners: Iterable[LearnerFigures],
    teams: Iterable[TeamEntry],
    goals: Iterable[Summary],
    as_of: datetime,
) -> dict[str, Any]:
    """The organisation's value (without `tenant` and `version`, which the caller adds)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    today = as_of.astimezone(UTC).date()
    live = {lr.learner: lr for lr in learners if lr.days}
    goal_values = [g for g in goals if not g.get("archived")]
    courses = course_rows(live.values())
    team_rows = [
        _team_row(team, live, goal_values, today) for team in sorted(teams, key=lambda t: t.team)
    ]
    return {
        "as_of": format_timestamp(as_of),
        "learners": len(live),
        "active": active_counts(live.values(), today),
        "learning_days": learning_days(live.values(), today),
        "courses": courses[:MAX_COURSES],
        "courses_omitted": max(0, len(courses) - MAX_COURSES),
        "teams": team_rows[:MAX_TEAMS],
        "teams_omitted": max(0, len(team_rows) - MAX_TEAMS),
        "goals": {kind: goal_counts(goal_values, kind) for kind in GOAL_OWNER_KINDS},
        "next_check_at": format_timestamp(next_midnight(as_of)),
    }


def next_midnight(as_of: datetime) -> datetime:
    """The start of the next UTC day."""
    tomorrow = as_of.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(), UTC)


def _window(today: date, days: int) -> tuple[date, date]:
    return today - timedelta(days=days - 1), today


def _days_within(figures: LearnerFigures, first: date, last: date) -> int:
    """How many of the learner's days fall from `first` to `last` (its days are sorted)."""
    return bisect_right(figures.days, last) - bisect_left(figures.days, first)


def active_counts(learners: Iterable[LearnerFigures], today: date) -> dict[str, int]:
    """Learners with a live statement on a day of each window ending today."""
    found = list(learners)
    counts = {}
    for name, days in ACTIVE_WINDOWS.items():
        first, last = _window(today, days)
        counts[name] = sum(1 for lr in found if _days_within(lr, first, last))
    return counts


def learning_days(learners: Iterable[LearnerFigures], today: date) -> dict[str, Any]:
    """(learner, day) pairs with a live statement in the last LEARNING_WEEKS weeks, the
    learners having any, and the days per learner per week."""
    first, last = _window(today, 7 * LEARNING_WEEKS)
    per_learner = [_days_within(lr, first, last) for lr in learners]
    days, active = sum(per_learner), sum(1 for n in per_learner if n)
    return {
        "weeks": LEARNING_WEEKS,
        "days": days,
        "learners": active,
        "per_learner_per_week": round(days / active / LEARNING_WEEKS, 2) if active else 0.0,
    }


def course_rows(learners: Iterable[LearnerFigures]) -> list[dict[str, Any]]:
    """Per course (an activity others roll up to): learners started, completed, passed, and
    the completion and pass rates over those who started it."""
    by_activity: dict[str, list[ActivityMark]] = {}
    for learner in learners:
        for mark in learner.activities:
            by_activity.setdefault(mark.activity, []).append(mark)
    courses = [
        _course_row(activity, marks)
        for activity, marks in by_activity.items()
        if any(m.rolled_up for m in marks)
    ]
    courses.sort(key=lambda r: (-r["started"], r["activity"]))
    return courses


def _course_row(activity: str, marks: Sequence[ActivityMark]) -> dict[str, Any]:
    started = len(marks)
    completed = sum(1 for m in marks if m.completed)
    passed = sum(1 for m in marks if m.passed)
    return {
        "activity": activity,
        "name": most_used(m.name for m in marks),
        "started": started,
        "completed": completed,
        "passed": passed,
        "completion_rate": round(completed / started, 4),
        "pass_rate": round(passed / started, 4),
    }


def goal_counts(
    goals: Iterable[Summary], owner_kind: str, owner_id: str | None = None
) -> dict[str, int]:
    """How many goals of this owner kind (and owner id, when given) are in each status."""
    counts = dict.fromkeys(GOAL_STATUSES, 0)
    for goal in goals:
        owner = goal.get("owner") or {}
        if owner.get("kind") != owner_kind:
            continue
        if owner_id is not None and owner.get("id") != owner_id:
            continue
        status = str(goal.get("status"))
        counts[status] = counts.get(status, 0) + 1
    return counts


def _team_row(
    team: TeamEntry,
    learners: Mapping[str, LearnerFigures],
    goals: Sequence[Summary],
    today: date,
) -> dict[str, Any]:
    members = set(team.members)
    with_statements = [learners[m] for m in sorted(members) if m in learners]
    started = completed = 0
    for learner in with_statements:
        courses = [m for m in learner.activities if m.rolled_up]
        started += len(courses)
        completed += sum(1 for m in courses if m.completed)
    return {
        "team": team.team,
        "name": team.name,
        "registered": team.registered,
        "members": len(members),
        "active": active_counts(with_statements, today),
        "learning_days_per_learner_per_week": learning_days(with_statements, today)[
            "per_learner_per_week"
        ],
        "completion_rate": round(completed / started, 4) if started else None,
        "goals": goal_counts(goals, "team", team.team),
    }


def team_entries(
    registry: Iterable[tuple[str, str | None, Collection[str]]],
    learners: Iterable[LearnerFigures],
) -> list[TeamEntry]:
    """Every team: registry teams `(team, name, members)` with the learners whose progress lists
    them added, and the teams only learners' progress lists (no name, not registered)."""
    listed: dict[str, set[str]] = {}
    for figures in learners:
        for team in figures.teams:
            listed.setdefault(team, set()).add(figures.learner)
    entries = []
    for team, name, members in registry:
        entries.append(TeamEntry(team, name, {*members, *listed.pop(team, ())}, registered=True))
    entries += [TeamEntry(t, None, members, registered=False) for t, members in listed.items()]
    return sorted(entries, key=lambda e: e.team)
