"""The dashboard in a real headless browser against `lrs serve` (one for the module):

* a wrong secret: the page shows why in its own login form (no browser challenge: the 401 the
  page gets carries no WWW-Authenticate), and an unknown team is said to be unknown;
* a team with members, the page open, a statement posted for a member, and the page showing
  the new progress WITHOUT a reload (pushed over the SSE stream by the progress consumers); the
  connection cut and back, and the page saying so and catching up;
* display names from statements (a `context.team` Group's name, Agents' names, Activities'
  definition names), the organisation overview, and a learner's page;
* goals (docs/goals.md) on the team page, a learner's page (their own and their team's) and the
  organisation page, their status changing live (over `/progress/goals/stream`) as statements
  arrive, across a lost connection.

Each check saves a screenshot (a PNG, asserted non-empty) under the test's tmp dir."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from lrs.xapi.ifi import actor_ifi
from tests.support.cdp import Page, browser_page, chromium_path
from tests.support.factories import activity, agent, statement
from tests.support.proxy import cuttable_proxy
from tests.support.serve import serve_lrs
from tests.support.stack import xapi_headers

pytestmark = pytest.mark.e2e
KEY, SECRET = "dash-key", "dash-secret"
H = xapi_headers(key=KEY, secret=SECRET)
CONSUMER_WAIT = 90.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve_lrs(tmp_path_factory.mktemp("data"), KEY, SECRET) as (base, _):
        yield base


@pytest.fixture
def chromium() -> str:
    return chromium_path()  # fails (never skips) when the browser is missing


def row(table: str, key: str, value: str, cell: str) -> str:
    """JS: the text of one cell of the row of `table` whose data-`key` is `value`."""
    selector = json.dumps(f'#{table} tr[data-{key}="{value}"] .{cell}')
    return f"document.querySelector({selector})?.textContent"


def member(learner: str, cell: str) -> str:
    return row("members", "learner", learner, cell)


def text(element_id: str) -> str:
    return f"document.getElementById({json.dumps(element_id)})?.textContent"


def visible(element_id: str) -> str:
    return f"(document.getElementById({json.dumps(element_id)})?.hidden === false)"


async def screenshot(page: Page, path: Path) -> None:
    png = await page.screenshot(path)
    assert png.startswith(PNG_MAGIC)
    assert (await asyncio.to_thread(path.stat)).st_size == len(png) > 1000


def now_statement(learner: str, verb: str, **extra: Any) -> dict[str, Any]:
    """A factory statement timed now (the overview counts who was active today)."""
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {**statement(learner, verb), "timestamp": stamp, **extra}


def in_team(sent: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    sent["context"] = {**sent["context"], "team": group}
    return sent


def dashboard(base: str, **fragment: str) -> str:
    return f"{base}/dashboard#" + urlencode({"key": KEY, "secret": SECRET, **fragment})


async def test_a_wrong_secret_is_explained_in_the_page(
    served: str, chromium: str, tmp_path: Path
) -> None:
    async with browser_page(f"{served}/dashboard") as page:
        await page.call("Network.enable")
        await page.wait_for(visible("login"), 15, "the login form is not shown")
        await page.evaluate(
            f"document.getElementById('key').value = {json.dumps(KEY)};"
            "document.getElementById('secret').value = 'not-the-secret';"
            "document.getElementById('login-form').requestSubmit()"
        )
        message = await page.wait_for(
            f"{visible('login-error')} && {text('login-error')}",
            30,
            "no login error shown for a wrong secret",
        )
        assert message.startswith("Wrong key or secret")
        assert "unknown key or wrong secret" in message
        assert await page.evaluate(visible("login"))
        assert not await page.evaluate(visible("nav"))
        token_answers = [
            e["params"]["response"]
            for e in page.events
            if e["method"] == "Network.responseReceived"
            and e["params"]["response"]["url"].endswith("/progress/stream-token")
        ]
        assert [r["status"] for r in token_answers] == [401]
        assert "www-authenticate" not in {h.lower() for h in token_answers[0]["headers"]}
        await screenshot(page, tmp_path / "login-error.png")


async def test_an_unknown_team_is_said_to_be_unknown(
    served: str, chromium: str, tmp_path: Path
) -> None:
    team = f"registry:nobody-{uuid.uuid4().hex[:6]}"
    async with browser_page(dashboard(served, team=team)) as page:
        message = await page.wait_for(
            f"{visible('team-error')} && {text('team-error')}", 30, "no unknown-team error"
        )
        assert message.startswith(f"Unknown team “{team}”")
        # the secret is not left in the address bar
        assert "secret" not in await page.evaluate("location.hash")
        await screenshot(page, tmp_path / "unknown-team.png")


async def test_team_progress_updates_live_and_survives_a_lost_connection(
    served: str, chromium: str, tmp_path: Path
) -> None:
    team = f"registry:e2e-{uuid.uuid4().hex[:6]}"
    ada, bob = agent("ada"), agent("bob")
    async with httpx.AsyncClient(base_url=served, headers=H, timeout=60) as http:
        created = await http.post("/teams", json={"team": team, "name": "E2E team"})
        assert created.status_code == 201, created.text
        members = await http.put(f"/teams/{team}/members", json=[ada, bob])
        assert members.status_code == 200, members.text

        async with (
            cuttable_proxy(served) as proxy,
            browser_page(dashboard(proxy.base, team=team)) as page,
        ):
            await page.wait_for(f"{text('conn')} === 'live'", 30, "the stream did not connect")
            await page.wait_for(member(actor_ifi(ada), "label"), 15, "member rows not shown")
            assert await page.evaluate(text("team-name")) == f"E2E team ({team})"
            assert await page.evaluate(member(actor_ifi(bob), "label")) == "Learner bob"
            assert await page.evaluate(member(actor_ifi(ada), "status")) == "not started"
            await page.evaluate("window.__noReload = 'still here'")

            response = await http.post("/xapi/statements", json=statement("ada", "passed"))
            assert response.status_code == 200, response.text
            await page.wait_for(
                f"{member(actor_ifi(ada), 'status')} === 'passed'",
                CONSUMER_WAIT,
                "no learner-progress reached the page: are the progress consumers registered "
                "in lrs/wiring/consumers.py and started by `lrs serve`, publishing to "
                "lrs.progress.learner?",
            )
            # the course and the program it rolls up to (in progress) are both started
            assert await page.evaluate(member(actor_ifi(ada), "completed")) == "1/2"
            assert await page.evaluate(member(actor_ifi(ada), "score")) == "85%"
            assert await page.evaluate("window.__noReload") == "still here"
            assert await page.evaluate(member(actor_ifi(bob), "status")) == "not started"
            await screenshot(page, tmp_path / "live-update.png")

            proxy.cut()
            lost = await page.wait_for(
                f"{visible('conn-banner')} && {text('conn-banner')}", 30, "no lost connection"
            )
            assert lost.startswith("Connection lost")
            assert await page.evaluate(text("conn")) == "reconnecting…"
            await screenshot(page, tmp_path / "connection-lost.png")
            proxy.restore()
            await page.wait_for(
                f"{text('conn')} === 'live' && !{visible('conn-banner')}",
                60,
                "the page did not reconnect",
            )
            response = await http.post("/xapi/statements", json=statement("bob", "failed"))
            assert response.status_code == 200, response.text
            await page.wait_for(
                f"{member(actor_ifi(bob), 'status')} === 'failed'",
                CONSUMER_WAIT,
                "no update after the reconnect",
            )
            assert await page.evaluate("window.__noReload") == "still here"


async def test_names_from_statements_the_overview_and_a_learners_page(
    served: str, chromium: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    group = {"objectType": "Group", "name": "Night shift", "mbox": f"mailto:night-{tag}@x.org"}
    cleo, dan = f"cleo-{tag}", f"dan-{tag}"
    sent = [
        in_team(now_statement(cleo, "passed"), group),
        in_team(now_statement(dan, "completed"), group),
    ]
    mentors = f"registry:mentors-{tag}"
    async with httpx.AsyncClient(base_url=served, headers=H, timeout=60) as http:
        response = await http.post("/xapi/statements", json=sent)
        assert response.status_code == 200, response.text
        created = await http.post("/teams", json={"team": mentors, "name": "Mentors"})
        assert created.status_code == 201, created.text
        added = await http.post(f"/teams/{mentors}/members", json=[agent(cleo)])
        assert added.status_code == 200, added.text
    team = actor_ifi(group)
    async with browser_page(dashboard(served, team=team)) as page:
        await page.wait_for(
            f"{text('team-name')} === 'Night shift ({team})'",
            CONSUMER_WAIT,
            "the team is not shown under the name its statements gave",
        )
        learner = actor_ifi(agent(cleo))
        await page.wait_for(member(learner, "label"), 30, "member rows not shown")
        assert await page.evaluate(member(learner, "label")) == f"Learner {cleo}"

        await page.evaluate("location.hash = '#overview'")
        teams_row = await page.wait_for(
            row("overview-teams", "team", team, "label"), 30, "the overview lists no such team"
        )
        assert teams_row == "Night shift"
        assert await page.evaluate(row("overview-teams", "team", team, "members")) == "2"
        assert await page.evaluate(row("overview-teams", "team", team, "today")) == "2"
        assert int(await page.evaluate(text("active-today"))) >= 2
        program = "https://content.example.org/program/1"
        assert await page.evaluate(row("overview-courses", "activity", program, "label")) == (
            "Program"
        )
        await screenshot(page, tmp_path / "overview.png")

        selector = json.dumps(f'#overview-learners tr[data-learner="{learner}"]')
        await page.evaluate(f"document.querySelector({selector}).click()")
        await page.wait_for(
            f"{text('learner-name')} === 'Learner {cleo} ({learner})'", 30, "no learner page"
        )
        course = "https://content.example.org/course/1"
        await page.wait_for(
            row("learner-activities", "activity", course, "label"), 30, "no activity rows"
        )
        assert await page.evaluate(row("learner-activities", "activity", course, "label")) == (
            "Course 1"
        )
        assert await page.evaluate(row("learner-activities", "activity", course, "status")) == (
            "passed"
        )
        teams = await page.wait_for(
            f"{text('learner-teams')}.includes('Mentors') && {text('learner-teams')}",
            30,
            "the learner's registry team is not named",
        )
        assert teams == "Teams: Night shift, Mentors"  # by id: mbox:… before registry:…
        await screenshot(page, tmp_path / "learner.png")


def goal_cell(table: str, goal: str, cell: str) -> str:
    return row(table, "goal", goal, cell)


def goal_body(
    goal_id: str, name: str, owner: dict[str, str], target: dict[str, Any]
) -> dict[str, Any]:
    """A goal from today (UTC) to 30 days on: time alone does not put it at risk in the test."""
    until = datetime.now(UTC).date() + timedelta(days=30)
    return {
        "goalId": goal_id,
        "name": name,
        "owner": owner,
        "achievedByDate": until.isoformat(),
        "targets": [target],
    }


async def test_goals_on_the_team_learner_and_organisation_pages_change_live(
    served: str, chromium: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    team = f"registry:goals-{tag}"
    eve, fay = f"eve-{tag}", f"fay-{tag}"
    fay_id = actor_ifi(agent(fay))
    passed = {"kind": "complete", "activities": [activity()["id"]], "require": "passed"}
    goals = [
        goal_body(
            f"team-{tag}",
            "Everyone passes Course 1",
            {"kind": "team", "id": team},
            {"kind": "members", "share": 1, "of": passed},
        ),
        goal_body(f"fay-{tag}", "Fay passes Course 1", {"kind": "learner", "id": fay_id}, passed),
        goal_body(
            f"org-{tag}",
            "Most learn today",
            {"kind": "organisation"},
            {"kind": "members", "share": 0.5, "of": {"kind": "learning_days", "days": 1}},
        ),
    ]
    team_goal, fay_goal, org_goal = (g["goalId"] for g in goals)
    async with httpx.AsyncClient(base_url=served, headers=H, timeout=60) as http:
        created = await http.post("/teams", json={"team": team, "name": "Goal getters"})
        assert created.status_code == 201, created.text
        members = await http.put(f"/teams/{team}/members", json=[agent(eve), agent(fay)])
        assert members.status_code == 200, members.text
        for goal in goals:
            response = await http.post("/goals", json=goal)
            assert response.status_code == 201, response.text

        async with (
            cuttable_proxy(served) as proxy,
            browser_page(dashboard(proxy.base, team=team)) as page,
        ):
            status = goal_cell("team-goals", team_goal, "status")
            await page.wait_for(
                f"{status} === 'not started'",
                CONSUMER_WAIT,
                "the team's goal is not shown as not started: is goal-progress running?",
            )
            assert await page.evaluate(goal_cell("team-goals", team_goal, "label")) == (
                "Everyone passes Course 1"
            )
            period = await page.evaluate(goal_cell("team-goals", team_goal, "period"))
            assert goals[0]["achievedByDate"] in period
            assert "0 of 2 members" in await page.evaluate(
                goal_cell("team-goals", team_goal, "targets")
            )
            assert "1 not started" in await page.evaluate(text("team-goals-counts"))
            await page.evaluate("window.__noReload = 'still here'")

            proxy.cut()  # the goal stream is lost and comes back like the others
            await page.wait_for(
                f"{visible('conn-banner')} && {text('conn')} === 'reconnecting…'",
                30,
                "no lost connection",
            )
            proxy.restore()
            await page.wait_for(
                f"{text('conn')} === 'live' && !{visible('conn-banner')}",
                60,
                "the page did not reconnect",
            )

            response = await http.post("/xapi/statements", json=now_statement(eve, "passed"))
            assert response.status_code == 200, response.text
            await page.wait_for(
                f"{status} === 'on track'", CONSUMER_WAIT, "the goal's status did not change"
            )
            targets = await page.evaluate(goal_cell("team-goals", team_goal, "targets"))
            assert "1 of 2 members" in targets
            assert "50%" in targets
            meeting = await page.evaluate(goal_cell("team-goals", team_goal, "meeting"))
            assert meeting.startswith("1 of 2")
            assert f"Learner {eve}" in meeting
            assert "1 on track" in await page.evaluate(text("team-goals-counts"))
            await screenshot(page, tmp_path / "team-goals.png")

            # fay's page: her own goal and the one she has through her team
            await page.evaluate(
                f"location.hash = {json.dumps('#' + urlencode({'learner': fay_id}))}"
            )
            own = goal_cell("learner-goals", fay_goal, "status")
            adopted = goal_cell("learner-goals", team_goal, "status")
            await page.wait_for(
                f"{own} === 'not started' && {adopted} === 'on track'",
                30,
                "the learner page does not show her own and her team's goals",
            )
            assert await page.evaluate(goal_cell("learner-goals", team_goal, "owner")) == (
                "team Goal getters"
            )
            assert await page.evaluate(goal_cell("learner-goals", fay_goal, "owner")) == "own"
            assert await page.evaluate(goal_cell("learner-goals", team_goal, "you")) == "not yet"
            assert await page.evaluate(goal_cell("learner-goals", org_goal, "owner")) == (
                "organisation"
            )
            response = await http.post("/xapi/statements", json=now_statement(fay, "passed"))
            assert response.status_code == 200, response.text
            await page.wait_for(
                f"{own} === 'achieved' && {adopted} === 'achieved'",
                CONSUMER_WAIT,
                "the learner's goals did not change live",
            )
            assert await page.evaluate(goal_cell("learner-goals", team_goal, "you")) == "meets it"
            fay_targets = await page.evaluate(goal_cell("learner-goals", fay_goal, "targets"))
            assert "1 / 1" in fay_targets
            assert "100%" in fay_targets
            assert await page.evaluate("window.__noReload") == "still here"
            await screenshot(page, tmp_path / "learner-goals.png")

            await page.evaluate("location.hash = '#overview'")
            org_status = await page.wait_for(
                goal_cell("overview-goals", org_goal, "status"), 30, "no organisation goal"
            )
            assert org_status in ("on track", "achieved", "not started", "at risk")
            assert await page.evaluate(goal_cell("overview-goals", org_goal, "label")) == (
                "Most learn today"
            )
            assert team_goal not in await page.evaluate(text("overview-goals"))
            await screenshot(page, tmp_path / "overview-goals.png")


async def test_a_goal_that_stopped_applying_while_the_page_was_away_goes_away(
    served: str, chromium: str, tmp_path: Path
) -> None:
    """The goal stream's events carry no id, so a reconnect sends the goals that apply again,
    not the `goal-removed` events missed meanwhile: the page must forget what it showed."""
    tag = uuid.uuid4().hex[:6]
    team = f"registry:leavers-{tag}"
    gus = f"gus-{tag}"
    gus_id = actor_ifi(agent(gus))
    passed = {"kind": "complete", "activities": [activity()["id"]], "require": "passed"}
    team_goal = goal_body(
        f"team-{tag}",
        "The team passes",
        {"kind": "team", "id": team},
        {"kind": "members", "share": 1, "of": passed},
    )
    own_goal = goal_body(f"gus-{tag}", "Gus passes", {"kind": "learner", "id": gus_id}, passed)
    async with httpx.AsyncClient(base_url=served, headers=H, timeout=60) as http:
        created = await http.post("/teams", json={"team": team, "name": "Leavers"})
        assert created.status_code == 201, created.text
        members = await http.put(f"/teams/{team}/members", json=[agent(gus)])
        assert members.status_code == 200, members.text
        for goal in (team_goal, own_goal):
            response = await http.post("/goals", json=goal)
            assert response.status_code == 201, response.text

        async with (
            cuttable_proxy(served) as proxy,
            browser_page(dashboard(proxy.base, learner=gus_id)) as page,
        ):
            own = goal_cell("learner-goals", own_goal["goalId"], "status")
            adopted = goal_cell("learner-goals", team_goal["goalId"], "status")
            await page.wait_for(
                f"{own} === 'not started' && {adopted} === 'not started'",
                CONSUMER_WAIT,
                "the learner page does not show his own and his team's goal",
            )
            proxy.cut()
            await page.wait_for(f"{visible('conn-banner')}", 30, "no lost connection")
            emptied = await http.put(f"/teams/{team}/members", json=[])
            assert emptied.status_code == 200, emptied.text
            await until_goal_gone(http, gus_id, team_goal["goalId"])
            proxy.restore()
            await page.wait_for(
                f"{text('conn')} === 'live' && {adopted} === undefined",
                60,
                "the team's goal is still shown after the learner left the team",
            )
            assert await page.evaluate(own) == "not started"
            await screenshot(page, tmp_path / "goal-gone.png")


async def until_goal_gone(http: httpx.AsyncClient, learner: str, goal_id: str) -> None:
    """Until the goal no longer applies to the learner (as a new goal stream would read it)."""
    async with asyncio.timeout(CONSUMER_WAIT):
        while True:
            response = await http.get("/progress/goals", params={"learner": learner})
            assert response.status_code == 200, response.text
            if goal_id not in {g["goalId"] for g in response.json()["goals"]}:
                return
            await asyncio.sleep(0.2)  # polling the API, not standing in for a signal


async def test_organisation_page_shows_the_figures_live_and_for_a_period(
    served: str, chromium: str, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    group = {"objectType": "Group", "name": "Day shift", "mbox": f"mailto:day-{tag}@x.org"}
    first, newcomer = f"eve-{tag}", f"fay-{tag}"
    team = actor_ifi(group)
    async with httpx.AsyncClient(base_url=served, headers=H, timeout=60) as http:
        sent = in_team(now_statement(first, "passed"), group)
        response = await http.post("/xapi/statements", json=sent)
        assert response.status_code == 200, response.text
        async with browser_page(dashboard(served)) as page:
            await page.wait_for(
                row("org-teams", "team", team, "today"),
                CONSUMER_WAIT,
                "the organisation figures do not list the statement's team",
            )
            assert await page.evaluate(row("org-teams", "team", team, "members")) == "1"
            before = int(await page.evaluate(text("org-active-today")))
            assert before >= 1
            assert int(await page.evaluate(text("org-active-30d"))) >= before
            assert float(await page.evaluate(text("org-learning-days"))) > 0
            assert (await page.evaluate(text("org-mode"))).startswith("Live")
            assert "learner:" in await page.evaluate(text("org-goal-counts"))
            program = "https://content.example.org/program/1"
            assert await page.evaluate(row("org-courses", "activity", program, "label")) == (
                "Program"
            )
            await page.evaluate("window.notReloaded = true")

            joined = in_team(now_statement(newcomer, "completed"), group)
            response = await http.post("/xapi/statements", json=joined)
            assert response.status_code == 200, response.text
            after = await page.wait_for(
                f"Number({text('org-active-today')}) > {before}"
                f" && {row('org-teams', 'team', team, 'today')} === '2'"
                f" && {text('org-active-today')}",
                CONSUMER_WAIT,
                "'active today' did not change live",
            )
            assert int(after) > before
            assert await page.evaluate("window.notReloaded") is True  # no reload
            await screenshot(page, tmp_path / "organisation.png")

            await page.evaluate(
                "const c = document.getElementById('org-period-choice');"
                " c.value = 'this-month'; c.dispatchEvent(new Event('change'))"
            )
            mode = await page.wait_for(
                f"{text('org-mode')}.startsWith('Period') && {text('org-mode')}",
                30,
                "the period's figures are not shown",
            )
            month = datetime.now(UTC).strftime("%Y-%m")
            assert mode.startswith(f"Period {month}")
            assert "not live" in mode
            assert await page.evaluate(row("org-teams", "team", team, "today")) == "2"
            await screenshot(page, tmp_path / "organisation-period.png")
