"""Goals end to end on the real broker and store: goals at three levels created through the
API, statements posted, the persister, the progress consumers and the two goal consumers
running as tasks of this event loop (the goal consumers on an injected clock). The last value
of every key of `lrs.progress.goal`, the `progress_goals` documents and `GET /progress/goals`
must equal an independent recomputation from the stored statements, the registry and the goal
definitions; after a void and a team change as well; a goal becomes `missed` when the clock
passes its due date with no new statement; the goal stream shows status changes; a bad goal
gets 400 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from lrs import topics
from lrs.goals import evaluate_goal, goal_from_doc
from lrs.progress import fold, learner_id, summarize_learner, voided_target
from lrs.settings import LrsSettings
from tests.conftest import Infra
from tests.support.factories import COURSE, MODULE_A, agent, stmt, voided_by_admin
from tests.support.goal_consumers import goal_consumers
from tests.support.live import SseReader, live_api
from tests.support.polling import eventually
from tests.support.progress import (
    FIXED_NOW,
    MovableClock,
    Workload,
    latest_per_key,
    post_statements,
    post_workload,
    registry,
    running_progress,
    stored_statements,
)
from tests.support.stack import (
    database,
    prepared_settings,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
TENANT = "default"
Doc = dict[str, Any]
H = xapi_headers()
MARCH = {"startDate": "2026-03-01", "achievedByDate": "2026-03-31"}
COURSES = "https://content.example.org/course/"


def ifi(n: int) -> str:
    return learner_id(stmt(learner=n))


GOALS: list[Doc] = [
    {
        "goalId": "l1-course",
        "name": "Learner 1 finishes the course and spends 30 minutes",
        "owner": {"kind": "learner", "id": ifi(1)},
        "targets": [
            {"kind": "complete", "activities": [COURSE]},
            {"kind": "minutes", "minutes": 30},
        ],
        **MARCH,
    },
    {
        "goalId": "sales-pass",
        "name": "60% of Sales pass the course",
        "owner": {"kind": "team", "id": "registry:sales"},
        "targets": [
            {
                "kind": "members",
                "share": 0.6,
                "of": {"kind": "complete", "activities": [COURSE], "require": "passed"},
            }
        ],
        **MARCH,
    },
    {
        "goalId": "org-habit",
        "name": "Half of us learn on two days",
        "owner": {"kind": "organisation"},
        "targets": [{"kind": "members", "share": 0.5, "of": {"kind": "learning_days", "days": 2}}],
        **MARCH,
    },
    {
        "goalId": "l4-hours",
        "name": "Learner 4 spends ten hours",
        "owner": {"kind": "learner", "id": ifi(4)},
        "targets": [{"kind": "minutes", "minutes": 600}],
        **MARCH,
    },
]


@pytest.fixture(scope="module")
async def settings(infra: Infra, module_namespace: str) -> LrsSettings:
    return await prepared_settings(infra, module_namespace, TENANT)


async def recomputed(db: AsyncDatabase[Doc], now: datetime) -> dict[str, Doc]:
    """Every goal's progress from scratch: the stored statements folded per learner (voids
    applied), members from the registry and the statements' teams, the definitions."""
    statements = await stored_statements(db, TENANT)
    teams = await registry(db, TENANT)
    voids = [s for s in statements if voided_target(s) is not None]
    learners = {learner_id(s) for s in statements if voided_target(s) is None}
    states = {
        lr: fold(lr, [s for s in statements if learner_id(s) == lr] + voids) for lr in learners
    }
    statement_teams = {
        lr: set(summarize_learner(state, now.date())["teams"]) for lr, state in states.items()
    }
    expected = {}
    async for doc in db["goals"].find({"tenant": TENANT}):
        goal = goal_from_doc(doc)
        if goal.owner.kind == "learner":
            members = {goal.owner.id or ""}
        elif goal.owner.kind == "team":
            team = goal.owner.id or ""
            members = set(teams.get(team, ())) | {
                lr for lr, named in statement_teams.items() if team in named
            }
        else:
            members = learners | {m for ms in teams.values() for m in ms}
        expected[goal.goal_id] = evaluate_goal(goal, {m: states.get(m) for m in members}, now)
    return expected


