"""What statements tell about Activities and Agents (Communication 2.4, 2.5; Data 2.4.4.1), the
objects the two resources return, their parameters, and the MongoDB update encoding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lrs.adapters.mongo_definitions import (
    decode_key,
    definition_of,
    definition_sets,
    encode_key,
)
from lrs.xapi.agents import validate_agent
from lrs.xapi.definitions import (
    activities_in,
    activity_object,
    agents_in,
    merge_definition,
    person_object,
)
from lrs.xapi.errors import BadRequest
from lrs.xapi.limits import DEFAULT_LIMITS
from lrs.xapi.params import parse_activity_query, parse_agent_query

EXT = "http://example.com/ext/location.v2"


def agent(name: str, display: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"objectType": "Agent", "mbox": f"mailto:{name}@example.com"}
    if display:
        found["name"] = display
    return found


def activity(slug: str, **definition: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"objectType": "Activity", "id": f"http://example.com/a/{slug}"}
    if definition:
        found["definition"] = definition
    return found


def statement(obj: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "actor": agent("actor", "The Actor"),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": obj or activity("course", name={"en-US": "Course"}),
        **extra,
    }


def test_object_activity_with_its_definition() -> None:
    (seen,) = activities_in(statement())
    assert seen.activity_id == "http://example.com/a/course"
    assert seen.definition == {"name": {"en-US": "Course"}}


def test_activity_without_object_type_or_definition() -> None:
    (seen,) = activities_in(statement({"id": "http://example.com/a/bare"}))
    assert (seen.activity_id, dict(seen.definition)) == ("http://example.com/a/bare", {})


def test_context_activities_of_every_kind_single_or_list() -> None:
    context = {
        "contextActivities": {
            "parent": [activity("p")],
            "grouping": activity("g"),
            "category": [activity("c", type="http://example.com/t")],
            "other": [activity("o1"), activity("o2")],
        }
    }
    ids = [s.activity_id.rsplit("/", 1)[1] for s in activities_in(statement(context=context))]
    assert ids == ["course", "p", "g", "c", "o1", "o2"]


def test_substatement_activities_are_seen() -> None:
    sub = {
        "objectType": "SubStatement",
        "actor": agent("sub"),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"},
        "object": activity("inner", name={"fr": "Intérieur"}),
        "context": {"contextActivities": {"parent": [activity("inner-parent")]}},
    }
    seen = activities_in(statement(sub))
    assert [s.activity_id.rsplit("/", 1)[1] for s in seen] == ["inner", "inner-parent"]
    assert seen[0].definition == {"name": {"fr": "Intérieur"}}


def test_statement_ref_and_agent_objects_are_not_activities() -> None:
    ref = {"objectType": "StatementRef", "id": "9e13cefd-53d3-4eac-b5ed-2cf6693903bb"}
    assert activities_in(statement(ref)) == []
    assert activities_in(statement(agent("obj"))) == []


def test_agents_everywhere_with_names() -> None:
    team = {"objectType": "Group", "name": "Team", "member": [agent("m1", "Member 1")]}
    stmt = statement(
        agent("obj", "Object"),
        authority=agent("auth"),
        context={"instructor": agent("teacher", "Teacher"), "team": team},
    )
    seen = {s.ifi: s.name for s in agents_in(stmt)}
    assert seen == {
        "mbox:mailto:actor@example.com": "The Actor",
        "mbox:mailto:auth@example.com": None,
        "mbox:mailto:obj@example.com": "Object",
        "mbox:mailto:teacher@example.com": "Teacher",
        "mbox:mailto:m1@example.com": "Member 1",
    }


def test_identified_group_is_not_an_agent_but_its_members_are() -> None:
    group = {"objectType": "Group", "mbox": "mailto:g@example.com", "member": [agent("m")]}
    seen = agents_in(statement(actor=group))
    assert [s.ifi for s in seen] == ["mbox:mailto:m@example.com"]


def test_xapi2_context_agents_and_groups_and_substatement_agents() -> None:
    sub = {
        "objectType": "SubStatement",
        "actor": agent("sub-actor"),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted"},
        "object": agent("sub-obj"),
    }
    context = {
        "contextAgents": [{"objectType": "contextAgent", "agent": agent("ca")}],
        "contextGroups": [
            {
                "objectType": "contextGroup",
                "group": {"objectType": "Group", "member": [agent("cg")]},
            }
        ],
    }
    ifis = {s.ifi for s in agents_in(statement(sub, context=context))}
    assert {f"mbox:mailto:{n}@example.com" for n in ("ca", "cg", "sub-actor", "sub-obj")} <= ifis


def test_account_sighting_keeps_the_account() -> None:
    account = {"homePage": "https://lms.example.org", "name": "u-1"}
    (seen,) = agents_in(statement(actor={"account": account}))
    assert seen.ifi == "account:https://lms.example.org|u-1"
    assert seen.identifier == {"account": account}


def test_merge_languages_and_extensions_per_key_others_replaced() -> None:
    first = {"name": {"en-US": "Meeting"}, "type": "http://t/1", "extensions": {EXT: 1, "x:a": 2}}
    second = {"name": {"fr-FR": "Réunion"}, "type": "http://t/2", "extensions": {EXT: 3}}
    assert merge_definition(first, second) == {
        "name": {"en-US": "Meeting", "fr-FR": "Réunion"},
        "type": "http://t/2",
        "extensions": {EXT: 3, "x:a": 2},
    }


def test_activity_object_with_and_without_definition() -> None:
    assert activity_object("http://a", None) == {"objectType": "Activity", "id": "http://a"}
    assert activity_object("http://a", {"type": "http://t"}) == {
        "objectType": "Activity",
        "id": "http://a",
        "definition": {"type": "http://t"},
    }


def test_person_object_arrays() -> None:
    assert person_object({"mbox": "mailto:a@example.com"}, ["A", "Ay"]) == {
        "objectType": "Person",
        "name": ["A", "Ay"],
        "mbox": ["mailto:a@example.com"],
    }
    assert person_object({"openid": "http://id.example.com/a"}, []) == {
        "objectType": "Person",
        "openid": ["http://id.example.com/a"],
    }


@pytest.mark.parametrize(
    "items",
    [
        [],
        [("activityId", "not an iri")],
        [("activityId", "relative/path")],
        [("activityId", "http://a"), ("activityId", "http://b")],
        [("activityId", "http://a"), ("foo", "bar")],
    ],
)
def test_bad_activity_parameters(items: list[tuple[str, str]]) -> None:
    with pytest.raises(BadRequest):
        parse_activity_query(items)


def test_activity_parameter() -> None:
    assert parse_activity_query([("activityId", "http://a/b.c")]) == "http://a/b.c"


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        json.dumps({"objectType": "Agent", "name": "No IFI"}),
        json.dumps({"objectType": "Group", "mbox": "mailto:g@example.com"}),
        json.dumps({"mbox": "g@example.com"}),
        json.dumps({"mbox": "mailto:a@example.com", "openid": "http://id.example.com/a"}),
        json.dumps({"mbox": "mailto:a@example.com", "extra": 1}),
    ],
)
@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_bad_agent_parameters(text: str, version: str) -> None:
    with pytest.raises(BadRequest):
        parse_agent_query([("agent", text)], version, limits=DEFAULT_LIMITS)


def test_agent_parameter_required_and_alone() -> None:
    with pytest.raises(BadRequest):
        parse_agent_query([], "1.0.3", limits=DEFAULT_LIMITS)
    with pytest.raises(BadRequest):
        parse_agent_query(
            [("agent", json.dumps(agent("a"))), ("x", "1")], "1.0.3", limits=DEFAULT_LIMITS
        )


def test_agent_parameter() -> None:
    seen = parse_agent_query(
        [("agent", json.dumps(agent("a", "A")))], "1.0.3", limits=DEFAULT_LIMITS
    )
    assert (seen.ifi, seen.name) == ("mbox:mailto:a@example.com", "A")
    validate_agent({"mbox_sha1sum": "cd9b00a5611f94eaa7b1661edab976068e364975"}, "2.0.0")


@pytest.mark.parametrize("key", ["http://example.com/a.b$c%2E", "en-US", "%", "..$$"])
def test_field_name_encoding_round_trips_without_dots_or_dollars(key: str) -> None:
    field = encode_key(key)
    assert "." not in field
    assert "$" not in field
    assert decode_key(field) == key


def test_definition_sets_are_field_level_and_read_back() -> None:
    definition = {
        "name": {"en-US": "Q1"},
        "interactionType": "choice",
        "choices": [{"id": "a", "description": {"en-US": "A"}}],
        "extensions": {EXT: {"k.with.dots": None}},
    }
    sets = definition_sets(definition)
    assert sets == {
        "definition.name.en-US": "Q1",
        "definition.interactionType": "choice",
        "definition.choices": [{"id": "a", "description": {"en-US": "A"}}],
        "extensions.http://example%2Ecom/ext/location%2Ev2": '{"k.with.dots":null}',
    }
    stored = {
        "definition": {
            "name": {"en-US": "Q1"},
            "interactionType": "choice",
            "choices": sets["definition.choices"],
        },
        "extensions": {"http://example%2Ecom/ext/location%2Ev2": '{"k.with.dots":null}'},
    }
    assert definition_of(stored) == definition
