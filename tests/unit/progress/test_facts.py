"""What one statement contributes: verb class, activities, time, result, teams."""

from __future__ import annotations

from typing import Any

import pytest

from lrs.progress import (
    StatementFacts,
    VerbClass,
    classify_verb,
    facts_from_statement,
    learner_id,
    team_ids_from_statement,
    voided_target,
)
from tests.support import factories
from tests.support.factories import (
    ADL,
    CMI5,
    COURSE,
    MODULE_A,
    PROGRAM,
    group,
    stmt,
    voided_by_admin,
)


@pytest.mark.parametrize(
    ("verb", "expected"),
    [
        (ADL + "completed", VerbClass.COMPLETED),
        (CMI5 + "completed", VerbClass.COMPLETED),
        (CMI5 + "satisfied", VerbClass.COMPLETED),
        (CMI5 + "waived", VerbClass.COMPLETED),
        (ADL + "passed", VerbClass.PASSED),
        (CMI5 + "passed", VerbClass.PASSED),
        (ADL + "mastered", VerbClass.PASSED),
        (ADL + "failed", VerbClass.FAILED),
        (CMI5 + "failed", VerbClass.FAILED),
        (ADL + "attempted", VerbClass.START),
        (ADL + "initialized", VerbClass.START),
        (CMI5 + "initialized", VerbClass.START),
        (ADL + "launched", VerbClass.LAUNCH),
        (CMI5 + "launched", VerbClass.LAUNCH),
        (ADL + "experienced", VerbClass.OTHER),
        (ADL + "progressed", VerbClass.OTHER),
        (ADL + "answered", VerbClass.OTHER),
        (ADL + "terminated", VerbClass.OTHER),
        (CMI5 + "terminated", VerbClass.OTHER),
        (CMI5 + "abandoned", VerbClass.OTHER),
        (ADL + "suspended", VerbClass.OTHER),
        ("https://example.org/verbs/watched", VerbClass.OTHER),
        ("http://ADLNET.gov/expapi/verbs/passed", VerbClass.OTHER),  # IRIs compare exactly
    ],
)
def test_verb_classes(verb: str, expected: VerbClass) -> None:
    assert classify_verb(verb) is expected


def test_facts_of_a_factory_statement() -> None:
    doc = factories.statement(verb="passed")
    facts = facts_from_statement(doc)
    assert facts == StatementFacts(
        id=doc["id"],
        verb=VerbClass.PASSED,
        at="2026-11-20T09:15:30.250Z",  # timestamp normalised to UTC
        activity="https://content.example.org/course/1",
        parents=("https://content.example.org/program/1",),
        duration=750.0,
        score=0.85,
        completion=True,
        success=True,
        actor_name="Learner 1",
        activity_names=(
            ("https://content.example.org/course/1", "Course 1"),
            ("https://content.example.org/program/1", "Program"),
        ),
    )


def test_parents_and_grouping_roll_up_but_not_category_nor_the_object_itself() -> None:
    doc = stmt(obj=MODULE_A, parents=[COURSE, MODULE_A], grouping=[PROGRAM, COURSE])
    doc["context"]["contextActivities"]["category"] = [{"id": "https://example.org/profile"}]
    facts = facts_from_statement(doc)
    assert facts is not None
    assert facts.parents == (COURSE, PROGRAM)


def test_single_object_context_activities_are_accepted() -> None:
    """xAPI 0.95-style single objects still appear in the wild; read them like index.py."""
    doc = stmt()
    doc["context"] = {"contextActivities": {"parent": {"id": COURSE}}}
    facts = facts_from_statement(doc)
    assert facts is not None
    assert facts.parents == (COURSE,)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ({"scaled": 0.5}, 0.5),
        ({"scaled": -1}, -1.0),
        ({"scaled": 0.9, "raw": 10, "min": 0, "max": 100}, 0.9),
        ({"raw": 45, "min": 0, "max": 60}, 0.75),
        ({"raw": 45}, None),
        ({"raw": 5, "min": 5, "max": 5}, None),
        ({"scaled": True}, None),
        ({}, None),
    ],
)
def test_scaled_score(score: dict[str, Any], expected: float | None) -> None:
    facts = facts_from_statement(stmt(result={"score": score}))
    assert facts is not None
    assert facts.score == expected


