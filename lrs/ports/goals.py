"""Goals (the source of truth, `goals`) and the goal progress the goal consumer derives."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lrs.goals import Goal
from lrs.progress import LearnerState


@dataclass(frozen=True)
class GoalProgressDoc:
    """One goal's stored progress; version 0 means "not stored yet"."""

    tenant: str
    goal: str
    value: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    version: int = 0
    next_check_at: datetime | None = None
    owner_key: str = ""

    def published(self) -> dict[str, Any]:
        """The `lrs.progress.goal` value and REST answer: the value plus `version`."""
        return {**self.value, "version": self.version}


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


class GoalIndex(Protocol):
    """The goal consumers' reads of the goals: one goal, and the live goals of some owners."""

    async def get(self, tenant: str, goal_id: str) -> Goal | None: ...
    async def goal_ids_for(self, tenant: str, owner_keys: Collection[str]) -> list[str]: ...


class GoalProgressStore(Protocol):
    """The goal progress the goal consumer derives, and the member reads it derives it from."""

    async def create_indexes(self) -> None: ...
    async def load(self, tenant: str, goals: Collection[str]) -> dict[str, GoalProgressDoc]: ...
    async def save(self, docs: Sequence[GoalProgressDoc], updated: datetime) -> set[str]:
        """Compare-and-set each on the version it was read at; the goals whose write lost."""
        ...

    async def goals_listing_any(self, tenant: str, learners: Collection[str]) -> list[str]: ...
    async def due(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(tenant, goal) whose status may have changed with the time by `now`, the longest due
        first."""
        ...

    async def team_members(self, tenant: str, team: str) -> set[str]: ...
    async def tenant_members(self, tenant: str) -> set[str]: ...
    async def states(self, tenant: str, learners: Collection[str]) -> dict[str, LearnerState]: ...
