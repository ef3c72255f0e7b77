"""Active days and streaks, counted in UTC dates up to an `as_of` day passed in."""

from __future__ import annotations

from datetime import date

import pytest

from lrs.progress import fold, summarize_learner
from lrs.progress.streaks import current_streak, longest_streak
from tests.support.factories import stmt

LEARNER = "mbox:mailto:learner1@example.org"


def days(*isodays: str) -> set[date]:
    return {date.fromisoformat(d) for d in isodays}


@pytest.mark.parametrize(
    ("active", "as_of", "current", "longest"),
    [
        ((), "2026-11-20", 0, 0),
        (("2026-11-20",), "2026-11-20", 1, 1),
        (("2026-11-19",), "2026-11-20", 1, 1),  # today is not over: yesterday's streak holds
        (("2026-11-18",), "2026-11-20", 0, 1),  # a whole day without learning breaks it
        (("2026-11-18", "2026-11-19", "2026-11-20"), "2026-11-20", 3, 3),
        (("2026-11-18", "2026-11-19"), "2026-11-20", 2, 2),
        (("2026-11-16", "2026-11-17", "2026-11-18", "2026-11-20"), "2026-11-20", 1, 3),
        (("2026-11-20", "2026-11-21", "2026-11-22"), "2026-11-20", 1, 1),  # future ignored
        (("2026-02-28", "2026-03-01"), "2026-03-01", 2, 2),  # across a month end
        (("2024-02-28", "2024-02-29", "2024-03-01"), "2024-03-01", 3, 3),  # leap day
        (("2025-12-31", "2026-01-01"), "2026-01-02", 2, 2),  # across a year end
    ],
)
def test_streaks(active: tuple[str, ...], as_of: str, current: int, longest: int) -> None:
    when = date.fromisoformat(as_of)
    assert current_streak(days(*active), when) == current
    assert longest_streak(days(*active), when) == longest


@pytest.mark.parametrize(
    ("timestamps", "active_days", "streak"),
    [
        # 23:30 at -02:00 is 01:30 UTC the next day: one UTC day each, two days in a row
        (["2026-11-19T23:30:00-02:00", "2026-11-20T10:00:00Z"], 1, 1),
        (["2026-11-19T21:30:00-02:00", "2026-11-20T10:00:00Z"], 2, 2),
        (["2026-11-19T23:59:59.999Z", "2026-11-20T00:00:00.000Z"], 2, 2),
        (["2026-11-20T00:30:00+01:00", "2026-11-20T10:00:00Z"], 2, 2),  # 23:30 UTC on the 19th
        (["2026-11-20T08:00:00Z", "2026-11-20T09:00:00Z", "2026-11-20T23:59:59Z"], 1, 1),
    ],
)
def test_active_days_are_utc_dates(timestamps: list[str], active_days: int, streak: int) -> None:
    state = fold(LEARNER, [stmt("experienced", at=t) for t in timestamps])
    totals = summarize_learner(state, date(2026, 11, 20))["totals"]
    assert (totals["active_days"], totals["current_streak_days"]) == (active_days, streak)


def test_streak_depends_on_as_of_not_on_a_clock() -> None:
    state = fold(LEARNER, [stmt("experienced", at=f"2026-11-{d}T12:00:00Z") for d in (18, 19, 20)])
    streaks = [
        summarize_learner(state, date(2026, 11, d))["totals"]["current_streak_days"]
        for d in (17, 18, 19, 20, 21, 22)
    ]
    assert streaks == [0, 1, 2, 3, 3, 0]