@pytest.mark.parametrize(
    ("result", "completion", "success", "duration"),
    [
        ({"completion": True}, True, None, None),
        ({"completion": False, "success": False}, False, False, None),
        ({"success": True, "duration": "PT1M"}, None, True, 60.0),
        ({"duration": "not a duration"}, None, None, None),
        ({"completion": "yes"}, None, None, None),
    ],
)
def test_result_fields(
    result: dict[str, Any], completion: bool | None, success: bool | None, duration: float | None
) -> None:
    facts = facts_from_statement(stmt(verb="experienced", result=result))
    assert facts is not None
    assert (facts.completion, facts.success, facts.duration) == (completion, success, duration)


def test_statement_about_an_agent_has_no_activity_but_still_rolls_up() -> None:
    doc = stmt(parents=[COURSE])
    doc["object"] = factories.agent(2)
    facts = facts_from_statement(doc)
    assert facts is not None
    assert (facts.activity, facts.parents) == (None, (COURSE,))


def test_statement_without_timestamp_uses_stored() -> None:
    doc = stmt(at="2026-11-20T23:30:00-02:00")
    del doc["timestamp"]
    facts = facts_from_statement(doc)
    assert facts is not None
    assert facts.at == "2026-11-21T01:30:00.000Z"


@pytest.mark.parametrize("missing", ["id", "timestamp_and_stored"])
def test_statements_without_id_or_time_contribute_nothing(missing: str) -> None:
    doc = stmt()
    for key in ("timestamp", "stored") if missing == "timestamp_and_stored" else ("id",):
        del doc[key]
    assert facts_from_statement(doc) is None


def test_voiding_statement_contributes_no_facts_and_names_its_target() -> None:
    target = "E05AA883-ACAF-40AD-BF54-02C8CE485FB0"
    doc = voided_by_admin(target)
    assert facts_from_statement(doc) is None
    assert voided_target(doc) == target.lower()
    assert voided_target(stmt()) is None


def test_voided_verb_with_activity_object_is_not_voiding() -> None:
    doc = stmt(verb="voided")
    assert voided_target(doc) is None
    assert facts_from_statement(doc) is not None


def test_team_ids_from_context_team_and_context_groups() -> None:
    doc = stmt(team=group(1, 2, name="sales"))
    doc["context"]["contextGroups"] = [
        {"objectType": "ContextGroup", "group": group(3, 1)},
        {"objectType": "ContextGroup", "group": group(name="sales")},
        {"objectType": "ContextGroup", "group": {"objectType": "Group"}},  # no identity
    ]
    assert team_ids_from_statement(doc) == [
        "account:https://lms.example.org|sales",
        "group:[mbox:mailto:learner1@example.org,mbox:mailto:learner3@example.org]",
    ]


def test_no_teams_without_context() -> None:
    assert team_ids_from_statement(stmt()) == []


def test_learner_id_is_the_actor_ifi() -> None:
    assert learner_id(stmt(learner=7)) == "mbox:mailto:learner7@example.org"


def test_facts_round_trip_through_json_form() -> None:
    doc = factories.statement(verb="failed", context=False)
    doc["context"] = {"team": group(1, name="t"), "contextActivities": {"parent": [{"id": COURSE}]}}
    facts = facts_from_statement(doc)
    assert facts is not None
    stored = facts.to_dict()
    assert "id" not in stored
    assert StatementFacts.from_dict(facts.id, stored) == facts


def test_empty_fields_are_left_out_of_the_json_form() -> None:
    facts = facts_from_statement(stmt(obj=MODULE_A))  # an object without a definition
    assert facts is not None
    assert facts.to_dict() == {
        "verb": "completed",
        "at": "2026-11-20T10:00:00.000Z",
        "activity": MODULE_A,
        "actor_name": "Learner 1",
    }
