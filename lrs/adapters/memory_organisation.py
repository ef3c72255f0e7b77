"""Organisation progress in memory: the reference fake of
`lrs.ports.organisation.OrganisationProgressStore` and `OrganisationReader`, held to
`lrs.adapters.mongo_organisation.MongoOrganisationProgress` and `MongoOrganisationReader` by
tests/contract/test_organisation_store.py.

Like the MongoDB adapter it reads what others write: the learners' progress and the team
registry (through an `InMemoryProgressStore`) and the goals' progress (through an
`InMemoryGoalProgress` reading the same learners).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from lrs.adapters.memory_goals import InMemoryGoalProgress
from lrs.ports.organisation import OrganisationDoc, RegistryTeam
from lrs.progress.organisation import LearnerFigures, learner_figures


class InMemoryOrganisationProgress:
    def __init__(self, goals: InMemoryGoalProgress | None = None) -> None:
        self.goals = goals if goals is not None else InMemoryGoalProgress()
        self.progress = self.goals.progress
        self.docs: dict[str, OrganisationDoc] = {}

    async def create_indexes(self) -> None:
        return None

    async def load(self, tenant: str) -> OrganisationDoc:
        return self.docs.get(tenant) or OrganisationDoc(tenant)

    async def save(self, doc: OrganisationDoc, updated: datetime) -> bool:
        """Over the version before its own, or where there is none (the MongoDB upsert)."""
        current = self.docs.get(doc.tenant)
        if current is not None and current.version != doc.version - 1:
            return False
        self.docs[doc.tenant] = dataclasses.replace(doc, value=dict(doc.value))
        return True

    async def read_organisation(self, tenant: str) -> dict[str, Any] | None:
        """lrs.ports.organisation.OrganisationReader: what the API answers."""
        doc = self.docs.get(tenant)
        return doc.published() if doc else None

    async def due(self, now: datetime, limit: int) -> list[str]:
        checks = [(d.next_check_at, d.tenant) for d in self.docs.values()]
        return [tenant for at, tenant in sorted(c for c in checks if c[0] and c[0] <= now)][:limit]

    async def learners(self, tenant: str) -> list[LearnerFigures]:
        return self._figures(tenant, None)

    async def named_learners(self, tenant: str, learners: Collection[str]) -> list[LearnerFigures]:
        return self._figures(tenant, set(learners))

    def _figures(self, tenant: str, wanted: set[str] | None) -> list[LearnerFigures]:
        return [
            learner_figures(d.state, d.summary.get("activities") or (), d.teams)
            for (t, learner), d in self.progress.learners.items()
            if t == tenant and (wanted is None or learner in wanted)
        ]

    async def registry(self, tenant: str) -> list[RegistryTeam]:
        teams = await self.progress.registry.list_teams(tenant)
        return [(t.team, t.name, list(t.members)) for t in teams]

    async def goal_values(self, tenant: str) -> list[Mapping[str, Any]]:
        return [d.value for (t, _), d in self.goals.docs.items() if t == tenant]