def comparable(value: Doc) -> Doc:
    return {k: v for k, v in value.items() if k not in ("as_of", "version")}


def differences(expected: dict[str, Doc], got: dict[str, Doc]) -> list[str]:
    problems = [f"{g}: missing" for g in expected if g not in got]
    for goal, value in got.items():
        if goal not in expected:
            problems.append(f"{goal}: unexpected")
        elif comparable(value) != comparable(expected[goal]):
            problems.append(f"{goal}: {comparable(value)} != {comparable(expected[goal])}")
    return problems


async def rest_values(http: httpx.AsyncClient) -> dict[str, Doc]:
    answer = await http.get("/progress/goals")
    assert answer.status_code == 200, answer.text
    return {v["goalId"]: v for v in answer.json()["goals"]}


async def converged(http: httpx.AsyncClient, db: AsyncDatabase[Doc], now: datetime) -> list[str]:
    """What still differs between the REST answer and the recomputation."""
    return differences(await recomputed(db, now), await rest_values(http))


async def post(http: httpx.AsyncClient, statements: list[Doc]) -> None:
    await post_statements(http, statements, H)


async def open_goal_stream(http: httpx.AsyncClient, owner: str) -> tuple[httpx.Response, SseReader]:
    request = http.build_request("GET", "/progress/goals/stream", params={"owner": owner})
    response = await http.send(request, stream=True)
    assert response.status_code == 200, (await response.aread()).decode()
    return response, SseReader(response)


