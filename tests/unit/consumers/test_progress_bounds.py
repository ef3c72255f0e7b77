"""Published progress values always fit in one broker record (lrs.progress.bounds)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from consumers.progress.messages import MAX_VALUE_BYTES, learner_message, team_message
from lrs import topics
from lrs.ports.progress import LearnerDoc, TeamDoc
from lrs.progress import fold, summarize_learner, summarize_team
from lrs.progress.bounds import bound_learner_value
from tests.support.factories import stmt

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "events"
BROKER_DEFAULT_LIMIT = 1024 * 1024
LEARNER = "mbox:mailto:learner1@example.org"


def valid(schema: str, value: bytes) -> dict[str, Any]:
    validator = jsonschema_rs.validator_for(orjson.loads((SCHEMAS / schema).read_bytes()))
    decoded: dict[str, Any] = orjson.loads(value)
    validator.validate(decoded)
    return decoded


def parents(day: int) -> list[str]:
    return [f"https://example.org/course/{day}/{n}/{'x' * 4000}" for n in range(100)]


def adversarial_doc(registry_teams: list[str] | None = None) -> LearnerDoc:
    """Three statements on three days, each rolling up to 100 parents of 4,000 characters."""
    statements = [
        stmt(
            at=f"2026-11-{day:02d}T10:00:00Z",
            obj=f"https://example.org/m/{day}",
            parents=parents(day),
        )
        for day in (18, 20, 19)
    ]
    state = fold(LEARNER, statements)
    summary = summarize_learner(state, NOW.date(), registry_teams=registry_teams or ())
    return LearnerDoc(
        "acme", LEARNER, state, tuple(summary["teams"]), {**summary, "tenant": "acme"}, 7
    )


def header(message_headers: Any, name: str) -> str | None:
    found = [v.decode() for k, v in message_headers if k == name]
    return found[0] if found else None


def test_a_learner_with_huge_activities_is_published_within_the_limit() -> None:
    doc = adversarial_doc()
    assert len(orjson.dumps(doc.summary)) > BROKER_DEFAULT_LIMIT  # the full value would not fit
    message = learner_message(doc, NOW)
    assert len(message.value) <= MAX_VALUE_BYTES < BROKER_DEFAULT_LIMIT
    value = valid("learner-progress.v1.json", message.value)
    listed = [a["activity"] for a in value["activities"]]
    assert listed == sorted(listed)
    omitted = value["totals"]["activities_started"] - len(listed)
    assert omitted > 0
    assert header(message.headers, topics.HEADER_ACTIVITIES_OMITTED) == str(omitted)
    assert value["totals"] == doc.summary["totals"]
    assert value["version"] == 7
    # the most recently active first: none left out is more recent than one listed
    left_out = [a for a in doc.summary["activities"] if a["activity"] not in set(listed)]
    latest_left_out = max(a["last_activity_at"] for a in left_out)
    assert min(a["last_activity_at"] for a in value["activities"]) >= latest_left_out
    assert set(parents(20)) <= set(listed)


def test_the_limit_is_a_setting() -> None:
    doc = adversarial_doc()
    message = learner_message(doc, NOW, max_value_bytes=100_000)
    assert len(message.value) <= 100_000
    value = valid("learner-progress.v1.json", message.value)
    assert 0 < len(value["activities"]) < 30


def test_a_learner_in_huge_teams_drops_teams_once_no_activity_fits() -> None:
    teams = [f"registry:{n}:{'t' * 4000}" for n in range(300)]
    doc = adversarial_doc(teams)
    message = learner_message(doc, NOW)
    assert len(message.value) <= MAX_VALUE_BYTES
    value = valid("learner-progress.v1.json", message.value)
    assert value["activities"] == []
    assert 0 < len(value["teams"]) < 300
    assert header(message.headers, topics.HEADER_TEAMS_OMITTED) == str(300 - len(value["teams"]))


def test_a_team_of_such_learners_is_published_within_the_limit() -> None:
    summary = adversarial_doc().summary
    team_summary = {**summarize_team("t1", {"a": summary, "b": None}, NOW), "tenant": "acme"}
    assert len(orjson.dumps(team_summary)) > BROKER_DEFAULT_LIMIT
    message = team_message(TeamDoc("acme", "t1", team_summary, ("a", "b"), 2), NOW)
    assert len(message.value) <= MAX_VALUE_BYTES
    value = valid("team-progress.v1.json", message.value)
    omitted = len(team_summary["activities"]) - len(value["activities"])
    assert omitted > 0
    assert header(message.headers, topics.HEADER_ACTIVITIES_OMITTED) == str(omitted)


def test_a_value_that_fits_is_published_whole() -> None:
    state = fold(LEARNER, [stmt(parents=parents(1)[:2])])
    summary = {**summarize_learner(state, NOW.date()), "tenant": "acme"}
    bounded, omitted = bound_learner_value(summary, MAX_VALUE_BYTES)
    assert (bounded, bool(omitted)) == (summary, False)
    message = learner_message(LearnerDoc("acme", LEARNER, state, (), summary, 1), NOW)
    assert header(message.headers, topics.HEADER_ACTIVITIES_OMITTED) is None
    assert len(valid("learner-progress.v1.json", message.value)["activities"]) == 3
