"""Progress: the state the progress consumers keep (`ProgressStore` and its roles, with
`LearnerDoc`, `TeamDoc`) and the progress the API reads (`ProgressReader`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from lrs.progress import LearnerState, StatementFacts


@dataclass(frozen=True, slots=True)
class LearnerProgressDoc:
    """One learner's stored progress (`progress_learners`, written by the progress consumer)."""

    learner: str
    state: Mapping[str, Any]  # LearnerState.to_dict(): as stored, or whole (`whole_learners`)
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

    async def learner(self, tenant: str, learner: str) -> LearnerProgressDoc | None:
        """As `learners`, for one."""
        ...

    async def learners(self, tenant: str, learners: Sequence[str]) -> dict[str, LearnerProgressDoc]:
        """The stored progress of those of `learners` that have any, the state as stored: its
        held facts and the tally of those sealed away (docs/decisions/0025), which is all a
        summary needs."""
        ...

    async def whole_learners(
        self, tenant: str, learners: Sequence[str]
    ) -> dict[str, LearnerProgressDoc]:
        """As `learners`, with every live fact in the state (the sealed ones put back, no
        `sealed` tally): what a view of a period needs."""
        ...

    async def team(self, tenant: str, team: str) -> TeamProgressDoc | None: ...

    async def summaries(self, tenant: str, limit: int) -> list[Mapping[str, Any]]:
        """The stored summaries of at most `limit` of the tenant's learners, the most recently
        changed first (the organisation overview)."""
        ...

    async def teams(self, tenant: str) -> list[TeamProgressDoc]:
        """Every team of the tenant with stored progress, its summary holding only its name."""
        ...


# --- the progress consumers' state ----------------------------------------------------------

CHUNK_FACTS = 500  # sealed facts per stored chunk at most (about 130 KB in MongoDB)


@dataclass(frozen=True)
class LearnerDoc:
    """One learner's progress state as the consumers keep it; version 0 means "not stored yet".
    Versions grow by one with every write (compare-and-set on the version read)."""

    tenant: str
    learner: str
    state: LearnerState
    teams: tuple[str, ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)
    version: int = 0
    # The teams the learner left with this version (so a re-run can still trigger them).
    teams_left: tuple[str, ...] = ()
    # Where the state's sealed facts are stored (`lrs.progress.model.seal`): the store's names
    # of their chunks, as read.
    chunks: tuple[str, ...] = ()
    # To write with this version: facts newly sealed, to store apart; `resealed`: the state was
    # unsealed and sealed again, so `sealing` replaces every chunk read.
    sealing: tuple[StatementFacts, ...] = ()
    resealed: bool = False

    @classmethod
    def empty(cls, tenant: str, learner: str) -> LearnerDoc:
        return cls(tenant, learner, LearnerState(learner))

    def successor(
        self,
        state: LearnerState,
        summary: Mapping[str, Any],
        teams: Iterable[str],
        *,
        sealing: Sequence[StatementFacts] = (),
        resealed: bool = False,
    ) -> LearnerDoc:
        teams = tuple(teams)
        left = tuple(sorted(set(self.teams) - set(teams)))
        return replace(
            self,
            state=state,
            summary=summary,
            teams=teams,
            version=self.version + 1,
            teams_left=left,
            sealing=tuple(sealing),
            resealed=resealed,
        )


@dataclass(frozen=True)
class TeamDoc:
    """One team's progress as the consumers keep it; version 0 means "not stored yet"."""

    tenant: str
    team: str
    summary: Mapping[str, Any] = field(default_factory=dict)
    members: tuple[str, ...] = ()
    version: int = 0


@dataclass(frozen=True, slots=True)
class LearnerSummary:
    """A learner's stored summary and teams, what a team's recomputation reads of it."""

    learner: str
    summary: Mapping[str, Any] | None
    teams: tuple[str, ...]


class RegistryMembership(Protocol):
    """The team registry as the progress consumers read it (deleted teams are left out)."""

    async def registry_teams_of(
        self, tenant: str, learners: Collection[str]
    ) -> dict[str, set[str]]:
        """The registry teams listing each learner (learners no team lists are left out)."""
        ...

    async def registry_members(self, tenant: str, teams: Collection[str]) -> dict[str, set[str]]:
        """The registry members of each team (teams not in the registry are left out)."""
        ...


