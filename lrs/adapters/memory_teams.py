"""In-memory team registry and progress reader (`lrs.ports.teams`, `lrs.ports.progress`).

`InMemoryTeamRegistry` is held to `MongoTeamRegistry` by tests/contract/test_team_registry.py.
`InMemoryProgressReader` is filled directly by the tests that use it (`put_learner` and
`put_team` write as the progress consumers do) and held to `MongoProgressReader` by
tests/contract/test_progress_reader.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from lrs.ports.progress import LearnerProgressDoc, TeamProgressDoc
from lrs.progress import LearnerState, StatementFacts
from lrs.progress.model import unseal
from lrs.progress.registry import Team


class InMemoryTeamRegistry:
    def __init__(self) -> None:
        self.teams: dict[tuple[str, str], Team] = {}

    async def get(self, tenant: str, team: str) -> Team | None:
        return self.teams.get((tenant, team))

    async def list_teams(self, tenant: str) -> list[Team]:
        return [t for (ten, _), t in sorted(self.teams.items()) if ten == tenant]

    async def teams_of(self, tenant: str, learner: str) -> list[str]:
        return sorted(
            t.team for (ten, _), t in self.teams.items() if ten == tenant and learner in t.members
        )

    async def teams_of_members(self, tenant: str, learners: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for (ten, _), team in sorted(self.teams.items()):
            for learner in set(learners).intersection(team.members) if ten == tenant else ():
                found.setdefault(learner, []).append(team.team)
        return found

    async def create(self, team: Team) -> bool:
        if (team.tenant, team.team) in self.teams:
            return False
        self.teams[team.tenant, team.team] = team
        return True

    async def replace(self, expected_version: int, team: Team) -> bool:
        current = self.teams.get((team.tenant, team.team))
        if current is None or current.version != expected_version:
            return False
        self.teams[team.tenant, team.team] = team
        return True

    async def delete(self, tenant: str, team: str) -> Team | None:
        return self.teams.pop((tenant, team), None)


class InMemoryProgressReader:
    def __init__(self) -> None:
        self.learner_docs: dict[tuple[str, str], LearnerProgressDoc] = {}
        self.team_docs: dict[tuple[str, str], TeamProgressDoc] = {}
        # the facts sealed away from each learner's stored state (`to_dict()` form, by id)
        self.sealed_facts: dict[tuple[str, str], dict[str, Any]] = {}

    def put_learner(
        self, tenant: str, doc: LearnerProgressDoc, sealed: Mapping[str, Any] | None = None
    ) -> None:
        """Store a learner's progress (and the facts its state sealed away, by id); the latest
        stored is the most recently changed."""
        self.learner_docs.pop((tenant, doc.learner), None)
        self.learner_docs[tenant, doc.learner] = doc
        self.sealed_facts[tenant, doc.learner] = dict(sealed or {})

    def put_team(self, tenant: str, doc: TeamProgressDoc) -> None:
        self.team_docs[tenant, doc.team] = doc

    async def learner(self, tenant: str, learner: str) -> LearnerProgressDoc | None:
        return self.learner_docs.get((tenant, learner))

    async def learners(self, tenant: str, learners: Sequence[str]) -> dict[str, LearnerProgressDoc]:
        return {
            learner: doc
            for learner in learners
            if (doc := self.learner_docs.get((tenant, learner))) is not None
        }

    async def whole_learners(
        self, tenant: str, learners: Sequence[str]
    ) -> dict[str, LearnerProgressDoc]:
        found = await self.learners(tenant, learners)
        return {lr: self._whole(tenant, doc) for lr, doc in found.items()}

    def _whole(self, tenant: str, doc: LearnerProgressDoc) -> LearnerProgressDoc:
        sealed = self.sealed_facts.get((tenant, doc.learner)) or {}
        facts = [StatementFacts.from_dict(sid, f) for sid, f in sealed.items()]
        whole = unseal(LearnerState.from_dict(doc.state), facts)
        return dataclasses.replace(doc, state=whole.to_dict())

    async def team(self, tenant: str, team: str) -> TeamProgressDoc | None:
        return self.team_docs.get((tenant, team))

    async def summaries(self, tenant: str, limit: int) -> list[Mapping[str, Any]]:
        """In insertion order, latest first (the fake's "most recently changed")."""
        docs = [d for (ten, _), d in self.learner_docs.items() if ten == tenant and d.summary]
        return [d.summary for d in reversed(docs)][:limit]

    async def teams(self, tenant: str) -> list[TeamProgressDoc]:
        """Their summaries carry only the team's name (as MongoDB's projection)."""
        return [
            dataclasses.replace(d, summary={k: v for k, v in d.summary.items() if k == "name"})
            for (ten, _), d in sorted(self.team_docs.items())
            if ten == tenant
        ]
