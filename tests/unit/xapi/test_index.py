"""What the GET statements filters compare against (xAPI Communication 2.1.3)."""

from __future__ import annotations

from typing import Any

import pytest

from lrs.xapi.index import VOIDED_VERB, agent_key, index_statement

COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
REGISTRATION = "EC531277-B57B-4C15-8D91-D292C5B2B8F7"
REF_ID = "9E13CEFD-53D3-4EAC-B5ED-2CF6693903BB"


def agent(name: str) -> dict[str, Any]:
    return {"objectType": "Agent", "mbox": f"mailto:{name}@example.com"}


def key(name: str) -> str:
    return f"Agent|mbox:mailto:{name}@example.com"


def group(*members: str, mbox: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"objectType": "Group", "member": [agent(m) for m in members]}
    if mbox:
        found["mbox"] = f"mailto:{mbox}@example.com"
    return found


def group_key(name: str) -> str:
    return f"Group|mbox:mailto:{name}@example.com"


def activity(slug: str) -> dict[str, Any]:
    return {"objectType": "Activity", "id": f"http://example.com/activities/{slug}"}


def act_id(slug: str) -> str:
    return f"http://example.com/activities/{slug}"


def statement(
    actor: dict[str, Any] | None = None,
    obj: dict[str, Any] | None = None,
    verb: str = COMPLETED,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "actor": actor or agent("learner"),
        "verb": {"id": verb},
        "object": obj or activity("course"),
        **extra,
    }


def substatement(**parts: Any) -> dict[str, Any]:
    return {"objectType": "SubStatement", **statement(**parts)}


# --- agent_key ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ({"mbox": "mailto:a@example.com"}, "Agent|mbox:mailto:a@example.com"),
        (agent("a"), "Agent|mbox:mailto:a@example.com"),
        (group(mbox="t"), "Group|mbox:mailto:t@example.com"),
        (
            {"account": {"homePage": "http://x.com", "name": "n"}},
            "Agent|account:http://x.com|n",
        ),
        (group("a", "b"), None),
    ],
)
def test_agent_key(who: dict[str, Any], expected: str | None) -> None:
    assert agent_key(who) == expected


def test_agent_key_distinguishes_agent_and_group_with_same_ifi() -> None:
    assert agent_key(agent("x")) != agent_key(group(mbox="x"))


# --- agents (the `agent` filter: actor or object) -------------------------------------------------


@pytest.mark.parametrize(
    ("stmt", "expected"),
    [
        (statement(), [key("learner")]),
        (statement(obj=agent("peer")), [key("learner"), key("peer")]),
        (statement(obj=group(mbox="team")), [key("learner"), group_key("team")]),
        (statement(actor=group(mbox="team")), [group_key("team")]),
        (statement(obj=agent("learner")), [key("learner")]),
        (statement(obj=substatement(actor=agent("inner"))), [key("learner")]),
    ],
)
def test_agents_are_actor_and_agent_object(stmt: dict[str, Any], expected: list[str]) -> None:
    assert index_statement(stmt).agents == expected


def test_agents_exclude_authority_and_context_people() -> None:
    stmt = statement(
        authority=agent("authority"),
        context={"instructor": agent("teacher"), "team": group(mbox="team")},
    )
    assert index_statement(stmt).agents == [key("learner")]


@pytest.mark.parametrize(
    "stmt",
    [
        statement(actor=group("member", "other")),
        statement(actor=group("member", mbox="team")),
        statement(obj=group("member", "other")),
    ],
)
def test_agents_include_members_of_a_group_actor_or_object(stmt: dict[str, Any]) -> None:
    assert key("member") in index_statement(stmt).agents


# --- related_agents -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stmt", "expected"),
    [
        (statement(authority=agent("auth")), {key("learner"), key("auth")}),
        (statement(authority=group("app", "user")), {key("learner"), key("app"), key("user")}),
        (statement(context={"instructor": agent("teacher")}), {key("learner"), key("teacher")}),
        (
            statement(context={"team": group("m1", "m2", mbox="team")}),
            {key("learner"), group_key("team"), key("m1"), key("m2")},
        ),
        (
            statement(actor=group("m1", "m2")),
            {key("m1"), key("m2")},
        ),
        (statement(obj=agent("peer")), {key("learner"), key("peer")}),
        (
            statement(obj=group("m1", mbox="team")),
            {key("learner"), group_key("team"), key("m1")},
        ),
        (
            statement(
                obj=substatement(
                    actor=agent("inner"),
                    obj=agent("inner-object"),
                    context={"instructor": agent("inner-teacher"), "team": group("inner-m")},
                )
            ),
            {
                key("learner"),
                key("inner"),
                key("inner-object"),
                key("inner-teacher"),
                key("inner-m"),
            },
        ),
        (
            statement(
                context={
                    "contextAgents": [{"objectType": "contextAgent", "agent": agent("ca")}],
                    "contextGroups": [{"objectType": "contextGroup", "group": group("cg")}],
                }
            ),
            {key("learner"), key("ca"), key("cg")},
        ),
    ],
)
def test_related_agents(stmt: dict[str, Any], expected: set[str]) -> None:
    related = index_statement(stmt).related_agents
    assert set(related) == expected
    assert len(related) == len(set(related))


