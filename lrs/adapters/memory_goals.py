"""Goals in memory (`lrs.ports.goals`), each held to its MongoDB adapter by a contract suite:
`InMemoryGoalStore` (tests/contract/test_goal_store.py), `InMemoryGoalProgress`, the goal
consumers' store (test_goal_progress_store.py), and `InMemoryGoalProgressReader`, the API's
reads of that store (test_goal_progress_reader.py).

Like `MongoGoalProgress`, `InMemoryGoalProgress` reads what others write: the learners'
progress and the team registry, through the `InMemoryProgressStore` it is given."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from lrs.adapters.memory_progress import InMemoryProgressStore, compare_and_set
from lrs.goals import Goal
from lrs.ports.goals import GoalProgressDoc
from lrs.progress import LearnerState


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


class InMemoryGoalProgress:
    def __init__(self, progress: InMemoryProgressStore | None = None) -> None:
        self.progress = progress if progress is not None else InMemoryProgressStore()
        self.docs: dict[tuple[str, str], GoalProgressDoc] = {}

    async def create_indexes(self) -> None:
        return None

    async def load(self, tenant: str, goals: Collection[str]) -> dict[str, GoalProgressDoc]:
        return {goal: doc for goal in goals if (doc := self.docs.get((tenant, goal)))}

    async def save(self, docs: Sequence[GoalProgressDoc], updated: datetime) -> set[str]:
        stored = [
            dataclasses.replace(d, value=dict(d.value), members=tuple(d.members)) for d in docs
        ]
        return compare_and_set(self.docs, [((d.tenant, d.goal), d) for d in stored])

    async def goals_listing_any(self, tenant: str, learners: Collection[str]) -> list[str]:
        wanted = set(learners)
        return [
            d.goal for (t, _), d in self.docs.items() if t == tenant and wanted & set(d.members)
        ]

    async def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        due = [
            d for d in self.docs.values() if d.next_check_at is not None and d.next_check_at <= now
        ]
        due.sort(key=lambda d: d.next_check_at or now)
        return [(d.tenant, d.goal) for d in due][:limit]

    # The membership rule of goals (as MongoGoalProgress): a learner is a member of a team
    # when the registry lists them or their progress lists the team.

    async def team_members(self, tenant: str, team: str) -> set[str]:
        registered = self.progress.registry.teams.get((tenant, team))
        members = set(registered.members) if registered else set()
        return members | set(await self.progress.learners_in_team(tenant, team))

    async def learner_teams(self, tenant: str, learner: str) -> set[str]:
        teams = set(await self.progress.registry.teams_of(tenant, learner))
        doc = self.progress.learners.get((tenant, learner))
        return teams | set(doc.teams if doc else ())

    async def tenant_members(self, tenant: str) -> set[str]:
        members = {learner for t, learner in self.progress.learners if t == tenant}
        for team in await self.progress.registry.list_teams(tenant):
            members.update(team.members)
        return members

    async def states(self, tenant: str, learners: Collection[str]) -> dict[str, LearnerState]:
        return await self.progress.whole_states(tenant, learners)


class InMemoryGoalProgressReader:
    """What the API reads of goal progress: the goal consumers' store, as
    `MongoGoalProgressReader` reads `MongoGoalProgress`."""

    def __init__(self, progress: InMemoryGoalProgress | None = None) -> None:
        self.progress = progress if progress is not None else InMemoryGoalProgress()

    async def read_progress(self, tenant: str, owner_key: str | None) -> list[dict[str, Any]]:
        return self._published(tenant, None if owner_key is None else {owner_key})

    async def read_progress_of(
        self, tenant: str, owner_keys: Collection[str]
    ) -> list[dict[str, Any]]:
        return self._published(tenant, owner_keys)

    async def learner_teams(self, tenant: str, learner: str) -> set[str]:
        return await self.progress.learner_teams(tenant, learner)

    def _published(self, tenant: str, owner_keys: Collection[str] | None) -> list[dict[str, Any]]:
        """The tenant's goals (of these owners, when given) in goal id order."""
        return [
            doc.published()
            for (t, _), doc in sorted(self.progress.docs.items())
            if t == tenant and (owner_keys is None or doc.owner_key in owner_keys)
        ]
