"""Which statements and progress events a subscription's filter lets through (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from lrs.webhooks.filters import (
    Filter,
    ProgressEvent,
    matches_progress,
    matches_statement,
    parse_filter,
)
from lrs.xapi.errors import BadRequest
from tests.support.factories import VERBS, activity, agent, statement

NO_TEAMS: frozenset[str] = frozenset()
COURSE = activity("course/1")["id"]
MODULE = "https://content.example.org/module/7"


def with_parent(doc: dict[str, Any], parent: str) -> dict[str, Any]:
    context = {**doc.get("context", {}), "contextActivities": {"parent": [{"id": parent}]}}
    return {**doc, "context": context}


def test_an_empty_filter_takes_every_statement_and_no_progress() -> None:
    flt = parse_filter(None)
    assert matches_statement(flt, statement(), NO_TEAMS)
    assert not matches_progress(flt, ProgressEvent("learner", learner="mbox:mailto:a@b.c"))


def test_verbs() -> None:
    flt = parse_filter({"verbs": [VERBS["passed"]]})
    assert matches_statement(flt, statement(verb="passed"), NO_TEAMS)
    assert not matches_statement(flt, statement(verb="failed"), NO_TEAMS)


def test_activity_is_the_object_unless_related_activities_are_asked_for() -> None:
    in_module = with_parent(statement(), MODULE)
    assert matches_statement(parse_filter({"activities": [COURSE]}), in_module, NO_TEAMS)
    assert not matches_statement(parse_filter({"activities": [MODULE]}), in_module, NO_TEAMS)
    related = parse_filter({"activities": [MODULE], "related_activities": True})
    assert matches_statement(related, in_module, NO_TEAMS)
    assert not matches_statement(related, statement(), NO_TEAMS)


def test_an_object_that_is_an_agent_is_no_activity() -> None:
    about_agent = statement(obj={"objectType": "Agent", "mbox": "mailto:x@example.org"})
    flt = parse_filter({"activities": ["mailto:x@example.org"]})
    assert not matches_statement(flt, about_agent, NO_TEAMS)


def test_actors_are_agents_or_canonical_identifiers() -> None:
    by_agent = parse_filter({"actors": [agent(1)]})
    by_ifi = parse_filter({"actors": ["mbox:mailto:learner1@example.org"]})
    for flt in (by_agent, by_ifi):
        assert matches_statement(flt, statement(1), NO_TEAMS)
        assert not matches_statement(flt, statement(2), NO_TEAMS)


def test_registration_ignores_case() -> None:
    reg = "6E1A1A4C-0000-4000-8000-000000000001"
    doc = statement()
    doc["context"] = {**doc.get("context", {}), "registration": reg.lower()}
    assert matches_statement(parse_filter({"registrations": [reg]}), doc, NO_TEAMS)
    other = parse_filter({"registrations": ["6e1a1a4c-0000-4000-8000-000000000002"]})
    assert not matches_statement(other, doc, NO_TEAMS)


def test_teams_are_the_learners_teams() -> None:
    flt = parse_filter({"teams": ["blue"]})
    assert matches_statement(flt, statement(), frozenset({"blue", "red"}))
    assert not matches_statement(flt, statement(), frozenset({"red"}))


def test_every_criterion_must_hold() -> None:
    flt = parse_filter({"verbs": [VERBS["passed"]], "actors": [agent(1)]})
    assert matches_statement(flt, statement(1, "passed"), NO_TEAMS)
    assert not matches_statement(flt, statement(2, "passed"), NO_TEAMS)
    assert not matches_statement(flt, statement(1, "failed"), NO_TEAMS)


def test_progress_events_by_learner_and_team() -> None:
    flt = parse_filter({"progress": True, "statements": False, "teams": ["blue"]})
    assert not matches_statement(flt, statement(), frozenset({"blue"}))
    assert matches_progress(flt, ProgressEvent("team", team="blue"))
    assert matches_progress(flt, ProgressEvent("learner", "l1", teams=frozenset({"blue"})))
    assert not matches_progress(flt, ProgressEvent("learner", "l1", teams=frozenset({"red"})))
    by_actor = parse_filter({"progress": True, "actors": ["l1"]})
    assert matches_progress(by_actor, ProgressEvent("learner", "l1"))
    assert not matches_progress(by_actor, ProgressEvent("learner", "l2"))


def test_the_filter_round_trips_through_its_stored_form() -> None:
    flt = parse_filter({"verbs": ["v"], "teams": ["t"], "related_activities": True})
    assert parse_filter(flt.as_dict()) == flt
    assert Filter().as_dict()["statements"] is True


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ({"verbs": "http://x"}, "`verbs` must be a list"),
        ({"verbs": [""]}, "non-empty strings"),
        ({"colour": ["red"]}, "unknown field"),
        ({"progress": "yes"}, "true or false"),
        ({"statements": False}, "cannot both be false"),
        ({"actors": [{"name": "no ifi"}]}, "one IFI"),
        ({"teams": [str(n) for n in range(101)]}, "at most 100"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_rule(raw: dict[str, Any], rule: str) -> None:
    with pytest.raises(BadRequest, match=rule):
        parse_filter(raw)
