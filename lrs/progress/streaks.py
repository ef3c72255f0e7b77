"""Active days and streaks: learning is expected every day, so days are counted, not sessions.

A day is a UTC calendar date on which the learner has at least one (non-voided) statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from datetime import date, timedelta

_ONE_DAY = timedelta(days=1)


def utc_date(at: str) -> date:
    """The UTC date of a fact time (`at` is already in the LRS's UTC form, `YYYY-MM-DDT...Z`)."""
    return date.fromisoformat(at[:10])


def current_streak(days: Set[date], as_of: date) -> int:
    """Consecutive active days ending on `as_of`, or on the day before it.

    The day of `as_of` is not over yet: a learner active every day up to yesterday still has
    their streak this morning; it breaks only once a whole day passes without learning.
    Days after `as_of` (clock skew, future timestamps) are ignored.
    """
    day = as_of if as_of in days else as_of - _ONE_DAY
    count = 0
    while day in days:
        count += 1
        day -= _ONE_DAY
    return count


def longest_streak(days: Iterable[date], as_of: date) -> int:
    """The longest run of consecutive active days up to and including `as_of`."""
    longest = run = 0
    previous: date | None = None
    for day in sorted(d for d in days if d <= as_of):
        run = run + 1 if previous is not None and day - previous == _ONE_DAY else 1
        longest = max(longest, run)
        previous = day
    return longest
