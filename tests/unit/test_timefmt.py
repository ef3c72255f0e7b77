"""The timestamp forms of lrs.xapi.timefmt that the stores rely on: millisecond precision."""

from __future__ import annotations

from datetime import UTC, datetime

from lrs.xapi.timefmt import LATEST, floor_to_millis, format_timestamp


def test_a_moment_is_kept_to_the_millisecond_below_it() -> None:
    moment = datetime(2026, 12, 2, 1, 2, 3, 456_789, tzinfo=UTC)
    assert floor_to_millis(moment) == datetime(2026, 12, 2, 1, 2, 3, 456_000, tzinfo=UTC)
    whole = datetime(2026, 12, 2, 1, 2, 3, 456_000, tzinfo=UTC)
    assert floor_to_millis(whole) == whole
    assert floor_to_millis(LATEST) == LATEST.replace(microsecond=999_000)


def test_the_floor_is_what_the_stored_form_shows() -> None:
    moment = datetime(2026, 12, 2, 1, 2, 3, 999_999, tzinfo=UTC)
    assert format_timestamp(floor_to_millis(moment)) == "2026-12-02T01:02:03.999Z"
    assert floor_to_millis(moment).tzinfo is UTC
