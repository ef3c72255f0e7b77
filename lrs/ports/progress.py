"""The progress the consumers derive, as the API reads it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class LearnerProgressDoc:
    """One learner's stored progress (`progress_learners`, written by the progress consumer)."""

    learner: str
    state: Mapping[str, Any]  # LearnerState.to_dict()
    summary: Mapping[str, Any]
    teams: Sequence[str]
    version: int


@dataclass(frozen=True, slots=True)
class TeamProgressDoc:
    """One team's stored progress (`progress_teams`, written by the progress consumer)."""

    team: str
    summary: Mapping[str, Any]
    members: Sequence[str]
    version: int


class ProgressReader(Protocol):
    """Reading the progress the consumers derived (the API never writes it)."""

    async def learner(self, tenant: str, learner: str) -> LearnerProgressDoc | None: ...

    async def learners(self, tenant: str, learners: Sequence[str]) -> dict[str, LearnerProgressDoc]:
        """The stored progress of those of `learners` that have any."""
        ...

    async def team(self, tenant: str, team: str) -> TeamProgressDoc | None: ...

    async def summaries(self, tenant: str, limit: int) -> list[Mapping[str, Any]]:
        """The stored summaries of at most `limit` of the tenant's learners, the most recently
        changed first (the organisation overview)."""
        ...

    async def teams(self, tenant: str) -> list[TeamProgressDoc]:
        """Every team of the tenant with stored progress."""
        ...
