"""The period a goal is measured over, in UTC calendar days.

A one-off goal runs from `startDate` 00:00 UTC up to the end of `achievedByDate` (inclusive).
A recurring goal is measured per calendar period (an ISO week from Monday, a month, a quarter
starting January, April, July, October): the current period is the one holding the time of
evaluation, clipped so that it starts no earlier than `startDate` and ends no later than the
end of `achievedByDate` (when given). Before `startDate` the first period is the current one;
after the last day, the last one.

The same calendar serves the period a view is asked for (`parse_review_period`: `?period=`
or `?from=&to=`, docs/goals.md "Periods for growth talks"), so a quarter is one thing here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from lrs.goals.model import Goal
from lrs.xapi.errors import BadRequest, Issue
from lrs.xapi.timefmt import LATEST, floor_to_millis, format_timestamp, parse_timestamp

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
    """The calendar week (ISO, from Monday), month, quarter or year holding `day`; a week
    running past 9999-12-31 ends there."""
    if recurrence == "week":
        monday = day - timedelta(days=day.weekday())
        return Period(monday, min(monday, date.max - timedelta(days=6)) + timedelta(days=6))
    if recurrence == "year":
        return Period(date(day.year, 1, 1), date(day.year, 12, 31))
    months = 1 if recurrence == "month" else 3
    first_month = (day.month - 1) // months * months + 1
    first = date(day.year, first_month, 1)
    if first_month + months > 12:  # the period ends with December (also of year 9999)
        return Period(first, date(day.year, 12, 31))
    return Period(first, date(day.year, first_month + months, 1) - _ONE_DAY)


# ------------------------------------------------------------------ periods asked by a view

PERIOD_RULE = "period-form"
RANGE_RULE = "period-range"
_ONE_MS = timedelta(milliseconds=1)
_LAST_MS = LATEST.replace(microsecond=999_000)
_MAX_PARAM = 64
_CALENDAR = re.compile(
    r"(?P<year>[0-9]{4})(?:-(?:Q(?P<quarter>[1-4])|W(?P<week>[0-9]{2})|(?P<month>[0-9]{2})))?",
    re.ASCII,
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
PERIOD_FORMS = "YYYY, YYYY-Qn (quarter), YYYY-MM (month) or YYYY-Www (ISO week)"
BOUND_FORMS = "a date YYYY-MM-DD or an RFC 3339 timestamp with offset"


@dataclass(frozen=True, slots=True)
class ReviewPeriod:
    """The period a view is asked for: from `start` to `last`, BOTH INCLUSIVE, to the
    millisecond (the precision of the timestamps the LRS keeps). `label` names it as asked
    (`2026-Q4`, `2026-11`, `2026-W48`, `2026`, or `<from>/<to>`)."""

    start: datetime
    last: datetime
    label: str

    def bounds(self) -> tuple[str, str]:
        """`start` and `last` in the LRS timestamp form (lrs.xapi.timefmt.format_timestamp),
        whose string order is time order: a fact's `at` is in the period when between them."""
        return format_timestamp(self.start), format_timestamp(self.last)

    def holds(self, at: str) -> bool:
        """Whether a timestamp in the LRS form falls in the period."""
        low, high = self.bounds()
        return low <= at <= high

    def overlaps(self, period: Period) -> bool:
        """Whether some calendar day of `period` (a goal's) has an instant in this one."""
        return period.first_day <= self.last.date() and period.last_day >= self.start.date()

    def as_of(self, now: datetime) -> datetime:
        """The time a view of the period is computed at: now, or the period's last instant
        once it is over (a streak or "active in the last 7 days" as the period ended)."""
        return min(now, self.last)

    def is_over(self, now: datetime) -> bool:
        return now > self.last

    def as_json(self) -> dict[str, str]:
        return {
            "start": format_timestamp(self.start),
            "end": format_timestamp(self.last),
            "label": self.label,
        }


