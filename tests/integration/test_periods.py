"""Periods for growth talks end to end on the real broker and store: statements posted through
the API with timestamps in and out of October 2026 (its first and last millisecond, and the
ones just outside), in an order unlike their timestamps, one voided by a statement timestamped
outside the period; the persister, the progress consumers and the goal consumers run as tasks
of this event loop. The learner and team period views must equal an independent recomputation
(the pure model folded over the posted statements whose timestamp falls in the period, every
void applied); the goals overlapping the period show how they ended; bad periods and too large
views get 400 naming the rule."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from lrs.goals import evaluate_goal, parse_goal
from lrs.progress import fold, learner_id, summarize_learner, summarize_team
from lrs.settings import LrsSettings
from lrs.xapi.timefmt import parse_timestamp
from tests.conftest import Infra
from tests.support.factories import COURSE, MODULE_A, MODULE_B, agent, stmt, voided_by_admin
from tests.support.goal_consumers import goal_consumers
from tests.support.live import live_api
from tests.support.polling import eventually
from tests.support.progress import MovableClock, running_progress
from tests.support.stack import database, make_settings, prepare_infra, running_persister
from tests.support.stack import xapi_headers as headers

pytestmark = pytest.mark.integration
TENANT = "default"
H = headers()
MAX_STATEMENTS = 6
Doc = dict[str, Any]
OCTOBER = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 31, 23, 59, 59, 999_000, UTC))
OCTOBER_JSON = {
    "start": "2026-10-01T00:00:00.000Z",
    "end": "2026-10-31T23:59:59.999Z",
    "label": "2026-10",
}

L1_FIRST_MS = stmt("passed", COURSE, at="2026-10-01T00:00:00Z", result={"duration": "PT40M"})
L1_LAST_MS = stmt("experienced", MODULE_A, at="2026-10-31T23:59:59.999Z", parents=[COURSE])
L1_BEFORE = stmt("completed", MODULE_B, at="2026-09-30T23:59:59.999Z")
L1_AFTER = stmt("completed", MODULE_B, at="2026-11-01T00:00:00Z")
L1_VOIDED = stmt("failed", COURSE, at="2026-10-15T10:00:00+02:00", result={"duration": "PT1H"})
L1_MIDDLE = stmt("experienced", MODULE_A, at="2026-10-20T12:00:00Z", result={"duration": "PT5M"})
L2_IN = stmt("completed", COURSE, at="2026-10-10T08:00:00Z", learner=2)
L2_OUT = stmt("passed", COURSE, at="2026-08-10T08:00:00Z", learner=2)
L3_IN = stmt("completed", COURSE, at="2026-10-05T08:00:00Z", learner=3)  # not in the team
# outside the period, still voids
VOID = voided_by_admin(L1_VOIDED["id"], at="2026-11-21T00:00:00Z")
# timestamps out of order: later ones first
POSTED = [L1_AFTER, L1_MIDDLE, L2_IN, L1_BEFORE, L1_LAST_MS, L1_VOIDED, L3_IN, L1_FIRST_MS, L2_OUT]
L1, L2, L3 = (learner_id(stmt(learner=n)) for n in (1, 2, 3))

GOALS: list[Doc] = [
    {  # ended with October: achieved (45 minutes once the hour of the voided one is gone)
        "goalId": "october-minutes",
        "name": "45 minutes in October",
        "owner": {"kind": "learner", "id": L1},
        "startDate": "2026-10-01",
        "achievedByDate": "2026-10-31",
        "targets": [{"kind": "minutes", "minutes": 45}],
    },
    {  # monthly: October is the previous period when the clock is in November
        "goalId": "monthly-course",
        "name": "pass the course every month",
        "owner": {"kind": "learner", "id": L1},
        "startDate": "2026-09-01",
        "recurrence": "month",
        "targets": [{"kind": "complete", "activities": [COURSE], "require": "passed"}],
    },
    {  # September only: not listed for October
        "goalId": "september-days",
        "name": "two days in September",
        "owner": {"kind": "learner", "id": L1},
        "startDate": "2026-09-01",
        "achievedByDate": "2026-09-30",
        "targets": [{"kind": "learning_days", "days": 2}],
    },
]


@pytest.fixture(scope="module")
async def settings(infra: Infra, module_namespace: str) -> LrsSettings:
    settings = make_settings(
        infra.kafka_bootstrap,
        infra.mongodb_uri,
        module_namespace,
        period_view_max_statements=MAX_STATEMENTS,
    )
    await prepare_infra(settings, TENANT)
    return settings


def in_october(statement: Doc) -> bool:
    """Independent of lrs.goals.periods: the instant compared with October's bounds."""
    moment = parse_timestamp(statement["timestamp"])
    return OCTOBER[0] <= moment <= OCTOBER[1]


