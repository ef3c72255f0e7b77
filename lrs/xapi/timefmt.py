"""Timestamps: the form the LRS writes (ISO 8601 / RFC 3339 in UTC, millisecond precision) and
the one way a client's timestamp becomes an instant.

xAPI Data 4.5 accepts every ISO 8601 date-time: leap seconds (``23:59:60``), offsets that move
the instant outside the years 1 to 9999 (``0001-01-01T00:00:00+01:00`` is in year 0 in UTC),
more fraction digits than a microsecond. Python's ``datetime`` holds none of these, so every
client timestamp goes through `timestamp_micros` (the exact instant, as an integer) and
`parse_timestamp` (an aware UTC ``datetime``) with these documented rules:

* a leap second ``:60`` (with any fraction) is the last representable instant of its minute,
  ``:59.999999``; it therefore sorts after every other instant of that minute;
* fraction digits beyond the microsecond are truncated (Data 4.5 allows truncation);
* a timestamp without offset is UTC (Data 4.5 lets the LRS interpret it so);
* `parse_timestamp` clamps instants before ``0001-01-01T00:00:00Z`` to that instant and instants
  after ``9999-12-31T23:59:59.999999Z`` to that one; `timestamp_micros` does not clamp.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAYS_IN_400_YEARS = 146_097
_MICROS_PER_SECOND = 1_000_000
_MICROS_PER_DAY = 86_400 * _MICROS_PER_SECOND
_EARLIEST_US = (EARLIEST.toordinal() - _EPOCH_ORDINAL) * _MICROS_PER_DAY
_LATEST_US = (LATEST.toordinal() - _EPOCH_ORDINAL + 1) * _MICROS_PER_DAY - 1

# ISO 8601 extended or basic form; the schema (Data 4.5) decides what a statement may carry,
# this grammar is a superset of it (also used for `since` / `until`, which may omit the time).
_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})-?(?P<month>[0-9]{2})-?(?P<day>[0-9]{2})"
    r"(?:[Tt ](?P<hour>[0-9]{2}):?(?P<minute>[0-9]{2})"
    r"(?::?(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]+))?)?)?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<zh>[0-9]{2})(?::?(?P<zm>[0-9]{2}))?)?",
    re.ASCII,
)


def floor_to_millis(moment: datetime) -> datetime:
    """`moment` rounded down to the millisecond: the precision of every timestamp the LRS keeps
    (`stored`, a document's `updated`), which is that of MongoDB's dates."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def format_timestamp(moment: datetime) -> str:
    """``2026-11-23T03:10:00.123Z``: the form of every `stored` and of generated timestamps
    (four-digit year, so that string order is time order)."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """The aware UTC instant of an ISO 8601 timestamp, by the rules of the module docstring
    (leap second to ``:59.999999``; clamped to years 1 to 9999). ValueError if not a timestamp."""
    common = _common_case(text)
    if common is not None:
        return common
    micros = min(max(timestamp_micros(text), _EARLIEST_US), _LATEST_US)
    return EARLIEST + timedelta(microseconds=micros - _EARLIEST_US)


def timestamp_micros(text: str) -> int:
    """Microseconds since 1970-01-01T00:00:00Z of an ISO 8601 timestamp, exactly (not clamped;
    a leap second is ``:59.999999``). ValueError if `text` is not a timestamp."""
    fields = _TIMESTAMP.fullmatch(text.strip())
    if fields is None:
        return _other_iso_form_micros(text)
    days = _day_number(int(fields["year"]), int(fields["month"]), int(fields["day"]))
    return days * _MICROS_PER_DAY + _time_of_day_micros(fields) - _offset_micros(fields)


def to_utc_text(text: str) -> str:
    """A timestamp restated in UTC without moving its instant (Data 4.5: the LRS MAY return it
    in another time zone "so long as the point in time referenced is not affected"): fraction
    to the microsecond as `datetime.isoformat` writes it, a leap second kept as ``:60``. When
    the UTC form would leave the years 1 to 9999, `text` is returned unchanged."""
    common = _common_case(text)
    if common is not None:
        return common.replace(tzinfo=None).isoformat() + "Z"
    original = text
    leap = _leap_second_span(text)
    if leap is not None:  # the instant of :59 with the same fraction, then written as :60
        text = text.strip()
        text = text[: leap[0]] + "59" + text[leap[1] :]
    micros = timestamp_micros(text)
    if not _EARLIEST_US <= micros <= _LATEST_US:
        return original
    utc = EARLIEST.replace(tzinfo=None) + timedelta(microseconds=micros - _EARLIEST_US)
    written = utc.isoformat()
    if leap is not None:
        written = written[:17] + "60" + written[19:]
    return written + "Z"


def _common_case(text: str) -> datetime | None:
    """The fast path (statements are on the hot path): what `datetime.fromisoformat` reads and
    can convert to UTC, which is every timestamp but leap seconds and those at the edges of
    years 1 and 9999; None for those, which take the exact path (same instants, see tests)."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _leap_second_span(text: str) -> tuple[int, int] | None:
    fields = _TIMESTAMP.fullmatch(text.strip())
    if fields is None or fields["second"] != "60":
        return None
    return fields.span("second")


def _other_iso_form_micros(text: str) -> int:
    """ISO 8601 forms outside the xAPI grammar that `datetime.fromisoformat` reads (week dates,
    hour-only times), as `since` / `until` accepted them before; ValueError for anything else."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text[:64]!r}") from None
    offset = moment.utcoffset() or timedelta(0)
    local = moment.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (local - offset) // timedelta(microseconds=1)


def _day_number(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date; year 0 is allowed (Data 4.5 takes
    any four digits)."""
    if year == 0:  # 400 Gregorian years later is the same calendar, 146,097 days later
        return _day_number(400, month, day) - _DAYS_IN_400_YEARS
    return date(year, month, day).toordinal() - _EPOCH_ORDINAL


def _time_of_day_micros(fields: re.Match[str]) -> int:
    hour, minute = int(fields["hour"] or 0), int(fields["minute"] or 0)
    second = int(fields["second"] or 0)
    fraction = (fields["fraction"] or "")[:6].ljust(6, "0")
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError("time of day out of range")
    micros = int(fraction)
    if second == 60:  # the leap second: the last representable instant of the minute
        second, micros = 59, _MICROS_PER_SECOND - 1
    return ((hour * 60 + minute) * 60 + second) * _MICROS_PER_SECOND + micros


def _offset_micros(fields: re.Match[str]) -> int:
    if not fields["sign"]:
        return 0
    hours, minutes = int(fields["zh"]), int(fields["zm"] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError("time zone offset out of range")
    offset = (hours * 60 + minutes) * 60 * _MICROS_PER_SECOND
    return -offset if fields["sign"] == "-" else offset
