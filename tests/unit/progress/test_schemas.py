"""The event values match their published JSON Schemas (both validators the project uses)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import pytest

from lrs.progress import LearnerState, fold, summarize_learner, summarize_team
from tests.unit.progress.test_properties import learner_id, workload

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "events"
LEARNER_SCHEMA = "learner-progress.v1.json"
TEAM_SCHEMA = "team-progress.v1.json"
AS_OF = datetime(2026, 11, 21, 6, tzinfo=UTC)


@cache
def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / name).read_text())
    return loaded


def assert_valid(name: str, value: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(
        schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(value)
    jsonschema_rs.validator_for(schema(name), validate_formats=True).validate(value)


def assert_invalid(name: str, value: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema(name))
    assert not validator.is_valid(value)
    assert not jsonschema_rs.validator_for(schema(name)).is_valid(value)


def learner_summaries() -> list[dict[str, Any]]:
    states = [LearnerState("x")] + [fold(learner_id(1), workload(s).stream) for s in range(40)]
    return [summarize_learner(state, date(2026, 11, 21)) for state in states]


@pytest.mark.parametrize("name", [LEARNER_SCHEMA, TEAM_SCHEMA])
def test_schemas_are_draft_2020_12_with_their_id(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schema(name))
    assert schema(name)["$id"] == f"https://lrs.local/schemas/events/{name}"


@pytest.mark.parametrize("index", range(41))
def test_learner_summaries_match_the_schema(index: int) -> None:
    assert_valid(LEARNER_SCHEMA, learner_summaries()[index])


@pytest.mark.parametrize("size", [0, 1, 3, 8])
def test_team_summaries_match_the_schema(size: int) -> None:
    members: dict[str, Any] = {
        learner_id(n): fold(learner_id(n), workload(n, learner=n).stream) for n in range(size)
    }
    members["registry-only"] = None
    assert_valid(TEAM_SCHEMA, summarize_team("team-1", members, AS_OF))


def test_tenant_may_be_added_by_the_consumer() -> None:
    value = {**summarize_learner(LearnerState("x"), date(2026, 11, 21)), "tenant": "acme"}
    assert_valid(LEARNER_SCHEMA, value)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v.update(extra=1),
        lambda v: v.pop("totals"),
        lambda v: v["activities"][0].update(status="done"),
        lambda v: v["activities"][0].update(score_best=1.5),
        lambda v: v["totals"].update(active_days=-1),
        lambda v: v.update(as_of="yesterday"),
    ],
)
def test_learner_schema_rejects_wrong_values(mutate: Any) -> None:
    value = next(s for s in learner_summaries() if s["activities"])
    mutate(value)
    assert_invalid(LEARNER_SCHEMA, value)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v.pop("active_members_7d"),
        lambda v: v.update(members=1.5),
        lambda v: v["activities"][0].update(completion_rate=2),
        lambda v: v["activities"][0].pop("pass_rate"),
    ],
)
def test_team_schema_rejects_wrong_values(mutate: Any) -> None:
    members = {learner_id(1): fold(learner_id(1), workload(1).live)}
    value = summarize_team("t", members, AS_OF)
    mutate(value)
    assert_invalid(TEAM_SCHEMA, value)
