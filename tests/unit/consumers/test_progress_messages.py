"""The progress consumers' records and the rebuild's progress bar (no broker, no store)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import jsonschema_rs
import orjson
import pytest

from consumers.progress.learner import comparable
from consumers.progress.messages import (
    LearnerRefresh,
    decode_learner_refresh,
    decode_team_ref,
    learner_message,
    learner_refresh_message,
    team_change_message,
    team_message,
)
from consumers.progress.rebuild import ProgressBar
from lrs import topics
from lrs.ports.progress import LearnerDoc, TeamDoc
from lrs.progress import fold, summarize_learner, summarize_team
from tests.support.factories import statement

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas" / "events"


def check(schema: str, value: bytes) -> None:
    validator = jsonschema_rs.validator_for(orjson.loads((SCHEMAS / schema).read_bytes()))
    validator.validate(orjson.loads(value))


def test_learner_message_is_keyed_by_tenant_and_learner_and_valid() -> None:
    state = fold("mbox:mailto:learner1@example.org", [statement()])
    summary = {**summarize_learner(state, NOW.date()), "tenant": "acme"}
    doc = LearnerDoc("acme", state.learner, state, (), summary, 3)
    message = learner_message(doc, NOW)
    assert message.key == topics.learner_key("acme", state.learner)
    assert orjson.loads(message.value)["version"] == 3
    check("learner-progress.v1.json", message.value)
    assert (topics.HEADER_TENANT, b"acme") in message.headers


def test_team_message_is_valid() -> None:
    summary = {**summarize_team("t1", {"a": None}, NOW), "tenant": "acme"}
    message = team_message(TeamDoc("acme", "t1", summary, ("a",), 1), NOW)
    assert message.key == topics.team_key("acme", "t1")
    check("team-progress.v1.json", message.value)


def test_team_change_round_trips() -> None:
    message = team_change_message("acme", "registry:x", NOW)
    assert decode_team_ref(message.value) == ("acme", "registry:x")
    check("team-changed.v1.json", message.value)


def test_a_team_change_naming_learners_is_valid_and_still_a_team_ref() -> None:
    message = team_change_message("acme", "registry:x", NOW, {"mbox:mailto:b@x.org", "b2"})
    assert decode_team_ref(message.value) == ("acme", "registry:x")
    check("team-changed.v1.json", message.value)


@pytest.mark.parametrize("value", [None, b"[]", b'{"tenant": "a"}', b'{"tenant": "", "team": "t"}'])
def test_unusable_team_refs_are_refused(value: bytes | None) -> None:
    with pytest.raises(ValueError, match="value"):
        decode_team_ref(value)


def test_comparable_ignores_only_as_of() -> None:
    assert comparable({"as_of": "2026-11-23", "x": 1}) == {"x": 1}


def test_progress_bar_prints_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(200, stream)
    for _ in range(20):
        bar.advance(10)
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("[####################] 100% 200/200 statements")
    assert len(lines) == 10


def test_learner_refresh_goes_to_the_learners_statement_partition_and_is_valid() -> None:
    learner = "mbox:mailto:learner1@example.org"
    refresh = LearnerRefresh("acme", learner, frozenset({"ABC-1", "abc-2"}))
    message = learner_refresh_message(refresh, NOW)
    assert message.key == topics.statement_key("acme", learner)
    assert (topics.HEADER_CE_TYPE, topics.LEARNER_REFRESH_TYPE.encode()) in message.headers
    check("learner-refresh.v1.json", message.value)
    assert decode_learner_refresh(message.value) == LearnerRefresh(
        "acme", learner, frozenset({"abc-1", "abc-2"})
    )
    plain = learner_refresh_message(LearnerRefresh("acme", learner), NOW)
    check("learner-refresh.v1.json", plain.value)
    assert decode_learner_refresh(plain.value).voids == frozenset()


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"not json",
        b"[]",
        b'{"tenant": "acme"}',
        b'{"tenant": "a", "learner": "l", "voids": 3}',
    ],
)
def test_unusable_learner_refresh_values_are_refused(value: bytes | None) -> None:
    with pytest.raises(ValueError, match=r"value|voids"):
        decode_learner_refresh(value)