def parse_review_period(
    period: str | None, since: str | None, until: str | None
) -> ReviewPeriod | None:
    """`?period=` or `?from=&to=` as a ReviewPeriod (None when none is given); BadRequest
    naming the rule for anything else:

    * `period`: `2026` (a year), `2026-Q4` (October to December), `2026-11` (a month),
      `2026-W48` (an ISO week, Monday to Sunday); years 1 to 9999, all in UTC;
    * `from` and `to` together: each a date (`from` its first instant, `to` its last: the whole
      day counts) or an RFC 3339 timestamp with offset (that instant, included); `from` not
      after `to`. Instants outside the years 1 to 9999 are clamped to them.
    """
    if period is not None and (since is not None or until is not None):
        raise _refused(PERIOD_RULE, "period: give either period or from and to, not both")
    if period is not None:
        return _calendar(period)
    if since is None and until is None:
        return None
    if since is None or until is None:
        raise _refused(RANGE_RULE, "from, to: they go together; give both (or period)")
    start, last = _instant(since, "from", first=True), _instant(until, "to", first=False)
    if start > last:
        raise _refused(RANGE_RULE, "from, to: from must not be after to")
    return ReviewPeriod(start, last, f"{_label(since, start)}/{_label(until, last)}")


def _calendar(text: str) -> ReviewPeriod:
    fields = _CALENDAR.fullmatch(text.upper()) if len(text) <= _MAX_PARAM else None
    year = int(fields["year"]) if fields else 0
    if fields is None or year < 1:
        raise _refused(PERIOD_RULE, f"period: must be {PERIOD_FORMS}, years 1 to 9999")
    if fields["week"] is not None:
        return _days(_iso_week(year, int(fields["week"])), f"{year:04d}-W{fields['week']}")
    if fields["month"] is not None:
        month = int(fields["month"])
        if not 1 <= month <= 12:
            raise _refused(PERIOD_RULE, "period: a month is 01 to 12")
        return _days(_calendar_period("month", date(year, month, 1)), f"{year:04d}-{month:02d}")
    if fields["quarter"] is not None:
        first = date(year, 3 * int(fields["quarter"]) - 2, 1)
        return _days(_calendar_period("quarter", first), f"{year:04d}-Q{fields['quarter']}")
    return _days(_calendar_period("year", date(year, 1, 1)), f"{year:04d}")


def _iso_week(year: int, week: int) -> Period:
    try:
        monday = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise _refused(PERIOD_RULE, f"period: ISO year {year} has no week {week:02d}") from None
    return _calendar_period("week", monday)


def _days(period: Period, label: str) -> ReviewPeriod:
    return ReviewPeriod(midnight(period.first_day), _end_of(period.last_day), label)


def _end_of(day: date) -> datetime:
    """The last millisecond of a UTC day."""
    return _LAST_MS if day == date.max else midnight(day + _ONE_DAY) - _ONE_MS


def _instant(text: str, name: str, *, first: bool) -> datetime:
    if len(text) <= _MAX_PARAM and _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
        if day is not None:
            return midnight(day) if first else _end_of(day)
    elif len(text) <= _MAX_PARAM and _RFC3339.fullmatch(text):
        try:
            return _to_ms(parse_timestamp(text), up=first)
        except ValueError:
            pass
    raise _refused(RANGE_RULE, f"{name}: must be {BOUND_FORMS} (years 1 to 9999)")


def _to_ms(moment: datetime, *, up: bool) -> datetime:
    """Millisecond precision: a start rounds up, a last instant down (nothing between is lost
    or added, as stored timestamps have milliseconds)."""
    down = floor_to_millis(moment)
    return down + _ONE_MS if up and down != moment and down < _LAST_MS else down


def _label(text: str, moment: datetime) -> str:
    return text if _DATE.fullmatch(text) else format_timestamp(moment)


def _refused(rule: str, message: str) -> BadRequest:
    """A 400 whose message starts with the parameter(s) at fault, then the rule."""
    param = message.partition(":")[0].partition(",")[0]
    return BadRequest(message, [Issue(f"?{param}", rule, message)])
