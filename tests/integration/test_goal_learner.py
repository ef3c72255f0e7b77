"""The goals of one learner on the real broker and store: `GET /progress/goals?learner=` equals
an independent computation from the stored statements, the registry and the definitions; the
learner goal stream adds a team's goal when the learner joins the team and sends `goal-removed`
when they leave; bad `learner`/`owner`/`agent` parameters get 400 naming the rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import bson
import httpx
import pytest

from lrs import topics
from lrs.goals import current_period, goal_from_doc
from lrs.goals.evaluate import learner_value, learner_window
from lrs.progress import fold, learner_id, summarize_learner, voided_target
from lrs.settings import LrsSettings
from tests.conftest import Infra
from tests.integration.test_erasure import last_values
from tests.integration.test_goals import (
    COURSE,
    MARCH,
    ifi,
    post,
    recomputed,
)
from tests.support.factories import agent, stmt
from tests.support.goal_consumers import goal_consumers
from tests.support.live import SseReader, live_api
from tests.support.polling import eventually
from tests.support.progress import (
    MovableClock,
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


@pytest.fixture(scope="module")
async def settings(infra: Infra, module_namespace: str) -> LrsSettings:
    return await prepared_settings(infra, module_namespace, TENANT)


def goals(sales: str, ops: str) -> list[Doc]:
    passed = {"kind": "complete", "activities": [COURSE], "require": "passed"}
    return [
        {
            "goalId": "own",
            "name": "Learner 1 passes",
            "owner": {"kind": "learner", "id": ifi(1)},
            "targets": [passed, {"kind": "minutes", "minutes": 30}],
            **MARCH,
        },
        {
            "goalId": "other",
            "name": "Learner 2 passes",
            "owner": {"kind": "learner", "id": ifi(2)},
            "targets": [passed],
            **MARCH,
        },
        {
            "goalId": "sales",
            "name": "Sales pass",
            "owner": {"kind": "team", "id": sales},
            "targets": [{"kind": "members", "share": 0.5, "of": passed}],
            **MARCH,
        },
        {
            "goalId": "ops",
            "name": "Ops learn",
            "owner": {"kind": "team", "id": ops},
            "targets": [
                {"kind": "members", "share": 1, "of": {"kind": "minutes", "minutes": 10}},
                {"kind": "members", "share": 0.5, "of": passed},
            ],
            **MARCH,
        },
        {
            "goalId": "org",
            "name": "All learn twice",
            "owner": {"kind": "organisation"},
            "targets": [
                {"kind": "members", "share": 0.5, "of": {"kind": "learning_days", "days": 2}}
            ],
            **MARCH,
        },
    ]


async def expected_for(db: Any, learner: str, now: datetime) -> dict[str, Doc]:
    """Independently: the learner's teams from the registry and their statements, the goals
    of those owners, and per target whether the learner's own statements meet it."""
    statements = await stored_statements(db, TENANT)
    voids = [s for s in statements if voided_target(s) is not None]
    mine = [s for s in statements if voided_target(s) is None and learner_id(s) == learner]
    state = fold(learner, mine + voids) if mine else None
    teams = {t for t, members in (await registry(db, TENANT)).items() if learner in members}
    teams |= set(summarize_learner(state, now.date())["teams"]) if state else set()
    owners = {f"learner:{learner}", "organisation", *(f"team:{t}" for t in teams)}
    values = await recomputed(db, now)
    expected = {}
    async for doc in db["goals"].find({"tenant": TENANT}):
        goal = goal_from_doc(doc)
        if goal.owner.key not in owners:
            continue
        window = learner_window(state, current_period(goal, now))
        rows = []
        for target in goal.targets:
            own = target.of or target
            value, wanted = learner_value(own, window, current_period(goal, now))
            rows.append(value >= wanted if target.of else wanted > 0 and value >= wanted)
        expected[goal.goal_id] = {
            "through": "own" if goal.owner.kind == "learner" else goal.owner.kind,
            "meets": all(rows),
            "met": rows,
            "value": values[goal.goal_id],
        }
    return expected


