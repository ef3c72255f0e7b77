"""The TeamRegistry contract (lrs.ports.teams), run against the in-memory reference and the
MongoDB adapter on the real (embedded) store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lrs.adapters.memory_teams import InMemoryTeamRegistry
from lrs.adapters.mongo_teams import MongoTeamRegistry
from lrs.ports.teams import TeamRegistry
from lrs.progress.registry import Team
from tests.contract.conftest import KINDS, fresh_database

UPDATED = datetime(2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)  # milliseconds, as stores keep


def team(name: str, *members: str, tenant: str = "acme", version: int = 1) -> Team:
    names = {m: f"Learner {m}" for m in members[:1]}
    return Team(tenant, name, f"Team {name}", UPDATED, tuple(members), names, version)


@pytest.fixture(params=KINDS)
async def registry(request: pytest.FixtureRequest) -> AsyncIterator[TeamRegistry]:
    if request.param == "memory":
        yield InMemoryTeamRegistry()
        return
    async with fresh_database(request) as db:
        store = MongoTeamRegistry(db)
        await store.create_indexes()
        yield store


async def test_a_created_team_reads_back_whole_and_once(registry: TeamRegistry) -> None:
    sales = team("sales", "mbox:mailto:a@x.org", "mbox:mailto:b@x.org")
    assert await registry.create(sales)
    assert not await registry.create(team("sales", "mbox:mailto:c@x.org"))
    assert await registry.get("acme", "sales") == sales
    assert await registry.get("other", "sales") is None


async def test_teams_are_listed_by_id_per_tenant(registry: TeamRegistry) -> None:
    for created in (team("b"), team("a"), team("c", tenant="other"), team("registry:z")):
        await registry.create(created)
    assert [t.team for t in await registry.list_teams("acme")] == ["a", "b", "registry:z"]
    assert [t.team for t in await registry.list_teams("other")] == ["c"]
    assert await registry.list_teams("nobody") == []


async def test_a_learners_teams_one_or_many_at_once(registry: TeamRegistry) -> None:
    await registry.create(team("t2", "ann", "bob"))
    await registry.create(team("t1", "ann"))
    await registry.create(team("t3", "ann", tenant="other"))
    assert await registry.teams_of("acme", "ann") == ["t1", "t2"]
    assert await registry.teams_of("acme", "cat") == []
    found = await registry.teams_of_members("acme", ["ann", "bob", "cat"])
    assert found == {"ann": ["t1", "t2"], "bob": ["t2"]}
    assert await registry.teams_of_members("acme", []) == {}


async def test_replacing_needs_the_version_read(registry: TeamRegistry) -> None:
    await registry.create(team("t1", "ann"))
    changed = team("t1", "ann", "bob", version=2)
    assert not await registry.replace(2, replace(changed, version=3))
    assert await registry.replace(1, changed)
    assert not await registry.replace(1, replace(changed, name="lost", version=2))
    assert await registry.get("acme", "t1") == changed
    assert await registry.teams_of("acme", "bob") == ["t1"]
    assert not await registry.replace(1, team("unknown", version=2))
    assert await registry.get("acme", "unknown") is None


async def test_deleting_returns_the_deleted_team(registry: TeamRegistry) -> None:
    await registry.create(team("t1", "ann"))
    assert await registry.delete("acme", "t1") == team("t1", "ann")
    assert await registry.delete("acme", "t1") is None
    assert await registry.get("acme", "t1") is None
    assert await registry.teams_of("acme", "ann") == []
