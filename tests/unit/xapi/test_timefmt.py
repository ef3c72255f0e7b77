"""Every timestamp the xAPI schemas accept becomes an instant (lrs.xapi.timefmt)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrs.xapi._validation_rules import check_timestamp
from lrs.xapi.timefmt import (
    EARLIEST,
    LATEST,
    format_timestamp,
    parse_timestamp,
    timestamp_micros,
    to_utc_text,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "xapi"


def timestamp_pattern(version: str) -> str:
    common = json.loads((SCHEMAS / version / "common.json").read_text(encoding="utf-8"))
    pattern: str = common["$defs"]["timestamp"]["pattern"]
    return pattern


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-31T23:59:60Z", datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
        ("2026-12-31T23:59:60.25Z", datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
        ("2027-01-01T00:59:60+01:00", datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
        ("0001-01-01T00:00:00+01:00", EARLIEST),
        ("0000-06-01T00:00:00Z", EARLIEST),
        ("9999-12-31T23:59:59-01:00", LATEST),
        ("9999-12-31T23:59:60Z", LATEST),
        ("2024-01-01T02:00:00+02:00", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00.123456789Z", datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("20240101T013000,5-0030", datetime(2024, 1, 1, 2, 0, 0, 500_000, tzinfo=UTC)),
        ("2024-01-01t00:00z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00", datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_rules(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-01-01T25:00Z"]
)
def test_parse_timestamp_refuses_non_timestamps(text: str) -> None:
    with pytest.raises(ValueError, match=r"timestamp|range|day|month"):
        parse_timestamp(text)


def test_timestamp_micros_is_exact_outside_the_datetime_range() -> None:
    year_one = timestamp_micros("0001-01-01T00:00:00Z")
    assert timestamp_micros("0001-01-01T00:00:00+01:00") == year_one - 3_600_000_000
    assert timestamp_micros("0001-01-01T00:00:00+02:00") < timestamp_micros(
        "0001-01-01T00:00:00+01:00"
    )


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (EARLIEST, "0001-01-01T00:00:00.000Z"),
        (LATEST, "9999-12-31T23:59:59.999Z"),
        (datetime(2026, 11, 23, 3, 10, 0, 123456, tzinfo=UTC), "2026-11-23T03:10:00.123Z"),
    ],
)
def test_format_timestamp_keeps_four_digit_years(moment: datetime, text: str) -> None:
    assert format_timestamp(moment) == text


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2024-01-01T02:00:00+02:00", "2024-01-01T00:00:00Z"),
        ("2024-01-01T02:00:00.25+02:00", "2024-01-01T00:00:00.250000Z"),
        ("2027-01-01T00:59:60.5+01:00", "2026-12-31T23:59:60.500000Z"),
        ("2026-12-31T23:59:60Z", "2026-12-31T23:59:60Z"),
        ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+01:00"),
        ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59-01:00"),
    ],
)
def test_to_utc_text_never_moves_the_instant(text: str, utc: str) -> None:
    assert to_utc_text(text) == utc


def accepted_timestamps(version: str) -> st.SearchStrategy[str]:
    """Strings the version's timestamp schema accepts and validation keeps (real dates)."""
    strings = st.from_regex(timestamp_pattern(version), fullmatch=True)
    return strings.filter(lambda t: not list(check_timestamp(t, "$.timestamp")))


VALID_1_0_3 = accepted_timestamps("1.0.3")
VALID_2_0_0 = accepted_timestamps("2.0.0")
VALID_ANY = st.one_of(VALID_1_0_3, VALID_2_0_0)


@settings(max_examples=300, deadline=None)
@given(first=VALID_ANY, second=VALID_ANY)
def test_every_valid_timestamp_converts_and_orders_consistently(first: str, second: str) -> None:
    early, late = sorted([first, second], key=timestamp_micros)
    assert parse_timestamp(early) <= parse_timestamp(late)
    assert EARLIEST <= parse_timestamp(first) <= LATEST
    assert timestamp_micros(to_utc_text(first)) == timestamp_micros(first)
    assert format_timestamp(parse_timestamp(first))[:4].isdigit()
    assert parse_timestamp(first) == exact(first)


@settings(max_examples=300, deadline=None)
@given(text=VALID_ANY)
def test_agrees_with_python_where_python_can_represent_the_instant(text: str) -> None:
    """An independent oracle for the exact path: `datetime.fromisoformat` for the timestamps
    it can hold (the others are covered by the rules above)."""
    try:
        expected = datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        expected = None
    if expected is not None:
        assert timestamp_micros(text) == (expected - EPOCH) // timedelta(microseconds=1)
    assert parse_timestamp(text) == exact(text)


def exact(text: str) -> datetime:
    """parse_timestamp's rule computed from the exact instant (its fast path must agree)."""
    micro = timedelta(microseconds=1)
    earliest, latest = (EARLIEST - EPOCH) // micro, (LATEST - EPOCH) // micro
    return EPOCH + micro * min(max(timestamp_micros(text), earliest), latest)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-W01-1T10", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01T10+01:00", datetime(2024, 1, 1, 9, tzinfo=UTC)),
        ("0001-01-01T00:00+01:00:30", EARLIEST),
    ],
)
def test_other_iso_forms_python_reads_are_still_read(text: str, expected: datetime) -> None:
    """`since` / `until` took what `datetime.fromisoformat` reads before; they still do."""
    assert parse_timestamp(text) == expected