def problems(expected: dict[str, Doc], answer: httpx.Response) -> list[str]:
    if answer.status_code != 200:
        return [answer.text]
    got = {v["goalId"]: v for v in answer.json()["goals"]}
    found = [] if set(got) == set(expected) else [f"goals {sorted(got)} != {sorted(expected)}"]
    for goal, want in expected.items():
        value = got.get(goal)
        if value is None:
            continue
        block = value["learner"]
        if (block["through"], block["meets"]) != (want["through"], want["meets"]):
            found.append(f"{goal}: {block} != {want}")
        if [t["met"] for t in block["targets"]] != want["met"]:
            found.append(f"{goal}: targets {block['targets']} != {want['met']}")
        bare = {k: v for k, v in value.items() if k not in ("as_of", "version", "learner")}
        if bare != {k: v for k, v in want["value"].items() if k != "as_of"}:
            found.append(f"{goal}: value {bare} != {want['value']}")
    return found


async def next_about(events: SseReader, name: str, goal: str) -> Doc:
    """The next event `name` about `goal` (others skipped; each read has its deadline)."""
    while True:
        event = await events.next_named(name, within=60)
        if event.data["goalId"] == goal:
            data: Doc = event.data
            return data


async def test_a_learners_goals_follow_their_teams(settings: LrsSettings) -> None:
    clock = MovableClock(datetime(2026, 3, 15, 12, tzinfo=UTC))
    async with (
        database(settings) as db,
        live_api(settings) as base,
        httpx.AsyncClient(base_url=base, headers=H, timeout=30) as http,
        running_persister(settings),
        running_progress(settings, db),
        goal_consumers(settings, db, clock),
    ):
        sales = (await http.post("/teams", json={"name": "Sales"})).json()["team"]
        ops = (await http.post("/teams", json={"name": "Ops"})).json()["team"]
        joined = await http.put(f"/teams/{sales}/members", json=[agent(1), agent(2)])
        assert joined.status_code == 200, joined.text
        for goal in goals(sales, ops):
            created = await http.post("/goals", json=goal)
            assert created.status_code == 201, created.text
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
                stmt("experienced", COURSE, at="2026-03-11T09:00:00Z", learner=1),
                stmt("experienced", COURSE, at="2026-03-11T09:00:00Z", learner=2),
            ],
        )

        async def rest_problems() -> list[str]:
            expected = await expected_for(db, ifi(1), clock.now)
            answer = await http.get("/progress/goals", params={"learner": ifi(1)})
            return problems(expected, answer)

        assert await eventually(rest_problems) == []
        by_agent = await http.get("/progress/goals", params={"agent": json.dumps(agent(1))})
        by_id = await http.get("/progress/goals", params={"learner": ifi(1)})
        assert by_agent.json() == by_id.json()
        assert {v["goalId"] for v in by_id.json()["goals"]} == {"own", "sales", "org"}

        request = http.build_request("GET", "/progress/goals/stream", params={"learner": ifi(1)})
        stream = await http.send(request, stream=True)
        assert stream.status_code == 200
        events = SseReader(stream)
        seen = {(await events.next_named("goal-progress")).data["goalId"] for _ in range(3)}
        assert seen == {"own", "sales", "org"}

        # joining Ops (the registry) adds its goal live; leaving removes it
        added = await http.post(f"/teams/{ops}/members", json=[agent(1)])
        assert added.status_code == 200, added.text
        ops_value = await next_about(events, "goal-progress", "ops")
        assert ops_value["learner"]["id"] == ifi(1)
        assert await eventually(rest_problems) == []
        left = await http.delete(f"/teams/{ops}/members", params={"agent": json.dumps(agent(1))})
        assert left.status_code == 200, left.text
        removed = await next_about(events, "goal-removed", "ops")
        assert removed == {"goalId": "ops", "owner": {"kind": "team", "id": ops}, "learner": ifi(1)}
        assert await eventually(rest_problems) == []
        await stream.aclose()


