"""Timestamps as the LRS writes them: ISO 8601 / RFC 3339 in UTC with millisecond precision."""

from __future__ import annotations

from datetime import UTC, datetime


def format_timestamp(moment: datetime) -> str:
    """``2026-11-23T03:10:00.123Z``: the form of every `stored` and of generated timestamps."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp with offset (validated beforehand) into an aware datetime.

    A timestamp without offset is read as UTC (xAPI Data 4.5 lets the LRS interpret it so).
    """
    value = text.strip().replace("z", "Z")
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
