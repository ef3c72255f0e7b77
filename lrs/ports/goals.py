"""Goals (the source of truth, `goals`) and the goal progress the goal consumer derives."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from lrs.goals import Goal


class GoalStore(Protocol):
    async def get(self, tenant: str, goal_id: str) -> Goal | None: ...
    async def create(self, goal: Goal) -> bool: ...
    async def replace(self, expected_version: int, goal: Goal) -> bool: ...
    async def list_goals(
        self, tenant: str, owner_key: str | None = None, *, archived: bool = False
    ) -> list[Goal]: ...


class GoalProgressReader(Protocol):
    async def read_progress(self, tenant: str, owner_key: str | None) -> list[dict[str, Any]]:
        """The stored progress values (with `version`) of the tenant's goals of one owner
        (every owner when None)."""
        ...

    async def read_progress_of(
        self, tenant: str, owner_keys: Collection[str]
    ) -> list[dict[str, Any]]:
        """The same, of the goals of any of these owners."""
        ...

    async def learner_teams(self, tenant: str, learner: str) -> set[str]:
        """The learner's teams by the membership rule goal progress counts members with."""
        ...
