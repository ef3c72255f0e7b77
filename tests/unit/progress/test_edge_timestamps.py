"""Progress applies statements with every timestamp the specification allows (Data 4.5):
leap seconds, and offsets that move the instant outside the years 1 to 9999."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lrs.progress.model import LearnerState, apply, summarize_learner
from lrs.xapi.canonical import canonicalize
from lrs.xapi.validation import validate_statement
from tests.support.factories import stmt

EDGE = [
    ("2026-12-31T23:59:60Z", "2026-12-31T23:59:59.999Z"),
    ("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00.000Z"),
    ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59.999Z"),
]


@pytest.mark.parametrize(("timestamp", "fact_time"), EDGE)
def test_progress_applies_edge_timestamps(timestamp: str, fact_time: str) -> None:
    statement = stmt("completed", at=timestamp)
    validate_statement(statement, version="1.0.3")
    state = apply(LearnerState("learner"), statement)
    summary = summarize_learner(state, date(2026, 11, 30))
    assert summary["statements"] == 1
    assert summary["totals"]["last_activity_at"] == fact_time
    assert summary["activities"][0]["status"] == "completed"


def test_edge_timestamps_order_with_ordinary_ones() -> None:
    state = LearnerState("learner")
    for timestamp, _ in EDGE:
        state = apply(state, stmt("experienced", at=timestamp))
    state = apply(state, stmt("experienced", at="2026-11-20T10:00:00Z"))
    totals = summarize_learner(state, date(2026, 11, 30))["totals"]
    assert totals["first_activity_at"] == "0001-01-01T00:00:00.000Z"
    assert totals["last_activity_at"] == "9999-12-31T23:59:59.999Z"
    assert totals["active_days"] == 4


expected_2_0 = {  # in UTC when the instant has a four-digit UTC year, else as sent (Data 4.5)
    "2026-12-31T23:59:60Z": "2026-12-31T23:59:60Z",
    "0001-01-01T00:00:00+01:00": "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00": "9999-12-31T23:59:59-01:00",
}


@pytest.mark.parametrize("timestamp", list(expected_2_0))
def test_2_0_canonicalisation_accepts_edge_timestamps(timestamp: str) -> None:
    statement = stmt("completed", at=timestamp)
    del statement["stored"]
    validate_statement(statement, version="2.0.0")
    stored = canonicalize(
        statement,
        authority={"mbox": "mailto:lrs@example.org"},
        stored=datetime(2026, 11, 30, tzinfo=UTC),
        new_id=lambda: "0",
        spec_version="2.0.0",
    )
    assert stored["timestamp"] == expected_2_0[timestamp]
