"""Goals in memory, for the API's unit tests (`lrs.ports.goals`). `InMemoryGoalStore` is held to
`MongoGoalStore` by tests/contract/test_goal_store.py; `InMemoryGoalProgressReader` is filled
directly by the tests that use it (no suite holds it to the MongoDB reader)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from lrs.goals import Goal


class InMemoryGoalStore:
    def __init__(self) -> None:
        self.goals: dict[tuple[str, str], Goal] = {}

    async def get(self, tenant: str, goal_id: str) -> Goal | None:
        return self.goals.get((tenant, goal_id))

    async def create(self, goal: Goal) -> bool:
        if (goal.tenant, goal.goal_id) in self.goals:
            return False
        self.goals[goal.tenant, goal.goal_id] = goal
        return True

    async def replace(self, expected_version: int, goal: Goal) -> bool:
        current = self.goals.get((goal.tenant, goal.goal_id))
        if current is None or current.version != expected_version:
            return False
        self.goals[goal.tenant, goal.goal_id] = goal
        return True

    async def list_goals(
        self, tenant: str, owner_key: str | None = None, *, archived: bool = False
    ) -> list[Goal]:
        return [
            g
            for (t, _), g in sorted(self.goals.items())
            if t == tenant
            and (owner_key is None or g.owner.key == owner_key)
            and (archived or not g.archived)
        ]

    async def goal_ids_for(self, tenant: str, owner_keys: Collection[str]) -> list[str]:
        return [
            g.goal_id
            for (t, _), g in sorted(self.goals.items())
            if t == tenant and g.owner.key in owner_keys and not g.archived
        ]


class InMemoryGoalProgressReader:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], dict[str, Any]] = {}
        self.teams: dict[tuple[str, str], set[str]] = {}  # (tenant, learner) -> teams

    async def read_progress_of(
        self, tenant: str, owner_keys: Collection[str]
    ) -> list[dict[str, Any]]:
        return [v for v in await self.read_progress(tenant, None) if _owner_key(v) in owner_keys]

    async def learner_teams(self, tenant: str, learner: str) -> set[str]:
        return set(self.teams.get((tenant, learner), ()))

    async def read_progress(self, tenant: str, owner_key: str | None) -> list[dict[str, Any]]:
        return [
            v
            for (t, _), v in sorted(self.values.items())
            if t == tenant and (owner_key is None or _owner_key(v) == owner_key)
        ]


def _owner_key(value: dict[str, Any]) -> str:
    owner = value["owner"]
    return "organisation" if owner["kind"] == "organisation" else f"{owner['kind']}:{owner['id']}"
