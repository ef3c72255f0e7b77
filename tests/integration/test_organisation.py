"""Organisation progress end to end on the real broker and store: a seeded workload (random
statements of a dozen learners over 40 days, timestamps out of order, voids before and after
their targets, registry changes between batches) POSTed through the API, a void and a membership
change through the API, goals at every level (an organisation goal among them); the persister,
the progress, goal and organisation consumers run as tasks of this event loop (the goal and
organisation consumers on an injected clock). The `progress_organisation` document, the last
value of `lrs.progress.organisation` and `GET /progress/organisation` must equal an independent
recomputation from the stored statements, the registry and the goal definitions, before and
after midnight passes with no new statement; the organisation stream sends the snapshot and
then the change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase

from consumers.organisation import (
    OrganisationProgressHandler,
    organisation_change_message,
)
from consumers.runner import Outcome, Record, Runner
from lrs import topics
from lrs.adapters.mongo_organisation import MongoOrganisationProgress
from lrs.goals import evaluate_goal, goal_from_doc
from lrs.progress import (
    fold,
    learner_id,
    registry_teams_for,
    summarize_learner,
    voided_target,
)
from lrs.progress.organisation import (
    LearnerFigures,
    figures_of,
    summarize_organisation_progress,
    team_entries,
)
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS
from lrs.xapi.timefmt import parse_timestamp
from tests.conftest import Infra
from tests.support.factories import agent, voided_by_admin
from tests.support.goal_consumers import (
    clocked_options,
    goal_bus,
    goal_runners,
    runner,
)
from tests.support.live import SseReader, live_api
from tests.support.polling import eventually
from tests.support.progress import (
    FIXED_NOW,
    MovableClock,
    Workload,
    fixed_clock,
    latest_per_key,
    post_statements,
    post_workload,
    running_progress,
    stored_statements,
)
from tests.support.stack import database, prepared_settings, running, running_persister
from tests.support.stack import xapi_headers as xapi_headers_of

pytestmark = pytest.mark.integration
TENANT = "default"
Doc = dict[str, Any]
H = xapi_headers_of()
COURSES = "https://content.example.org/course/"
NOVEMBER = {"startDate": "2026-11-01", "achievedByDate": "2026-11-30"}
GOALS: list[Doc] = [
    {
        "goalId": "org-habit",
        "name": "half of us learn on two days in November",
        "owner": {"kind": "organisation"},
        "targets": [{"kind": "members", "share": 0.5, "of": {"kind": "learning_days", "days": 2}}],
        **NOVEMBER,
    },
    {
        "goalId": "team0-course",
        "name": "team-0 completes course 0",
        "owner": {"kind": "team", "id": "team-0"},
        "targets": [
            {
                "kind": "members",
                "share": 0.5,
                "of": {"kind": "complete", "activities": [f"{COURSES}0"]},
            }
        ],
        **NOVEMBER,
    },
    {
        "goalId": "learner1-minutes",
        "name": "learner 1 spends an hour",
        "owner": {"kind": "learner", "id": "mbox:mailto:learner1@example.org"},
        "targets": [{"kind": "minutes", "minutes": 60}],
        **NOVEMBER,
    },
]


@pytest.fixture(scope="module")
async def settings(infra: Infra, module_namespace: str) -> LrsSettings:
    return await prepared_settings(infra, module_namespace, TENANT)


class Watched:
    """organisation-progress's handler, noting the last offset it handled per partition."""

    def __init__(self, handler: OrganisationProgressHandler) -> None:
        self.name = handler.name
        self._handler = handler
        self.handled: dict[int, int] = {}

    async def handle(self, records: Sequence[Record]) -> Outcome:
        outcome = await self._handler.handle(records)
        for record in records:
            self.handled[record.partition] = max(
                record.offset, self.handled.get(record.partition, -1)
            )
        return outcome

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        await self._handler.caught_up(topic, partitions)


@dataclass
class Consumers:
    settings: LrsSettings
    triggers: list[tuple[Runner, asyncio.Task[None]]]
    organisation: Watched

    async def stop_triggers(self) -> None:
        """Stop the three trigger consumers, then wait until organisation-progress has handled
        every trigger they produced for the tenant (all on one partition, in order: up to a
        last one sent now): from then on only its clock can trigger it."""
        for r, _ in self.triggers:
            r.stop_event.set()
        await asyncio.wait_for(asyncio.gather(*(t for _, t in self.triggers)), 30)
        kafka = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
        await kafka.start()
        try:
            last = organisation_change_message(TENANT, FIXED_NOW)
            sent = await kafka.send_and_wait(
                self.settings.topic(topics.ORGANISATION_CHANGES), last.value, key=last.key
            )
        finally:
            await kafka.stop()

        async def handled() -> int:
            return self.organisation.handled.get(sent.partition, -1)

        assert await eventually(handled, lambda n: n >= sent.offset, within=60) >= sent.offset