async def test_goals_at_three_levels_follow_statements_voids_members_and_the_clock(
    settings: LrsSettings,
) -> None:
    clock = MovableClock(datetime(2026, 3, 15, 12, tzinfo=UTC))
    async with (
        database(settings) as db,
        live_api(settings) as base,
        httpx.AsyncClient(base_url=base, headers=H, timeout=30) as http,
        running_persister(settings),
        running_progress(settings, db),
        goal_consumers(settings, db, clock),
    ):
        created = await http.post("/teams", json={"name": "Sales"})
        assert created.status_code == 201, created.text
        team = created.json()["team"]
        assert team == "registry:sales"
        members = await http.put(f"/teams/{team}/members", json=[agent(1), agent(2), agent(3)])
        assert members.status_code == 200, members.text
        for goal in GOALS:
            answer = await http.post("/goals", json=goal)
            assert answer.status_code == 201, answer.text
        # nothing learnt yet: every goal is computed anyway (from the API's triggers)
        assert await eventually(lambda: converged(http, db, clock.now)) == []
        assert {v["status"] for v in (await rest_values(http)).values()} == {"at_risk"}

        stream, events = await open_goal_stream(http, f"team:{team}")
        snapshot = await events.next_named("goal-progress")
        assert (snapshot.data["goalId"], snapshot.data["status"]) == ("sales-pass", "at_risk")

        l2_pass = stmt("passed", COURSE, at="2026-03-11T09:00:00Z", learner=2)
        await post(
            http,
            [
                stmt(
                    "passed",
                    COURSE,
                    at="2026-03-10T09:00:00Z",
                    learner=1,
                    result={"duration": "PT40M"},
                ),
                stmt(
                    "experienced", MODULE_A, at="2026-03-12T09:00:00Z", learner=1, parents=[COURSE]
                ),
                l2_pass,
                stmt("passed", COURSE, at="2026-03-12T09:00:00Z", learner=3),
                stmt(
                    "experienced",
                    MODULE_A,
                    at="2026-03-10T09:00:00Z",
                    learner=4,
                    result={"duration": "PT5M"},
                ),
            ],
        )
        assert await eventually(lambda: converged(http, db, clock.now)) == []
        values = await rest_values(http)
        assert values["l1-course"]["status"] == "achieved"
        assert values["sales-pass"]["status"] == "achieved"
        assert values["sales-pass"]["members_meeting"] == sorted([ifi(1), ifi(2), ifi(3)])
        assert values["org-habit"]["targets"][0]["members_meeting"] == [ifi(1)]
        live = await events.next_named("goal-progress")
        assert (live.data["goalId"], live.data["status"]) == ("sales-pass", "achieved")

        # a void of learner 2's pass, sent by another actor, and learner 4 joining Sales
        await post(http, [voided_by_admin(l2_pass["id"])])
        joined = await http.post(f"/teams/{team}/members", json=[agent(4)])
        assert joined.status_code == 200, joined.text
        assert await eventually(lambda: converged(http, db, clock.now)) == []
        sales = (await rest_values(http))["sales-pass"]
        assert (sales["members"], sales["targets"][0]["value"]) == (4, 2.0)
        assert sales["status"] == "on_track"  # 2 of the 3 needed: 67 % done, 47 % of March gone
        # The void reaches goals through learner progress and the join through the registry:
        # either may come first, so the stream may show a state between (4 members, the void
        # not yet counted: achieved); it ends at the converged one.
        changed = await events.next_named("goal-progress")
        while (changed.data["members"], changed.data["targets"][0]["value"]) != (4, 2.0):
            changed = await events.next_named("goal-progress")
        assert changed.data["status"] == "on_track"

        # a member without any statement joins: counted at once (no learner value announces it)
        newcomer = await http.post(f"/teams/{team}/members", json=[agent(5)])
        assert newcomer.status_code == 200, newcomer.text
        assert await eventually(lambda: converged(http, db, clock.now)) == []
        sales = (await rest_values(http))["sales-pass"]
        assert (sales["members"], sales["targets"][0]["target"]) == (5, 3.0)

        # a new team with a goal, then members who never sent a statement
        ops = (await http.post("/teams", json={"name": "Ops"})).json()["team"]
        ops_goal = {**GOALS[1], "goalId": "ops-pass", "owner": {"kind": "team", "id": ops}}
        assert (await http.post("/goals", json=ops_goal)).status_code == 201
        assert await eventually(lambda: converged(http, db, clock.now)) == []
        joined = await http.put(f"/teams/{ops}/members", json=[agent(6), agent(7)])
        assert joined.status_code == 200, joined.text
        assert await eventually(lambda: converged(http, db, clock.now)) == []
        values = await rest_values(http)
        assert (values["ops-pass"]["members"], values["org-habit"]["members"]) == (2, 7)

        # the due date passes with no new statement
        clock.now = datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC)
        assert await eventually(lambda: converged(http, db, clock.now)) == []
        statuses = {g: v["status"] for g, v in (await rest_values(http)).items()}
        assert statuses == {
            "l1-course": "achieved",
            "sales-pass": "missed",
            "org-habit": "missed",
            "l4-hours": "missed",
            "ops-pass": "missed",
        }
        missed = await events.next_named("goal-progress")
        while missed.data["members"] != 5:  # the newcomer's change comes first
            missed = await events.next_named("goal-progress")
        if missed.data["status"] != "missed":
            missed = await events.next_named("goal-progress")
        assert missed.data["status"] == "missed"
        await stream.aclose()

        # the topic's last value of every goal and the stored documents say the same
        expected = await recomputed(db, clock.now)
        published = await latest_per_key(settings, topics.GOAL_PROGRESS)
        by_goal = {topics.split_key(k)[1]: v for k, v in published.items()}
        assert differences(expected, by_goal) == []
        stored = {
            d["goal"]: d["value"] async for d in db["progress_goals"].find({"tenant": TENANT})
        }
        assert differences(expected, stored) == []


async def test_a_bad_goal_gets_400_naming_the_field(settings: LrsSettings) -> None:
    async with live_api(settings) as base, httpx.AsyncClient(base_url=base, headers=H) as http:
        bad = {**GOALS[1], "goalId": "bad", "targets": [{"kind": "minutes", "minutes": 5}]}
        answer = await http.post("/goals", json=bad)
        assert answer.status_code == 400
        assert answer.json()["error"]["message"].startswith("invalid goal: targets[0].kind: ")
        worse = {**GOALS[0], "goalId": "worse", "targets": [{"kind": "score", "score": 2}]}
        answer = await http.post("/goals", json=worse)
        assert answer.status_code == 400
        assert [d["path"] for d in answer.json()["error"]["details"]] == [
            "targets[0].activity",
            "targets[0].score",
        ]


