"""Organisation progress (docs/decisions/0020-organisation-progress.md): the stored value per
tenant and the reads the organisation-progress consumer computes it from."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lrs.progress.organisation import LearnerFigures

# (team, name, members) of one registry team.
RegistryTeam = tuple[str, str | None, list[str]]


@dataclass(frozen=True)
class OrganisationDoc:
    """One tenant's stored value; version 0 means "not stored yet"."""

    tenant: str
    value: Mapping[str, Any] = field(default_factory=dict)
    version: int = 0
    next_check_at: datetime | None = None

    def published(self) -> dict[str, Any]:
        """The `lrs.progress.organisation` value and REST answer."""
        return {**self.value, "tenant": self.tenant, "version": self.version}


class OrganisationReader(Protocol):
    """What the API reads: GET /progress/organisation and the start of its stream."""

    async def read_organisation(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's stored value (`OrganisationDoc.published`), None before the first."""
        ...


class OrganisationProgressStore(Protocol):
    """What the organisation-progress consumer reads and writes."""

    async def create_indexes(self) -> None: ...
    async def load(self, tenant: str) -> OrganisationDoc: ...
    async def save(self, doc: OrganisationDoc, updated: datetime) -> bool:
        """Compare-and-set on the version it replaces; False when another write won."""
        ...

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Tenants whose value may have changed with the time by `now`, the longest due first."""
        ...

    async def learners(self, tenant: str) -> list[LearnerFigures]:
        """Every learner with progress: days of the stored state, summary rows, teams."""
        ...

    async def named_learners(self, tenant: str, learners: Collection[str]) -> list[LearnerFigures]:
        """Those of `learners` with progress, as `learners` gives them."""
        ...

    async def registry(self, tenant: str) -> list[RegistryTeam]:
        """(team, name, members) of every registry team not deleted."""
        ...

    async def goal_values(self, tenant: str) -> list[Mapping[str, Any]]: ...
