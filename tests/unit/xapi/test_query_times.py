"""`since`, `until` and the `more` cursor of GET statements take every timestamp the
specification allows (lrs.xapi.timefmt rules), never an error past parsing."""

from __future__ import annotations

import base64
import json

import pytest

from lrs.xapi.errors import BadRequest
from lrs.xapi.limits import DEFAULT_LIMITS
from lrs.xapi.query import Cursor, parse_query
from lrs.xapi.timefmt import EARLIEST, LATEST


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0001-01-01T00:00:00+01:00", EARLIEST),
        ("9999-12-31T23:59:59-01:00", LATEST),
        ("9999-12-31T23:59:60Z", LATEST),
    ],
)
def test_edge_times_are_clamped(name: str, value: str, expected: object) -> None:
    query = parse_query({name: value}, max_limit=100, limits=DEFAULT_LIMITS)
    assert getattr(query, name) == expected


def cursor_token(stored: object) -> str:
    raw = json.dumps([stored, "6f2d4a1c-3b5e-4c7d-8e9f-0a1b2c3d4e5f"]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_cursor_time_outside_what_utc_holds_is_no_cursor_the_lrs_issued() -> None:
    """Unlike since/until (clamped), a cursor is the LRS's own: it never writes such a time."""
    with pytest.raises(BadRequest):
        Cursor.decode(cursor_token("0001-01-01T00:00:00+01:00"))


@pytest.mark.parametrize("stored", ["not a time", 12, ["2024-01-01T00:00:00Z"]])
def test_cursor_with_a_bad_time_is_a_bad_request(stored: object) -> None:
    with pytest.raises(BadRequest):
        Cursor.decode(cursor_token(stored))