@pytest.mark.parametrize(
    ("params", "rule"),
    [
        ({"learner": ""}, "learner-id"),
        ({"learner": "someone"}, "learner-id"),
        ({"learner": "mbox:mailto:a@example.org\n"}, "learner-id"),
        ({"owner": "team:"}, "owner-key"),
        ({"owner": "learners:x"}, "owner-key"),
        ({"owner": "team:a\x01"}, "owner-key"),
    ],
)
async def test_bad_learner_and_owner_get_400_naming_the_rule(
    settings: LrsSettings, params: dict[str, str], rule: str
) -> None:
    async with (
        live_api(settings) as base,
        httpx.AsyncClient(base_url=base, headers=H, timeout=30) as http,
    ):
        for path in ("/progress/goals", "/progress/goals/stream"):
            answer = await http.get(path, params=params)
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert error["details"][0]["rule"] == rule
            assert error["message"].startswith(f"{next(iter(params))}:")
        both = await http.get(
            "/progress/goals", params={"owner": "organisation", "learner": ifi(1)}
        )
        assert both.status_code == 400
        assert both.json()["error"]["message"].startswith("owner, learner:")
        spec = (await http.get("/openapi.json")).json()
        names = {p["name"] for p in spec["paths"]["/progress/goals"]["get"]["parameters"]}
        assert {"owner", "learner", "agent"} <= names


async def goal_traces(db: Any, settings: LrsSettings, http: httpx.AsyncClient) -> list[str]:
    """Where the erased learner (learner 9) is still named: goal documents, goal progress
    documents, the last value of every key of both goal topics, the REST answer."""
    needle = ifi(9).removeprefix("mbox:mailto:").encode()
    found = []
    for name in ("goals", "progress_goals"):
        async for doc in db[name].find({}):
            if needle in bson.encode(doc):
                found.append(f"{name}: {doc['_id']}")
    for topic in (topics.GOALS, topics.GOAL_PROGRESS):
        for key, value in (await last_values(settings, topic, quiet=0.5)).items():
            if value is not None and (needle in key or needle in value):
                found.append(f"{topic}: {key!r}")
    answer = await http.get("/progress/goals")
    if answer.status_code != 200 or needle.decode() in answer.text:
        found.append(f"GET /progress/goals: {answer.status_code}")
    return found


async def test_erasure_leaves_no_learner_id_in_goals(settings: LrsSettings) -> None:
    clock = MovableClock(datetime(2026, 3, 15, 12, tzinfo=UTC))
    async with (
        database(settings) as db,
        live_api(settings) as base,
        httpx.AsyncClient(base_url=base, headers=H, timeout=30) as http,
        running_persister(settings),
        running_progress(settings, db),
        goal_consumers(settings, db, clock),
    ):
        crew = (await http.post("/teams", json={"name": "Crew"})).json()["team"]
        joined = await http.put(f"/teams/{crew}/members", json=[agent(8), agent(9)])
        assert joined.status_code == 200, joined.text
        passed = {"kind": "complete", "activities": [COURSE], "require": "passed"}
        for goal in (
            {
                "goalId": "nine",
                "name": "Nine passes",
                "targets": [passed],
                "owner": {"kind": "learner", "id": ifi(9)},
                **MARCH,
            },
            {
                "goalId": "crew",
                "name": "Crew passes",
                "owner": {"kind": "team", "id": crew},
                "targets": [{"kind": "members", "share": 0.5, "of": passed}],
                **MARCH,
            },
        ):
            created = await http.post("/goals", json=goal)
            assert created.status_code == 201, created.text
        await post(http, [stmt("passed", COURSE, at="2026-03-10T09:00:00Z", learner=9)])

        async def counted() -> list[str]:
            values = {v["goalId"]: v for v in (await http.get("/progress/goals")).json()["goals"]}
            crew_value, nine = values.get("crew", {}), values.get("nine", {})
            ok = (
                ifi(9) in crew_value.get("members_meeting", []) and nine.get("status") == "achieved"
            )
            return [] if ok else ["waiting"]

        assert await eventually(counted) == []
        assert await goal_traces(db, settings, http), "the check must see the learner first"

        erased = await http.delete("/admin/agents", params={"agent": json.dumps(agent(9))})
        assert erased.status_code == 200, erased.text
        assert erased.json()["counts"]["goals_deleted"] == 1
        assert await eventually(lambda: goal_traces(db, settings, http), within=60) == []
        crew_value = await http.get("/progress/goals", params={"owner": f"team:{crew}"})
        assert [(v["members"], v["members_meeting"]) for v in crew_value.json()["goals"]] == [
            (1, [])
        ]
