"""The goal schemas agree with the code: the request body schema accepts what validation
accepts and rejects what it rejects; definitions and progress values match their event schemas
(both validators the project uses)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import pytest

from lrs.goals import evaluate_goal, parse_goal
from lrs.xapi.errors import BadRequest
from tests.support.factories import COURSE, stmt
from tests.unit.goals.test_properties import goals, states

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
TODAY = date(2026, 3, 1)
LEARNER = {"kind": "learner", "id": "mbox:mailto:a@example.org"}
VALID = [
    {
        "name": "weekly habit",
        "owner": LEARNER,
        "recurrence": "week",
        "targets": [{"kind": "learning_days", "days": 5, "per": "week"}],
    },
    {
        "goalId": "q1",
        "name": "q1",
        "description": "all of it",
        "type": "self",
        "owner": LEARNER,
        "startDate": "2026-01-01",
        "achievedByDate": "2026-03-31",
        "targets": [
            {"kind": "complete", "activities": [COURSE], "require": "passed"},
            {"kind": "score", "activity": COURSE, "score": 0.9},
            {"kind": "minutes", "minutes": 600},
        ],
    },
    {
        "name": "org",
        "owner": {"kind": "organisation"},
        "achievedByDate": "2026-12-31",
        "targets": [{"kind": "members", "share": 0.8, "of": {"kind": "minutes", "minutes": 60}}],
    },
]
INVALID = [
    {"name": "no period", "owner": LEARNER, "targets": [{"kind": "minutes", "minutes": 1}]},
    {**VALID[0], "targets": [{"kind": "minutes", "minutes": 0}]},
    {**VALID[0], "targets": [{"kind": "complete", "activities": []}]},
    {**VALID[0], "owner": {"kind": "planet"}},
    {**VALID[0], "extra": 1},
    {
        **VALID[2],
        "targets": [{"kind": "members", "share": 0, "of": {"kind": "minutes", "minutes": 1}}],
    },
]


@cache
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return loaded


def valid(name: str, value: object) -> bool:
    strict = jsonschema.Draft202012Validator(
        schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).is_valid(value)
    rust = jsonschema_rs.validator_for(schema(name), validate_formats=True).is_valid(value)
    assert strict == rust
    return strict


@pytest.mark.parametrize("body", VALID)
def test_valid_bodies(body: dict[str, Any]) -> None:
    assert valid("goal.v1.json", body)
    definition = parse_goal(body, "t1", TODAY, default_id="new").as_json()
    assert valid("events/goal.v1.json", definition)


@pytest.mark.parametrize("body", INVALID)
def test_invalid_bodies(body: dict[str, Any]) -> None:
    assert not valid("goal.v1.json", body)
    with pytest.raises(BadRequest):
        parse_goal(body, "t1", TODAY)


def test_progress_values_match_their_schema() -> None:
    delivered = [
        stmt("passed", COURSE, at="2026-03-02T10:00:00Z", learner=1, result={"duration": "PT9M"}),
        stmt("experienced", COURSE, at="2026-03-09T10:00:00Z", learner=2),
    ]
    members = states(delivered)
    for now in (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)):
        for g in goals():
            chosen = members if g.owner.kind != "learner" else {g.owner.id: members[g.owner.id]}
            value = {**evaluate_goal(g, chosen, now), "version": 1}
            assert valid("events/goal-progress.v1.json", value), value
    assert not valid("events/goal-progress.v1.json", {**value, "status": "late"})