SQUAD = "mbox:mailto:squad0@ex.org"  # a team named by statements (tests/support/progress.py)
NOVEMBER = {"startDate": "2026-11-01", "achievedByDate": "2026-11-30"}
SEEDED_GOALS: list[Doc] = [
    {
        "goalId": "team0-course",
        "name": "team-0 completes course 0",
        "owner": {"kind": "team", "id": "team-0"},
        "targets": [
            {
                "kind": "members",
                "share": 0.5,
                "of": {"kind": "complete", "activities": [f"{COURSES}0", f"{COURSES}1"]},
            }
        ],
        **NOVEMBER,
    },
    {
        "goalId": "squad-weekly",
        "name": "the squad learns twice a week",
        "owner": {"kind": "team", "id": SQUAD},
        "recurrence": "week",
        "startDate": "2026-11-01",
        "targets": [
            {"kind": "members", "share": 0.5, "of": {"kind": "learning_days", "days": 2}},
        ],
    },
    {
        "goalId": "org-monthly",
        "name": "a third of us spend an hour a month and score 0.8 on course 2",
        "owner": {"kind": "organisation"},
        "recurrence": "month",
        "startDate": "2026-10-01",
        "targets": [
            {"kind": "members", "share": 0.33, "of": {"kind": "minutes", "minutes": 60}},
            {
                "kind": "members",
                "share": 0.2,
                "of": {"kind": "score", "activity": f"{COURSES}2", "score": 0.8},
            },
        ],
    },
    *(
        {
            "goalId": f"learner{n}",
            "name": f"learner {n}",
            "owner": {"kind": "learner", "id": f"mbox:mailto:learner{n}@example.org"},
            "targets": [
                {"kind": "complete", "activities": [f"{COURSES}{n}"], "require": "passed"},
                {"kind": "learning_days", "days": 2, "per": "week"},
                {"kind": "minutes", "minutes": 45},
            ],
            **NOVEMBER,
        }
        for n in range(3)
    ),
]


async def test_a_seeded_workload_equals_the_recomputation_before_and_after_the_periods_end(
    settings: LrsSettings,
) -> None:
    """Random statements of 12 learners (fixed seed), voids before and after their targets,
    registry changes between batches; goals of every level, one-off and recurring."""
    clock = MovableClock(FIXED_NOW)
    workload = Workload(seed=1914, learners=12).build(150)
    async with (
        database(settings) as db,
        live_api(settings) as base,
        httpx.AsyncClient(base_url=base, headers=H, timeout=30) as http,
        running_persister(settings),
        running_progress(settings, db),
        goal_consumers(settings, db, clock),
    ):
        await db["goals"].delete_many({})  # the other test's goals (same database)
        await db["progress_goals"].delete_many({})
        for goal in SEEDED_GOALS:
            answer = await http.post("/goals", json=goal)
            assert answer.status_code == 201, answer.text
        await post_workload(http, db, settings, workload, H, TENANT)
        assert await eventually(lambda: converged(http, db, clock.now), within=180) == []
        before = await rest_values(http)
        assert {v["status"] for v in before.values()} != {"not_started"}

        clock.now = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)  # no statement from here on
        assert await eventually(lambda: converged(http, db, clock.now), within=180) == []
        after = await rest_values(http)
        assert {after[g]["status"] for g in ("team0-course", "learner0")} <= {"achieved", "missed"}
        assert after["org-monthly"]["period"] == {"start": "2026-12-01", "end": "2026-12-31"}
        assert after["org-monthly"]["previous_period"]["period"]["start"] == "2026-11-01"

        expected = await recomputed(db, clock.now)
        published = await latest_per_key(settings, topics.GOAL_PROGRESS)
        by_goal = {
            topics.split_key(k)[1]: v for k, v in published.items() if v["goalId"] in expected
        }
        assert differences(expected, by_goal) == []
