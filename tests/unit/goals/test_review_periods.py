"""The one parser of `?period=` and `?from=&to=` (lrs.goals.periods.parse_review_period): every
form, its bounds (both inclusive, to the millisecond), and every bad form refused with the rule."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lrs.goals.periods import (
    PERIOD_RULE,
    RANGE_RULE,
    Period,
    ReviewPeriod,
    parse_review_period,
)
from lrs.xapi.errors import BadRequest


def asked(period: str) -> ReviewPeriod:
    parsed = parse_review_period(period, None, None)
    assert parsed is not None
    return parsed


def between(since: str, until: str) -> ReviewPeriod:
    parsed = parse_review_period(None, since, until)
    assert parsed is not None
    return parsed


def utc(year: int, month: int, day: int, *clock: int) -> datetime:
    hour, minute, second, micro = (*clock, 0, 0, 0, 0)[:4]
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


LAST_MS = 999_000


@pytest.mark.parametrize(
    ("text", "start", "last", "label"),
    [
        ("2026-Q4", utc(2026, 10, 1), utc(2026, 12, 31, 23, 59, 59, LAST_MS), "2026-Q4"),
        ("2026-q1", utc(2026, 1, 1), utc(2026, 3, 31, 23, 59, 59, LAST_MS), "2026-Q1"),
        ("2026-Q2", utc(2026, 4, 1), utc(2026, 6, 30, 23, 59, 59, LAST_MS), "2026-Q2"),
        ("2026-11", utc(2026, 11, 1), utc(2026, 11, 30, 23, 59, 59, LAST_MS), "2026-11"),
        ("2028-02", utc(2028, 2, 1), utc(2028, 2, 29, 23, 59, 59, LAST_MS), "2028-02"),
        ("2026-12", utc(2026, 12, 1), utc(2026, 12, 31, 23, 59, 59, LAST_MS), "2026-12"),
        ("2026-W48", utc(2026, 11, 23), utc(2026, 11, 29, 23, 59, 59, LAST_MS), "2026-W48"),
        ("2026-w01", utc(2025, 12, 29), utc(2026, 1, 4, 23, 59, 59, LAST_MS), "2026-W01"),
        ("2026-W53", utc(2026, 12, 28), utc(2027, 1, 3, 23, 59, 59, LAST_MS), "2026-W53"),
        ("2026", utc(2026, 1, 1), utc(2026, 12, 31, 23, 59, 59, LAST_MS), "2026"),
        ("0001", utc(1, 1, 1), utc(1, 12, 31, 23, 59, 59, LAST_MS), "0001"),
        ("0001-W01", utc(1, 1, 1), utc(1, 1, 7, 23, 59, 59, LAST_MS), "0001-W01"),
        ("9999", utc(9999, 1, 1), utc(9999, 12, 31, 23, 59, 59, LAST_MS), "9999"),
        ("9999-12", utc(9999, 12, 1), utc(9999, 12, 31, 23, 59, 59, LAST_MS), "9999-12"),
        ("9999-Q4", utc(9999, 10, 1), utc(9999, 12, 31, 23, 59, 59, LAST_MS), "9999-Q4"),
        # the ISO week 52 of 9999 would end on 10000-01-02: it ends with the last day there is
        ("9999-W52", utc(9999, 12, 27), utc(9999, 12, 31, 23, 59, 59, LAST_MS), "9999-W52"),
    ],
)
def test_calendar_periods(text: str, start: datetime, last: datetime, label: str) -> None:
    period = asked(text)
    assert (period.start, period.last, period.label) == (start, last, label)


def test_no_period_is_none() -> None:
    assert parse_review_period(None, None, None) is None


def test_from_and_to_dates_are_whole_days_both_inclusive() -> None:
    period = between("2026-09-01", "2026-11-30")
    assert (period.start, period.last) == (utc(2026, 9, 1), utc(2026, 11, 30, 23, 59, 59, LAST_MS))
    assert period.label == "2026-09-01/2026-11-30"
    assert period.holds("2026-09-01T00:00:00.000Z")
    assert period.holds("2026-11-30T23:59:59.999Z")
    assert not period.holds("2026-08-31T23:59:59.999Z")
    assert not period.holds("2026-12-01T00:00:00.000Z")


def test_from_and_to_timestamps_are_instants_both_inclusive() -> None:
    period = between("2026-09-01T10:00:00+02:00", "2026-09-01T12:30:00.250Z")
    assert (period.start, period.last) == (utc(2026, 9, 1, 8), utc(2026, 9, 1, 12, 30, 0, 250_000))
    assert period.label == "2026-09-01T08:00:00.000Z/2026-09-01T12:30:00.250Z"
    assert period.holds("2026-09-01T08:00:00.000Z")
    assert period.holds("2026-09-01T12:30:00.250Z")
    assert not period.holds("2026-09-01T07:59:59.999Z")
    assert not period.holds("2026-09-01T12:30:00.251Z")


def test_sub_millisecond_bounds_keep_what_lies_between() -> None:
    period = between("2026-09-01T08:00:00.0005Z", "2026-09-01T08:00:00.0025Z")
    assert (period.start, period.last) == (
        utc(2026, 9, 1, 8, 0, 0, 1000),
        utc(2026, 9, 1, 8, 0, 0, 2000),
    )


def test_a_single_instant_and_a_single_day() -> None:
    assert between("2026-09-01T08:00:00Z", "2026-09-01T08:00:00Z").holds("2026-09-01T08:00:00.000Z")
    day = between("2026-09-01", "2026-09-01")
    assert (day.start, day.last) == (utc(2026, 9, 1), utc(2026, 9, 1, 23, 59, 59, LAST_MS))


def test_instants_beyond_the_years_are_clamped() -> None:
    period = between("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999-01:00")
    assert (period.start, period.last) == (utc(1, 1, 1), utc(9999, 12, 31, 23, 59, 59, LAST_MS))


def test_overlap_with_goal_periods_is_by_day() -> None:
    q4 = asked("2026-Q4")
    assert q4.overlaps(Period(date(2026, 9, 1), date(2026, 10, 1)))
    assert q4.overlaps(Period(date(2026, 12, 31), date(2027, 3, 31)))
    assert not q4.overlaps(Period(date(2026, 7, 1), date(2026, 9, 30)))
    assert not q4.overlaps(Period(date(2027, 1, 1), date(2027, 1, 31)))
    evening = between("2026-09-30T22:00:00-04:00", "2026-09-30T23:00:00-04:00")  # 1 October UTC
    assert evening.overlaps(Period(date(2026, 10, 1), date(2026, 10, 31)))
    assert not evening.overlaps(Period(date(2026, 9, 1), date(2026, 9, 30)))


def test_as_of_is_now_or_the_end_and_the_json() -> None:
    november = asked("2026-11")
    now = utc(2026, 11, 15, 9)
    assert november.as_of(now) == now
    assert not november.is_over(now)
    later = utc(2027, 1, 1)
    assert november.as_of(later) == november.last
    assert november.is_over(later)
    assert november.as_json() == {
        "start": "2026-11-01T00:00:00.000Z",
        "end": "2026-11-30T23:59:59.999Z",
        "label": "2026-11",
    }


BAD_PERIODS = [
    "",
    "0000",
    "0000-Q1",
    "10000",
    "26",
    "2026-Q0",
    "2026-Q5",
    "2026-00",
    "2026-13",
    "2026-1",
    "2026-W00",
    "2026-W54",
    "2025-W53",  # 2025 has 52 ISO weeks
    "2026-W7",
    "2026-11-01",
    "Q4-2026",
    " 2026",
    "2026 ",
    "\uff12\uff10\uff12\uff16",  # fullwidth digits are not ASCII digits
    "2026-H1",
    "2026" * 100,
]


@pytest.mark.parametrize("text", BAD_PERIODS)
def test_bad_periods_name_the_rule(text: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_review_period(text, None, None)
    assert refused.value.message.startswith("period: ")
    assert [(d.path, d.rule) for d in refused.value.details] == [("?period", PERIOD_RULE)]


BAD_RANGES = [
    ("2026-09-01", None, "from, to: they go together"),
    (None, "2026-09-01", "from, to: they go together"),
    ("2026-12-01", "2026-11-30", "from, to: from must not be after to"),
    ("2026-09-01T10:00:00.001Z", "2026-09-01T10:00:00Z", "from, to: from must not be after to"),
    ("2026-02-30", "2026-11-30", "from: must be a date"),
    ("0000-01-01", "2026-11-30", "from: must be a date"),
    ("2026-09-01", "10000-01-01", "to: must be a date"),
    ("2026-09-01T10:00:00", "2026-11-30", "from: must be a date"),  # no offset: not RFC 3339
    ("2026-09-01T24:00:00Z", "2026-11-30", "from: must be a date"),
    ("2026-09-01", "2026-11", "to: must be a date"),
    ("2026-09-01", "yesterday", "to: must be a date"),
    ("2026-09-01", "2026-11-30T00:00:00Z" + "0" * 100, "to: must be a date"),
    ("20260901", "2026-11-30", "from: must be a date"),
]


@pytest.mark.parametrize(("since", "until", "message"), BAD_RANGES)
def test_bad_ranges_name_the_rule(since: str | None, until: str | None, message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_review_period(None, since, until)
    assert refused.value.message.startswith(message)
    assert [d.rule for d in refused.value.details] == [RANGE_RULE]


def test_period_and_a_range_together_are_refused() -> None:
    for since, until in (("2026-09-01", "2026-11-30"), ("2026-09-01", None), (None, "x")):
        with pytest.raises(BadRequest) as refused:
            parse_review_period("2026-Q4", since, until)
        assert refused.value.message == "period: give either period or from and to, not both"