class LearnerProgressState(RegistryMembership, Protocol):
    """What folding statements into learners' progress reads and writes
    (`consumers.progress.learner`)."""

    async def create_indexes(self) -> None: ...

    async def remember_voids(self, tenant: str, targets: Collection[str]) -> None:
        """Record ids that voiding statements targeted (idempotent)."""
        ...

    async def voided_among(self, tenant: str, ids: Collection[str]) -> set[str]:
        """Those of `ids` a voiding statement targeted (remembered before or now)."""
        ...

    async def owners_of(self, tenant: str, ids: Collection[str]) -> dict[str, str]:
        """The learner of each stored non-voiding statement among `ids`."""
        ...

    async def sealed_among(self, tenant: str, ids: Collection[str]) -> set[str]:
        """Those of the statement ids that some learner's stored chunks of sealed facts hold
        (a chunk a write left unreferenced may still answer: callers read the learner's own
        chunks next, `sealed_facts`)."""
        ...

    async def sealed_facts(self, doc: LearnerDoc) -> list[StatementFacts]:
        """The facts of the chunks a learner document refers to (`LearnerDoc.chunks`)."""
        ...

    async def load_learners(self, tenant: str, learners: Collection[str]) -> dict[str, LearnerDoc]:
        """The stored documents of those of `learners` that have one (a store may give the
        ones it kept from its last read or write: `stale_among` tells, `save_learners` refuses
        to write over another writer's change)."""
        ...

    async def stale_among(self, tenant: str, docs: Sequence[LearnerDoc]) -> set[str]:
        """The learners whose loaded document is no longer the stored one (another writer
        changed or deleted it since this store kept it); a store that keeps nothing answers
        none. Asked before documents loaded and left unchanged are published as current."""
        ...

    async def save_learners(self, docs: Sequence[LearnerDoc], updated: datetime) -> set[str]:
        """Compare-and-set each document on the version before its own (insert when that is
        0); return the learners whose write lost to a concurrent one (nothing written).

        A document's `sealing` facts are stored first, as new chunks; the written document
        refers to them and to the chunks it was read with (none when `resealed`). Chunks no
        written document refers to any more, and a lost write's new ones, are deleted."""
        ...


class TeamProgressState(RegistryMembership, Protocol):
    """What recomputing teams reads and writes (`consumers.progress.team`)."""

    async def create_indexes(self) -> None:
        """The indexes, and the learner documents' `links` where a database from before them
        lacks some (docs/decisions/0026): a team's learners are read by them."""
        ...

    async def learner_summaries(
        self, tenant: str, learners: Collection[str], teams: Collection[str]
    ) -> dict[str, LearnerSummary]:
        """Summaries and teams of the given learners and of every learner listing the teams."""
        ...

    async def learners_in_team(self, tenant: str, team: str) -> list[str]:
        """The learners whose stored progress lists the team."""
        ...

    async def load_teams(self, tenant: str, teams: Collection[str]) -> dict[str, TeamDoc]: ...

    async def save_teams(self, docs: Sequence[TeamDoc], updated: datetime) -> set[str]:
        """Compare-and-set, as `save_learners`; return the teams whose write lost."""
        ...


class ProgressStore(LearnerProgressState, TeamProgressState, Protocol):
    """Every role, plus what `lrs progress rebuild` needs: the stored statements, emptying the
    states, and walking every stored learner and team."""

    async def count_statements(self, tenant: str | None) -> int:
        """How many statements are stored (of one tenant, when given)."""
        ...

    def stored_statements(self, tenant: str | None) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Every stored statement (of one tenant, when given) with its tenant, in any order."""
        ...

    async def reset_learners(self, tenant: str | None) -> None:
        """Empty every learner's state (keeping its version: the next write increments it) and
        forget the void bookkeeping; a rebuild then refills both."""
        ...

    def iterate_learners(self, tenant: str | None) -> AsyncIterator[LearnerDoc]:
        """Every stored learner, in "<tenant>/<learner>" order, without its state (an empty one)."""
        ...

    def iterate_teams(self, tenant: str | None) -> AsyncIterator[TeamDoc]:
        """Every stored team, in "<tenant>/<team>" order."""
        ...

    async def tenants_and_teams(self, tenant: str | None) -> dict[str, set[str]]:
        """Every team named by a learner's progress or by the registry, by tenant."""
        ...
