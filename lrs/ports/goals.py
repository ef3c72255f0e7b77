"""Goals (the source of truth, `goals`) and the goal progress the goal consumer derives."""

from __future__ import annotations

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