def test_related_agents_are_deduplicated() -> None:
    stmt = statement(
        authority=agent("learner"), context={"instructor": agent("learner")}, obj=agent("learner")
    )
    assert index_statement(stmt).related_agents == [key("learner")]


def test_related_agents_always_include_agents() -> None:
    stmt = statement(obj=agent("peer"), authority=agent("auth"))
    index = index_statement(stmt)
    assert set(index.agents) <= set(index.related_agents)


# --- activity / related_activities ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (activity("course"), act_id("course")),
        ({"id": act_id("course")}, act_id("course")),
        (agent("peer"), None),
        ({"objectType": "StatementRef", "id": REF_ID}, None),
        (substatement(obj=activity("inner")), None),
    ],
)
def test_activity_is_the_object_activity_only(obj: dict[str, Any], expected: str | None) -> None:
    assert index_statement(statement(obj=obj)).activity == expected


@pytest.mark.parametrize(
    ("context_activities", "expected"),
    [
        ({"parent": activity("p")}, [act_id("course"), act_id("p")]),
        ({"parent": [activity("p")]}, [act_id("course"), act_id("p")]),
        (
            {
                "parent": [activity("p1"), activity("p2")],
                "grouping": activity("g"),
                "category": [activity("c")],
                "other": [activity("o")],
            },
            [act_id(s) for s in ("course", "p1", "p2", "g", "c", "o")],
        ),
        ({"parent": [activity("course")]}, [act_id("course")]),
        ({"parent": []}, [act_id("course")]),
    ],
)
def test_related_activities_include_context_activities(
    context_activities: dict[str, Any], expected: list[str]
) -> None:
    stmt = statement(context={"contextActivities": context_activities})
    index = index_statement(stmt)
    assert index.related_activities == expected
    assert index.activity == act_id("course")


def test_related_activities_look_inside_a_substatement() -> None:
    inner = substatement(
        obj=activity("inner"),
        context={"contextActivities": {"grouping": [activity("inner-g")]}},
    )
    stmt = statement(obj=inner, context={"contextActivities": {"parent": [activity("outer-p")]}})
    index = index_statement(stmt)
    assert set(index.related_activities) == {act_id("outer-p"), act_id("inner"), act_id("inner-g")}
    assert index.activity is None


def test_related_activities_empty_for_agent_object_without_context() -> None:
    assert index_statement(statement(obj=agent("peer"))).related_activities == []


# --- verb, registration, voids --------------------------------------------------------------------


def test_verb_is_the_verb_id() -> None:
    assert index_statement(statement(verb="http://example.com/verbs/x")).verb == (
        "http://example.com/verbs/x"
    )


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"registration": REGISTRATION}, REGISTRATION.lower()),
        ({}, None),
        (None, None),
    ],
)
def test_registration_lower_cased(context: dict[str, Any] | None, expected: str | None) -> None:
    stmt = statement() if context is None else statement(context=context)
    assert index_statement(stmt).registration == expected


@pytest.mark.parametrize(
    ("verb", "obj", "expected"),
    [
        (VOIDED_VERB, {"objectType": "StatementRef", "id": REF_ID}, REF_ID.lower()),
        (COMPLETED, {"objectType": "StatementRef", "id": REF_ID}, None),
        (VOIDED_VERB, activity("course"), None),
        (VOIDED_VERB, {"id": REF_ID}, None),
        (VOIDED_VERB, agent("peer"), None),
        (VOIDED_VERB + "/", {"objectType": "StatementRef", "id": REF_ID}, None),
    ],
)
def test_voids_only_for_voided_verb_with_statement_ref(
    verb: str, obj: dict[str, Any], expected: str | None
) -> None:
    assert index_statement(statement(verb=verb, obj=obj)).voids == expected


def test_as_dict_has_every_field() -> None:
    stmt = statement(context={"registration": REGISTRATION})
    assert index_statement(stmt).as_dict() == {
        "agents": [key("learner")],
        "related_agents": [key("learner")],
        "verb": COMPLETED,
        "activity": act_id("course"),
        "related_activities": [act_id("course")],
        "registration": REGISTRATION.lower(),
        "voids": None,
        "ref": None,
    }


def test_statement_ref_object_is_recorded_as_ref_and_only_voiding_as_voids() -> None:
    target = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"
    ref = {"objectType": "StatementRef", "id": target}
    plain = index_statement(statement(obj=ref))
    assert plain.ref == target.lower()
    assert plain.voids is None
    voiding = index_statement(statement(verb="http://adlnet.gov/expapi/verbs/voided", obj=ref))
    assert voiding.ref == voiding.voids == target.lower()