@contextlib.asynccontextmanager
async def goal_and_organisation_consumers(
    settings: LrsSettings, db: AsyncDatabase[Doc], clock: MovableClock
) -> AsyncIterator[Consumers]:
    """The goal consumers stay at FIXED_NOW (tests/integration/test_goals.py moves theirs), so
    that only the organisation consumer's own clock can notice midnight."""
    bus = goal_bus(settings)
    runners = await goal_runners(settings, db, fixed_clock, bus.publish)
    organisation = MongoOrganisationProgress(db)
    triggers = [  # as `lrs serve` builds them (what each trigger says of the learners)
        runner(settings, CONSUMERS[name].topic, CONSUMERS[name].build(db, settings))
        for name in ("organisation-learners", "organisation-teams", "organisation-goals")
    ]
    options = clocked_options(settings)
    handler = OrganisationProgressHandler(organisation, clock, bus.publish, options=options)
    watched = Watched(handler)
    runners += [runner(settings, topics.ORGANISATION_CHANGES, watched, linger_ms=100)]
    try:
        async with running(runners), running(triggers) as trigger_tasks:
            yield Consumers(settings, list(zip(triggers, trigger_tasks, strict=True)), watched)
    finally:
        await bus.stop()


# --- the independent recomputation ------------------------------------------------------------


async def recomputed(db: AsyncDatabase[Doc], now: datetime) -> Doc:
    """The organisation's value from scratch: the stored statements (voids applied) folded per
    learner, days from their timestamps, members from the registry and the statements' teams,
    goal statuses from the definitions (at FIXED_NOW, the goal consumers' time)."""
    statements = await stored_statements(db, TENANT)
    registry = {d["team"]: d async for d in db["teams"].find({"tenant": TENANT})}
    members_of = {team: set(d.get("members") or ()) for team, d in registry.items()}
    voids = [s for s in statements if voided_target(s) is not None]
    voided = {voided_target(s) for s in voids}
    live = [s for s in statements if voided_target(s) is None and s["id"] not in voided]
    learners = {learner_id(s) for s in statements if voided_target(s) is None}
    figures = []
    states = {}
    for learner in sorted(learners):
        mine = [s for s in statements if voided_target(s) is None and learner_id(s) == learner]
        states[learner] = fold(learner, mine + voids)
        summary = summarize_learner(
            states[learner], now.date(), registry_teams=registry_teams_for(learner, members_of)
        )
        days = {
            parse_timestamp(s["timestamp"]).astimezone(UTC).date()
            for s in live
            if learner_id(s) == learner
        }
        figures.append(figures_of(learner, days, summary["activities"], summary["teams"]))
    teams = team_entries(
        [(t, d.get("name"), sorted(members_of[t])) for t, d in registry.items()], figures
    )
    goals = await recomputed_goals(db, states, members_of, figures, FIXED_NOW)
    value = summarize_organisation_progress(figures, teams, goals, now)
    return {**value, "tenant": TENANT}


async def recomputed_goals(
    db: AsyncDatabase[Doc],
    states: dict[str, Any],
    registry: dict[str, set[str]],
    figures: list[LearnerFigures],
    now: datetime,
) -> list[Doc]:
    values = []
    async for doc in db["goals"].find({"tenant": TENANT}):
        goal = goal_from_doc(doc)
        if goal.owner.kind == "learner":
            members = {goal.owner.id or ""}
        elif goal.owner.kind == "team":
            team = goal.owner.id or ""
            members = set(registry.get(team, ())) | {f.learner for f in figures if team in f.teams}
        else:
            members = set(states) | {m for ms in registry.values() for m in ms}
        values.append(evaluate_goal(goal, {m: states.get(m) for m in members}, now))
    return values


def comparable(value: Doc) -> Doc:
    return {k: v for k, v in value.items() if k not in ("as_of", "version")}


def differences(expected: Doc, got: Doc | None) -> list[str]:
    if got is None:
        return ["no value"]
    left, right = comparable(expected), comparable(got)
    return [
        f"{k}: {right.get(k)!r} != {left.get(k)!r}"
        for k in left | right
        if left.get(k) != right.get(k)
    ]


