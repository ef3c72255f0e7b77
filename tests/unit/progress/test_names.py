"""Display names in progress: what statements called their actor, teams and activities."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from lrs.progress import fold, summarize_learner, summarize_team, void
from lrs.progress.bounds import bound_learner_value, encoded_size
from lrs.progress.names import MAX_DISPLAY_CHARS, display_text, most_used
from lrs.progress.team import member_view
from lrs.xapi.ifi import actor_ifi
from tests.support.factories import COURSE, MODULE_A, stmt
from tests.unit.progress.test_schemas import (
    LEARNER_SCHEMA,
    TEAM_SCHEMA,
    assert_invalid,
    assert_valid,
)

AS_OF = date(2026, 11, 21)
TEAM = {"objectType": "Group", "name": "Sales EMEA", "mbox": "mailto:sales@example.org"}
TEAM_ID = actor_ifi(TEAM)


@pytest.mark.parametrize(
    ("language_map", "expected"),
    [
        ({"fr": "Bonjour", "en-GB": "Hello", "en-US": "Howdy"}, "Howdy"),
        ({"fr": "Bonjour", "en": "Hello"}, "Hello"),
        ({"fr": "Bonjour", "en-AU": "G'day", "en-IE": "Hiya"}, "G'day"),
        ({"fr": "Bonjour", "und": "Hi"}, "Hi"),
        ({"fr": "Bonjour", "de": "Hallo"}, "Hallo"),
        ({"fr": "  ", "de": ""}, None),
        ({}, None),
        ("not a map", None),
    ],
)
def test_one_language_is_picked(language_map: Any, expected: str | None) -> None:
    assert display_text(language_map) == expected


def test_names_are_cut_and_most_used_is_order_free() -> None:
    assert display_text({"en": "x" * 1000}) == "x" * MAX_DISPLAY_CHARS
    assert most_used(["b", "a", None, "b"]) == "b"
    assert most_used(["b", "a"]) == most_used(["a", "b"]) == "a"
    assert most_used([None]) is None


def named(statement: dict[str, Any], actor: str) -> dict[str, Any]:
    statement["actor"] = {**statement["actor"], "name": actor}
    return statement


def with_definition(statement: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    statement["object"]["definition"] = {"name": names}
    return statement


def test_the_latest_statement_names_the_learner_whatever_the_order() -> None:
    early = named(stmt(at="2026-11-20T09:00:00Z"), "Ada L.")
    late = named(stmt(at="2026-11-20T11:00:00Z"), "Ada Lovelace")
    forward = fold("L", [early, late])
    backward = fold("L", [late, early])
    assert summarize_learner(forward, AS_OF)["name"] == "Ada Lovelace"
    assert summarize_learner(backward, AS_OF) == summarize_learner(forward, AS_OF)
    # voiding the statement that gave the latest name brings the earlier one back
    assert summarize_learner(void(forward, late["id"]), AS_OF)["name"] == "Ada L."


def test_activities_and_their_parents_are_named_from_their_definitions() -> None:
    statement = with_definition(stmt(obj=MODULE_A, parents=[COURSE]), {"de": "Modul A"})
    statement["context"]["contextActivities"]["parent"][0]["definition"] = {
        "name": {"en-US": "Course 1", "fr": "Cours 1"}
    }
    rows = {
        row["activity"]: row["name"]
        for row in summarize_learner(fold("L", [statement]), AS_OF)["activities"]
    }
    assert rows == {MODULE_A: "Modul A", COURSE: "Course 1"}


def test_statement_teams_are_named_and_the_team_takes_the_name_most_members_use() -> None:
    learners = {
        n: fold(f"L{n}", [stmt(learner=n, team={**TEAM, "name": name})])
        for n, name in [(1, "Sales EMEA"), (2, "Sales EMEA"), (3, "EMEA sales")]
    }
    summaries = {f"L{n}": summarize_learner(state, AS_OF) for n, state in learners.items()}
    assert summaries["L3"]["team_names"] == {TEAM_ID: "EMEA sales"}
    as_of = datetime(2026, 11, 21, tzinfo=UTC)
    assert summarize_team(TEAM_ID, summaries, as_of)["name"] == "Sales EMEA"
    assert summarize_team("registry:other", summaries, as_of)["name"] is None


def test_member_views_keep_the_names_a_team_takes() -> None:
    """team-progress computes from `member_view`s: the team's and its activities' names come
    out as from the whole summaries."""
    learners = {
        n: fold(
            f"L{n}",
            [with_definition(stmt(learner=n, team={**TEAM, "name": team}), {"en": module})],
        )
        for n, team, module in [
            (1, "Sales EMEA", "Intro"),
            (2, "EMEA sales", "Intro"),
            (3, "S", "I"),
        ]
    }
    summaries = {f"L{n}": summarize_learner(state, AS_OF) for n, state in learners.items()}
    views = {learner: member_view(summary) for learner, summary in summaries.items()}
    as_of = datetime(2026, 11, 21, tzinfo=UTC)
    team = summarize_team(TEAM_ID, views, as_of)
    assert (team["name"], team["activities"][0]["name"]) == ("EMEA sales", "Intro")
    assert team == summarize_team(TEAM_ID, summaries, as_of)


def test_a_bounded_value_drops_team_names_before_it_drops_teams() -> None:
    teams = [
        {"objectType": "Group", "name": "n" * 200, "mbox": f"mailto:team{n}@example.org"}
        for n in range(20)
    ]
    statements = [stmt(learner=1, team=team) for team in teams]
    value = summarize_learner(fold("L", statements), AS_OF)
    without_names = {k: v for k, v in value.items() if k != "team_names"}
    limit = encoded_size({**without_names, "activities": []})
    bounded, omitted = bound_learner_value(value, limit)
    assert "team_names" not in bounded
    assert len(bounded["teams"]) == 20
    assert (omitted.teams, omitted.activities) == (0, 1)


def test_values_with_names_match_the_event_schemas() -> None:
    statement = with_definition(stmt(learner=1, team=TEAM), {"en-US": "Module A"})
    learner = summarize_learner(fold("L1", [statement]), AS_OF)
    assert learner["name"] == "Learner 1"
    assert learner["activities"][0]["name"] == "Module A"
    assert_valid(LEARNER_SCHEMA, learner)
    team = summarize_team(TEAM_ID, {"L1": learner}, datetime(2026, 11, 21, tzinfo=UTC))
    assert (team["name"], team["activities"][0]["name"]) == ("Sales EMEA", "Module A")
    assert_valid(TEAM_SCHEMA, team)
    assert_invalid(LEARNER_SCHEMA, {**learner, "name": "x" * 201})
