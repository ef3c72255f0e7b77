"""In-memory progress state: the reference fake of `lrs.ports.progress.ProgressStore`, held
to `lrs.adapters.mongo_progress.MongoProgressStore` by tests/contract/test_progress_store.py.

Like the MongoDB adapter it reads what others write: the statements (an
`InMemoryStatementStore`, the persister's) and the team registry (an `InMemoryTeamRegistry`,
the API's). Documents are kept as MongoDB would return them: the state goes through
`to_dict`/`from_dict` on every write. Sealed facts are kept in chunks by name, as the MongoDB
adapter keeps them (`progress_learner_facts`).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from lrs.adapters.memory import InMemoryStatementStore
from lrs.adapters.memory_teams import InMemoryTeamRegistry
from lrs.ports.progress import CHUNK_FACTS, LearnerDoc, LearnerSummary, TeamDoc
from lrs.progress import LearnerState, StatementFacts, learner_id, voided_target
from lrs.progress.model import unseal

Doc = TypeVar("Doc", LearnerDoc, TeamDoc)


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)


class InMemoryProgressStore:
    def __init__(
        self,
        statements: InMemoryStatementStore | None = None,
        registry: InMemoryTeamRegistry | None = None,
    ) -> None:
        self.statements = statements if statements is not None else InMemoryStatementStore()
        self.registry = registry if registry is not None else InMemoryTeamRegistry()
        self.learners: dict[tuple[str, str], LearnerDoc] = {}
        self.teams: dict[tuple[str, str], TeamDoc] = {}
        self._voids: set[tuple[str, str]] = set()
        # chunk name -> (tenant, learner, sealed facts)
        self.chunks: dict[str, tuple[str, str, list[StatementFacts]]] = {}
        self._names = itertools.count(1)

    async def create_indexes(self) -> None:
        return None

    # --- voids and statement owners -------------------------------------------------------

    async def remember_voids(self, tenant: str, targets: Collection[str]) -> None:
        self._voids.update((tenant, t) for t in targets)

    async def voided_among(self, tenant: str, ids: Collection[str]) -> set[str]:
        return {i for i in ids if (tenant, i) in self._voids}

    async def owners_of(self, tenant: str, ids: Collection[str]) -> dict[str, str]:
        found = await self.statements.get_many(tenant, list(ids))
        return {i: learner_id(s) for i, s in found.items() if voided_target(s) is None}

    # --- sealed facts -----------------------------------------------------------------------

    async def sealed_among(self, tenant: str, ids: Collection[str]) -> set[str]:
        held = {f.id for t, _, facts in self.chunks.values() if t == tenant for f in facts}
        return held & set(ids)

    async def sealed_facts(self, doc: LearnerDoc) -> list[StatementFacts]:
        return [f for name in doc.chunks if name in self.chunks for f in self.chunks[name][2]]

    async def whole_states(self, tenant: str, learners: Collection[str]) -> dict[str, LearnerState]:
        """The stored states of `learners` with their sealed facts back (what readers of every
        live fact need, as `lrs.adapters.mongo_progress.SealedFacts` gives them)."""
        found = await self.load_learners(tenant, learners)
        return {lr: unseal(d.state, await self.sealed_facts(d)) for lr, d in found.items()}

    # --- learners ---------------------------------------------------------------------------

    async def load_learners(self, tenant: str, learners: Collection[str]) -> dict[str, LearnerDoc]:
        return {
            learner: doc for learner in learners if (doc := self.learners.get((tenant, learner)))
        }

    async def stale_among(self, tenant: str, docs: Sequence[LearnerDoc]) -> set[str]:
        return set()  # a load is always a read of what is stored

    async def learner_summaries(
        self, tenant: str, learners: Collection[str], teams: Collection[str]
    ) -> dict[str, LearnerSummary]:
        return {
            doc.learner: LearnerSummary(doc.learner, doc.summary, doc.teams)
            for (t, learner), doc in self.learners.items()
            if t == tenant and (learner in learners or set(doc.teams) & set(teams))
        }

    async def learners_in_team(self, tenant: str, team: str) -> list[str]:
        return [d.learner for (t, _), d in self.learners.items() if t == tenant and team in d.teams]

    async def save_learners(self, docs: Sequence[LearnerDoc], updated: datetime) -> set[str]:
        stored, new = zip(*(self._with_chunks(d) for d in docs), strict=True) if docs else ((), ())
        lost = compare_and_set(self.learners, [((d.tenant, d.learner), d) for d in stored])
        for doc, names in zip(docs, new, strict=True):
            if doc.learner in lost:
                unused: Sequence[str] = names  # nothing refers to them
            else:
                unused = doc.chunks if doc.resealed else ()
            for name in unused:
                self.chunks.pop(name, None)
        return lost

    def _with_chunks(self, doc: LearnerDoc) -> tuple[LearnerDoc, list[str]]:
        """The document as stored, its new sealed facts stored in chunks it refers to, and the
        names of those chunks."""
        new = []
        for part in range(0, len(doc.sealing), CHUNK_FACTS):
            name = f"{doc.tenant}/{doc.learner}/{next(self._names)}"
            facts = list(doc.sealing[part : part + CHUNK_FACTS])
            self.chunks[name] = (doc.tenant, doc.learner, facts)
            new.append(name)
        chunks = (*(() if doc.resealed else doc.chunks), *new)
        stored = dataclasses.replace(
            doc, state=_round_trip(doc.state), chunks=chunks, sealing=(), resealed=False
        )
        return stored, new

    async def reset_learners(self, tenant: str | None) -> None:
        for key, doc in self.learners.items():
            if tenant in (None, doc.tenant):
                state = LearnerState(doc.learner)
                self.learners[key] = dataclasses.replace(doc, state=state, chunks=())
        self.chunks = {n: c for n, c in self.chunks.items() if tenant not in (None, c[0])}
        self._voids = {(t, i) for t, i in self._voids if tenant not in (None, t)}

    async def iterate_learners(self, tenant: str | None) -> AsyncIterator[LearnerDoc]:
        for doc in _in_id_order(self.learners, tenant):
            yield dataclasses.replace(doc, state=LearnerState(doc.learner))

    async def tenants_and_teams(self, tenant: str | None) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for doc in self.learners.values():
            if tenant in (None, doc.tenant):
                found.setdefault(doc.tenant, set()).update(doc.teams)
        for team in self.registry.teams.values():
            if tenant in (None, team.tenant):
                found.setdefault(team.tenant, set()).add(team.team)
        return found

    async def count_statements(self, tenant: str | None) -> int:
        return len(self.statements.stored_statements(tenant))

    async def stored_statements(
        self, tenant: str | None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        for found in self.statements.stored_statements(tenant):
            yield found

    # --- registry ---------------------------------------------------------------------------

    async def registry_teams_of(
        self, tenant: str, learners: Collection[str]
    ) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for team in self.registry.teams.values():
            for member in set(team.members) & set(learners) if team.tenant == tenant else ():
                found.setdefault(member, set()).add(team.team)
        return found

    async def registry_members(self, tenant: str, teams: Collection[str]) -> dict[str, set[str]]:
        registered = ((t, self.registry.teams.get((tenant, t))) for t in teams)
        return {t: set(team.members) for t, team in registered if team is not None}

    # --- teams ------------------------------------------------------------------------------

    async def load_teams(self, tenant: str, teams: Collection[str]) -> dict[str, TeamDoc]:
        return {team: doc for team in teams if (doc := self.teams.get((tenant, team)))}

    async def save_teams(self, docs: Sequence[TeamDoc], updated: datetime) -> set[str]:
        return compare_and_set(self.teams, [((d.tenant, d.team), d) for d in docs])

    async def iterate_teams(self, tenant: str | None) -> AsyncIterator[TeamDoc]:
        for doc in _in_id_order(self.teams, tenant):
            yield doc


def compare_and_set(
    stored: dict[tuple[str, str], V], writes: Sequence[tuple[tuple[str, str], V]]
) -> set[str]:
    """Write each document over the version before its own, or where there is none (as the
    MongoDB upsert on `{_id, version}` does); the keys (their names) of the writes that lost.
    Shared by the in-memory stores of derived progress (learners, teams, goals)."""
    lost: set[str] = set()
    for key, doc in writes:
        current = stored.get(key)
        if current is not None and current.version != doc.version - 1:
            lost.add(key[1])
            continue
        stored[key] = doc
    return lost


def _in_id_order(docs: Mapping[tuple[str, str], Doc], tenant: str | None) -> list[Doc]:
    """The documents (of one tenant, when given) in MongoDB's `_id` ("<tenant>/<name>") order."""
    chosen = [(f"{t}/{name}", doc) for (t, name), doc in docs.items() if tenant in (None, t)]
    return [doc for _, doc in sorted(chosen, key=lambda pair: pair[0])]


def _round_trip(state: LearnerState) -> LearnerState:
    return LearnerState.from_dict(state.to_dict())
