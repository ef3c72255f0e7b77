"""The goal stream: snapshot of the owner's goals, then newer changes only, of its owner only
(through the hub's goal routing), with keep-alives; tenant isolation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from lrs.adapters.memory import InMemoryEventBus
from lrs.adapters.memory_goals import InMemoryGoalProgressReader, InMemoryGoalStore
from lrs.adapters.memory_teams import InMemoryProgressReader, InMemoryTeamRegistry
from lrs.goals.model import Owner
from lrs.ports.credentials import Principal
from lrs.ports.goals import GoalProgressDoc
from lrs.progress.registry import Team
from lrs.services.goals import GoalDeps, open_goal_stream, open_learner_goal_stream
from lrs.services.progress import ProgressDeps
from lrs.services.progress_hub import Change, ProgressHub

NOW = datetime(2026, 3, 1, tzinfo=UTC)
READER = Principal("acme", "k", frozenset({"statements/read"}), {})


def value(goal: str, owner: dict[str, Any], version: int, status: str) -> dict[str, Any]:
    return {"goalId": goal, "owner": owner, "version": version, "status": status}


TEAM = {"kind": "team", "id": "registry:sales"}
OTHER_TEAM = {"kind": "team", "id": "registry:ops"}


async def store(reader: InMemoryGoalProgressReader, goal: str, value: dict[str, Any]) -> None:
    """Write a goal's progress as the goal consumer does (its version is the value's)."""
    owner_key = Owner.from_json(value["owner"]).key
    doc = GoalProgressDoc("acme", goal, value, version=value["version"], owner_key=owner_key)
    assert await reader.progress.save([doc], NOW) == set()


async def member_of(reader: InMemoryGoalProgressReader, learner: str, *teams: str) -> None:
    """Make the registry list the learner in exactly these teams."""
    registry = reader.progress.progress.registry
    for team in {t.team for t in await registry.list_teams("acme")} - set(teams):
        await registry.delete("acme", team)
    for team in teams:
        await registry.create(Team("acme", team, team, NOW, (learner,)))


def parts() -> tuple[GoalDeps, ProgressDeps, InMemoryGoalProgressReader]:
    reader = InMemoryGoalProgressReader()
    hub = ProgressHub(8)
    goals = GoalDeps(
        InMemoryGoalStore(), reader, InMemoryEventBus(), lambda: NOW, "goals", "changes"
    )
    live = ProgressDeps(
        InMemoryProgressReader(),
        InMemoryTeamRegistry(),
        hub,
        lambda: NOW,
        b"secret",
        timedelta(minutes=5),
        keepalive_seconds=0.2,
    )
    return goals, live, reader


async def test_snapshot_then_newer_changes_of_the_owner_only() -> None:
    goals, live, reader = parts()
    await store(reader, "g1", value("g1", TEAM, 2, "on_track"))
    await store(reader, "g9", value("g9", OTHER_TEAM, 1, "on_track"))
    stream = open_goal_stream(goals, live, READER, "team:registry:sales")
    assert (await anext(stream)).retry_ms is not None
    first = await anext(stream)
    assert (first.event, first.data) == ("goal-progress", value("g1", TEAM, 2, "on_track"))

    def publish(tenant: str, goal: str, owner: dict[str, Any], version: int, status: str) -> None:
        doc = value(goal, owner, version, status)
        live.hub.publish(Change("goal", tenant, goal, version, doc))

    # the stream subscribed before its snapshot: what is published now is queued for it
    publish("acme", "g1", TEAM, 2, "on_track")  # not newer than the snapshot: dropped
    publish("acme", "g9", OTHER_TEAM, 2, "at_risk")  # another owner's goal
    publish("other", "g1", TEAM, 5, "missed")  # another tenant
    publish("acme", "g2", TEAM, 1, "not_started")  # a new goal of the owner
    publish("acme", "g1", TEAM, 3, "achieved")
    got = [await asyncio.wait_for(anext(stream), 5) for _ in range(2)]
    assert [(e.data or {}).get("goalId") for e in got] == ["g2", "g1"]
    assert (got[1].data or {})["status"] == "achieved"
    keepalive = await asyncio.wait_for(anext(stream), 5)
    assert keepalive.comment == "keep-alive"
    await stream.aclose()
    assert live.hub.subscribers == 0


async def test_without_owner_every_goal_of_the_tenant() -> None:
    goals, live, _ = parts()
    stream = open_goal_stream(goals, live, READER, None)
    await anext(stream)
    assert (await anext(stream)).comment == "no goal progress yet"
    doc = value("g9", OTHER_TEAM, 1, "at_risk")
    live.hub.publish(Change("goal", "acme", "g9", 1, doc))
    assert (await asyncio.wait_for(anext(stream), 5)).data == doc
    await stream.aclose()


LEARNER = "mbox:mailto:a@example.org"
OWN = {"kind": "learner", "id": LEARNER}
ORG = {"kind": "organisation"}


def team_value(
    goal: str, owner: dict[str, Any], version: int, meeting: list[str]
) -> dict[str, Any]:
    targets = [{"kind": "members", "met": False, "members_meeting": meeting}]
    return {
        **value(goal, owner, version, "on_track"),
        "members_meeting": meeting,
        "targets": targets,
    }


async def test_a_learners_stream_follows_their_teams() -> None:
    goals, live, reader = parts()
    await store(reader, "own", value("own", OWN, 1, "on_track") | {"targets": []})
    await store(reader, "org", team_value("org", ORG, 1, [LEARNER]))
    await store(reader, "g9", team_value("g9", OTHER_TEAM, 1, []))
    await store(reader, "g1", team_value("g1", TEAM, 1, []))
    await member_of(reader, LEARNER, "registry:sales")
    stream = open_learner_goal_stream(goals, live, READER, LEARNER)
    await anext(stream)
    first = [await anext(stream) for _ in range(3)]
    blocks = {(e.data or {})["goalId"]: (e.data or {})["learner"] for e in first}
    assert set(blocks) == {"own", "org", "g1"}
    assert (blocks["org"]["through"], blocks["org"]["meets"]) == ("organisation", True)
    assert (blocks["g1"]["through"], blocks["g1"]["meets"]) == ("team", False)

    # joins Ops: the next change of an Ops goal (its recomputation) brings it
    await member_of(reader, LEARNER, "registry:sales", "registry:ops")
    await store(reader, "g9", team_value("g9", OTHER_TEAM, 2, [LEARNER]))
    live.hub.publish(Change("goal", "acme", "g9", 2, team_value("g9", OTHER_TEAM, 2, [LEARNER])))
    joined = await asyncio.wait_for(anext(stream), 5)
    assert (joined.event, (joined.data or {})["goalId"]) == ("goal-progress", "g9")
    assert (joined.data or {})["learner"]["meets"] is True

    # leaves Sales: their progress changes, the Sales goal is removed
    await member_of(reader, LEARNER, "registry:ops")
    live.hub.publish(Change("learner", "acme", LEARNER, 7, {"teams": ["registry:ops"]}))
    removed = await asyncio.wait_for(anext(stream), 5)
    assert (removed.event, removed.data) == (
        "goal-removed",
        {"goalId": "g1", "owner": TEAM, "learner": LEARNER},
    )
    live.hub.publish(Change("goal", "acme", "g1", 2, team_value("g1", TEAM, 2, [])))
    assert (await asyncio.wait_for(anext(stream), 5)).comment == "keep-alive"
    await stream.aclose()
    assert live.hub.subscribers == 0