async def rest_value(http: httpx.AsyncClient) -> Doc | None:
    answer = await http.get("/progress/organisation")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    body: Doc = answer.json()
    return body


async def converged(http: httpx.AsyncClient, db: AsyncDatabase[Doc], now: datetime) -> list[str]:
    return differences(await recomputed(db, now), await rest_value(http))


def held_recomputations() -> float:
    """Tenants organisation-progress has computed from the learners it held."""
    found = REGISTRY.get_sample_value("lrs_organisation_recomputations_total", {"read": "changed"})
    return found or 0.0


# --- the test ---------------------------------------------------------------------------------


def check_windows(value: Doc, today: date) -> None:
    """Sanity of the figures the recomputation and the consumer share a definition of."""
    assert value["active"]["today"] <= value["active"]["7d"] <= value["active"]["30d"]
    assert value["active"]["30d"] <= value["learners"]
    assert value["next_check_at"].startswith((today + timedelta(days=1)).isoformat())


async def test_organisation_progress_equals_the_recomputation_and_streams_its_changes(
    settings: LrsSettings,
) -> None:
    clock = MovableClock(FIXED_NOW)
    workload = Workload(seed=2026, learners=12).build(120)
    async with (
        database(settings) as db,
        live_api(settings) as base,
        httpx.AsyncClient(base_url=base, headers=H, timeout=30) as http,
        running_persister(settings),
        running_progress(settings, db),
        goal_and_organisation_consumers(settings, db, clock) as consumers,
    ):
        for goal in GOALS:
            answer = await http.post("/goals", json=goal)
            assert answer.status_code == 201, answer.text
        await post_workload(http, db, settings, workload, H, TENANT)
        assert await eventually(lambda: converged(http, db, clock.now), within=180) == []
        before = await rest_value(http)
        assert before is not None
        assert before["learners"] > 5
        assert before["courses"]
        assert before["teams"]
        assert before["goals"]["organisation"] != dict.fromkeys(before["goals"]["organisation"], 0)
        check_windows(before, clock.now.date())

        stream_request = http.build_request("GET", "/progress/organisation/stream")
        stream = await http.send(stream_request, stream=True)
        assert stream.status_code == 200
        events = SseReader(stream)
        snapshot = await events.next_named("organisation-progress")
        assert snapshot.data is not None
        assert snapshot.data["version"] >= before["version"]

        # a void of a counted statement and a membership change, through the API: a change of
        # one learner of twelve, computed from the learners held (docs/decisions/0034)
        from_held = held_recomputations()
        statements = await stored_statements(db, TENANT)
        target = next(s for s in statements if voided_target(s) is None and s["actor"] == agent(1))
        await post_statements(http, [voided_by_admin(target["id"])], H)
        created = await http.post("/teams", json={"name": "Newcomers"})
        assert created.status_code == 201, created.text
        team = created.json()["team"]
        joined = await http.put(f"/teams/{team}/members", json=[agent(2), agent(40)])
        assert joined.status_code == 200, joined.text
        assert await eventually(lambda: converged(http, db, clock.now), within=180) == []
        assert held_recomputations() > from_held
        value = await rest_value(http)
        assert value is not None
        (newcomers,) = [t for t in value["teams"] if t["team"] == team]
        assert (newcomers["name"], newcomers["members"]) == ("Newcomers", 2)
        changed = await events.next_named("organisation-progress")
        assert changed.data is not None
        assert changed.data["version"] > snapshot.data["version"]

        # midnight passes with no new statement and nothing else to trigger a recomputation:
        # the organisation consumer's clock moves the windows
        await consumers.stop_triggers()
        clock.now = datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC)
        assert await eventually(lambda: converged(http, db, clock.now), within=180) == []
        after = await rest_value(http)
        assert after is not None
        assert (value["active"]["today"] > 0, after["active"]["today"]) == (True, 0)
        check_windows(after, clock.now.date())
        moved = await events.next_named("organisation-progress")
        while moved.data is not None and moved.data["version"] < after["version"]:
            moved = await events.next_named("organisation-progress")
        assert moved.data == after
        await stream.aclose()

        expected = await recomputed(db, clock.now)
        published = await latest_per_key(settings, topics.ORGANISATION_PROGRESS)
        assert differences(expected, published.get(topics.organisation_key(TENANT))) == []
        stored = await db["progress_organisation"].find_one({"_id": TENANT})
        assert stored is not None
        assert differences(expected, {**stored["value"], "tenant": TENANT}) == []
