"""The team registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lrs.progress.registry import Team


class TeamRegistry(Protocol):
    """The team registry (`teams`). Writes are conditional on the version read before, so two
    concurrent changes of one team never lose each other."""

    async def get(self, tenant: str, team: str) -> Team | None: ...

    async def list_teams(self, tenant: str) -> list[Team]: ...

    async def teams_of(self, tenant: str, learner: str) -> list[str]:
        """Ids of the registry teams that list this learner."""
        ...

    async def teams_of_members(self, tenant: str, learners: Sequence[str]) -> dict[str, list[str]]:
        """`teams_of` for many learners in one read (learners no team lists are left out)."""
        ...

    async def create(self, team: Team) -> bool:
        """Insert; False (nothing written) when the team id exists in the tenant."""
        ...

    async def replace(self, expected_version: int, team: Team) -> bool:
        """Overwrite only if the stored version is `expected_version`."""
        ...

    async def delete(self, tenant: str, team: str) -> Team | None:
        """Delete; the deleted team, or None when there was none."""
        ...
