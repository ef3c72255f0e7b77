"""The period a goal is measured over, in UTC calendar days.

A one-off goal runs from `startDate` 00:00 UTC up to the end of `achievedByDate` (inclusive).
A recurring goal is measured per calendar period (an ISO week from Monday, a month, a quarter
starting January, April, July, October): the current period is the one holding the time of
evaluation, clipped so that it starts no earlier than `startDate` and ends no later than the
end of `achievedByDate` (when given). Before `startDate` the first period is the current one;
after the last day, the last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from lrs.goals.model import Goal

_ONE_DAY = timedelta(days=1)
_SHORTEST_DAYS = {"week": 7, "month": 28, "quarter": 90}


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC; `first_day`..`last_day` are its calendar days."""

    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return midnight(self.last_day + _ONE_DAY)

    def holds(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def weeks(self) -> list[Period]:
        """The ISO weeks overlapping the period, each clipped to it."""
        weeks = []
        monday = self.first_day - timedelta(days=self.first_day.weekday())
        while monday <= self.last_day:
            sunday = monday + timedelta(days=6)
            weeks.append(Period(max(monday, self.first_day), min(sunday, self.last_day)))
            monday += timedelta(days=7)
        return weeks

    def as_json(self) -> dict[str, str]:
        return {"start": self.first_day.isoformat(), "end": self.last_day.isoformat()}


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def shortest_period_days(recurrence: str) -> int:
    """Days in the shortest period of a recurrence (a February, a first quarter)."""
    return _SHORTEST_DAYS[recurrence]


def current_period(goal: Goal, now: datetime) -> Period:
    """The period the goal is measured over at `now` (see the module docstring)."""
    if goal.recurrence is None:
        assert goal.achieved_by is not None  # validation requires one of the two
        return Period(goal.start, goal.achieved_by)
    day = max(now.astimezone(UTC).date(), goal.start)
    if goal.achieved_by is not None:
        day = min(day, goal.achieved_by)
    return _clipped(goal, _calendar_period(goal.recurrence, day))


def previous_period(goal: Goal, period: Period) -> Period | None:
    """The period before `period` of a recurring goal (None for a one-off or the first)."""
    if goal.recurrence is None or period.first_day <= goal.start:
        return None
    return _clipped(goal, _calendar_period(goal.recurrence, period.first_day - _ONE_DAY))


def _clipped(goal: Goal, period: Period) -> Period:
    last = period.last_day if goal.achieved_by is None else min(period.last_day, goal.achieved_by)
    return Period(max(period.first_day, goal.start), last)


def _calendar_period(recurrence: str, day: date) -> Period:
    if recurrence == "week":
        monday = day - timedelta(days=day.weekday())
        return Period(monday, monday + timedelta(days=6))
    months = 1 if recurrence == "month" else 3
    first_month = (day.month - 1) // months * months + 1
    first = date(day.year, first_month, 1)
    year, month = (
        (first.year + 1, 1)
        if first_month + months > 12
        else (
            first.year,
            first_month + months,
        )
    )
    return Period(first, date(year, month, 1) - _ONE_DAY)