def expected_learner(n: int, registry_teams: list[str], version: int) -> Doc:
    """The pure model over the posted statements of learner `n` timestamped in October, with
    every void (whatever its timestamp), as of the period's last day."""
    learner = learner_id(stmt(learner=n))
    mine = [s for s in POSTED if learner_id(s) == learner and in_october(s)]
    state = fold(learner, [*mine, VOID])
    summary = summarize_learner(state, date(2026, 10, 31), registry_teams=registry_teams)
    return {**summary, "tenant": TENANT, "version": version, "period": OCTOBER_JSON}


async def get_json(http: httpx.AsyncClient, path: str, **params: str) -> Doc:
    answer = await http.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body: Doc = answer.json()
    return body


def learner_path(learner: str) -> str:
    return f"/progress/learners/{quote(learner, safe='')}"


def unversioned(view: Doc) -> Doc:
    return {k: v for k, v in view.items() if k != "version"}


async def wait_for(probe: Callable[[], Any], expected: Any) -> Any:
    return await eventually(probe, lambda got: got == expected)


CONSUMERS_NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)  # the API's and the consumers' clock


@contextlib.asynccontextmanager
async def october_posted(settings: LrsSettings) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The API and every consumer at CONSUMERS_NOW, with the team Sales (learners 1 and 2), the
    goals and the statements of this module posted, the void last; yields the client and the
    team."""
    clock = MovableClock(CONSUMERS_NOW)
    async with (
        database(settings) as db,
        live_api(settings, clock=clock) as base,
        httpx.AsyncClient(base_url=base, headers=H, timeout=30) as http,
        running_persister(settings),
        running_progress(settings, db),
        goal_consumers(settings, db, clock),
    ):
        created = await http.post("/teams", json={"name": "Sales"})
        assert created.status_code == 201, created.text
        team = created.json()["team"]
        joined = await http.put(f"/teams/{team}/members", json=[agent(1), agent(2)])
        assert joined.status_code == 200, joined.text
        for goal in GOALS:
            answer = await http.post("/goals", json=goal)
            assert answer.status_code == 201, answer.text
        for statement in [*POSTED, VOID]:  # one by one: they reach progress in this order
            answer = await http.post("/xapi/statements", json=statement)
            assert answer.status_code == 200, answer.text
        yield http, team


async def test_period_views_and_the_goals_of_the_period(settings: LrsSettings) -> None:
    async with october_posted(settings) as (http, team):
        # the learner in October: the model over the statements of October, the void applied
        expected = expected_learner(1, [team], 0)
        assert expected["statements"] == 3  # first and last millisecond, the middle one
        assert expected["totals"]["time_spent_seconds"] == 45 * 60

        async def october_view() -> Doc:
            return unversioned(await get_json(http, learner_path(L1), period="2026-10"))

        assert await wait_for(october_view, unversioned(expected)) == unversioned(expected)
        live = await get_json(http, learner_path(L1))
        expected["version"] = live["version"]
        assert live["statements"] == 5  # every statement but the voided one
        assert await get_json(http, learner_path(L1), period="2026-10") == expected
        by_agent = await get_json(
            http,
            "/progress/learners",
            agent='{"mbox": "mailto:learner1@example.org"}',
            period="2026-10",
        )
        assert by_agent == expected
        dates = await get_json(http, learner_path(L1), **{"from": "2026-10-01", "to": "2026-10-31"})
        assert dates == {**expected, "period": {**OCTOBER_JSON, "label": "2026-10-01/2026-10-31"}}
        # RFC 3339 bounds are instants, both included: 02:00+02:00 is the first millisecond
        edges = {"from": "2026-10-01T02:00:00+02:00", "to": "2026-10-31T23:59:59.999Z"}
        assert (await get_json(http, learner_path(L1), **edges))["statements"] == 3
        later = {"from": "2026-10-01T00:00:00.001Z", "to": "2026-10-31T23:59:59.998Z"}
        assert (await get_json(http, learner_path(L1), **later))["statements"] == 1
        quarter = await get_json(http, learner_path(L1), period="2026-Q4")
        assert (quarter["statements"], quarter["period"]["label"]) == (4, "2026-Q4")

        # the team in October: its current members' October views, as of the period's end
        members = {L1: expected, L2: expected_learner(2, [team], 0)}
        summary = summarize_team(team, members, OCTOBER[1])
        team_expected = {**summary, "name": "Sales", "tenant": TENANT, "period": OCTOBER_JSON}
        assert (team_expected["members"], team_expected["active_members_7d"]) == (2, 1)

        async def team_october() -> Doc:
            return unversioned(await get_json(http, f"/progress/teams/{team}", period="2026-10"))

        assert await wait_for(team_october, team_expected) == team_expected
        live_team = await get_json(http, f"/progress/teams/{team}")
        got_team = await get_json(http, f"/progress/teams/{team}", period="2026-10")
        assert got_team == {**team_expected, "version": live_team["version"]}

        # a view of more statements than LRS_PERIOD_VIEW_MAX_STATEMENTS: 400 naming it
        too_many = await http.get(f"/progress/teams/{team}", params={"period": "2026"})
        assert too_many.status_code == 400, too_many.text
        error = too_many.json()["error"]
        assert "LRS_PERIOD_VIEW_MAX_STATEMENTS = 6" in error["message"]
        assert [d["rule"] for d in error["details"]] == ["period-view-max-statements"]

        # the goals of October, as the goal-progress consumer published them
        definitions = {g["goalId"]: parse_goal(g, TENANT, date(2026, 10, 1)) for g in GOALS}
        state = fold(L1, [*[s for s in POSTED if learner_id(s) == L1], VOID])
        final = {
            g: evaluate_goal(goal, {L1: state}, CONSUMERS_NOW) for g, goal in definitions.items()
        }
        assert final["october-minutes"]["status"] == "achieved"
        assert final["monthly-course"]["previous_period"]["status"] == "achieved"

        async def october_goals() -> Any:
            listed = await get_json(
                http, "/progress/goals", owner=f"learner:{L1}", period="2026-10"
            )
            return {
                g["goalId"]: [
                    (o["period"]["start"], o["status"], o["final"]) for o in g["outcomes"]
                ]
                for g in listed["goals"]
            }

        assert await wait_for(
            october_goals,
            {
                "october-minutes": [("2026-10-01", "achieved", True)],
                "monthly-course": [("2026-10-01", "achieved", True)],
            },
        ) == {
            "october-minutes": [("2026-10-01", "achieved", True)],
            "monthly-course": [("2026-10-01", "achieved", True)],
        }
        listed = await get_json(http, "/progress/goals", owner=f"learner:{L1}", period="2026-10")
        assert listed["period"] == OCTOBER_JSON
        assert all(g["outcomes_complete"] for g in listed["goals"])
        # September: the one-off September goal ended missed (one day); the monthly goal's
        # September is no longer in its published value: recomputed from the learner's state,
        # as the goal evaluation said when October began
        september = await get_json(http, "/progress/goals", owner=f"learner:{L1}", period="2026-09")
        by_goal = {g["goalId"]: g for g in september["goals"]}
        assert set(by_goal) == {"monthly-course", "september-days"}
        assert [o["status"] for o in by_goal["september-days"]["outcomes"]] == [
            final["september-days"]["status"]
        ]
        assert final["september-days"]["status"] == "missed"
        when_october_began = evaluate_goal(
            definitions["monthly-course"], {L1: state}, datetime(2026, 10, 1, tzinfo=UTC)
        )["previous_period"]
        assert when_october_began["status"] == "missed"
        assert by_goal["monthly-course"]["outcomes"] == [
            {**when_october_began, "final": True, "source": "recomputed"}
        ]
        assert by_goal["monthly-course"]["outcomes_complete"] is True
        # the quarter: September recomputed, October and November as published
        q3_q4 = await get_json(
            http,
            "/progress/goals",
            owner=f"learner:{L1}",
            **{"from": "2026-09-01", "to": "2026-11-30"},
        )
        (monthly,) = [g for g in q3_q4["goals"] if g["goalId"] == "monthly-course"]
        assert [(o["period"]["start"], o["source"], o["final"]) for o in monthly["outcomes"]] == [
            ("2026-09-01", "recomputed", True),
            ("2026-10-01", "published", True),
            ("2026-11-01", "published", False),
        ]  # on the API's clock (the consumers' one, 15 November) November still runs


BAD = [
    ("period", {"period": "2026-13"}, "period: a month is 01 to 12"),
    ("period", {"period": "2026-W54"}, "period: ISO year 2026 has no week 54"),
    ("period", {"period": "last-quarter"}, "period: must be YYYY, YYYY-Qn"),
    ("period", {"period": "2026", "from": "2026-01-01"}, "period: give either period"),
    ("range", {"from": "2026-10-01"}, "from, to: they go together"),
    ("range", {"from": "2026-11-01", "to": "2026-10-01"}, "from, to: from must not be after"),
    ("range", {"from": "2026-10-01T00:00:00", "to": "2026-10-31"}, "from: must be a date"),
]


@pytest.mark.parametrize(("kind", "params", "message"), BAD)
async def test_bad_periods_get_400_naming_the_rule(
    settings: LrsSettings, kind: str, params: dict[str, str], message: str
) -> None:
    async with live_api(settings) as base, httpx.AsyncClient(base_url=base, headers=H) as http:
        for path in (learner_path(L1), "/progress/teams/registry:sales", "/progress/goals"):
            answer = await http.get(path, params=params)
            assert answer.status_code == 400, (path, answer.text)
            error = answer.json()["error"]
            assert error["message"].startswith(message), (path, error)
            assert [d["rule"] for d in error["details"]] == [
                f"period-{'form' if kind == 'period' else 'range'}"
            ]
        repeated = await http.get(learner_path(L1), params=[("period", "2026"), ("period", "2025")])
        assert repeated.status_code == 400
        assert repeated.json()["error"]["message"] == "period: is given more than once"
        assert [d["rule"] for d in repeated.json()["error"]["details"]] == ["repeated-parameter"]
