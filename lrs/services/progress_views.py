"""Read-time views of progress: a learner's or a team's summary recomputed from the stored
learner states with `as_of` = now (docs/decisions/0007-progress-api-and-live-stream.md).

A team is read in two steps, so that a live stream can watch the learners before it reads
them: the roster (`read_roster`: the registry team and the stored team progress, two point
reads) names the candidate members; `read_candidates` then reads every candidate's progress in
one query and their registry teams in one more, whatever the size of the team.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lrs.ports.progress import LearnerProgressDoc, ProgressReader, TeamProgressDoc
from lrs.ports.teams import TeamRegistry
from lrs.progress.model import LearnerState, summarize_learner
from lrs.progress.registry import Team
from lrs.progress.team import summarize_team


class ProgressSource(Protocol):
    """The stores a view is read from (lrs.services.progress.ProgressDeps is one)."""

    @property
    def progress(self) -> ProgressReader: ...

    @property
    def registry(self) -> TeamRegistry: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...


def statement_teams(state: Mapping[str, Any]) -> set[str]:
    """Teams the learner's live statements name (context.team, contextGroups): its held facts'
    and those in the tally of its sealed facts (docs/decisions/0025)."""
    facts = state.get("facts") or {}
    sealed = (state.get("sealed") or {}).get("tally") or {}
    return {team for f in facts.values() for team in f.get("teams") or ()} | set(
        sealed.get("teams") or ()
    )


def learner_view(
    doc: LearnerProgressDoc, tenant: str, registry_teams: Sequence[str], now: datetime
) -> dict[str, Any]:
    state = LearnerState.from_dict(doc.state)
    summary = summarize_learner(state, now.date(), registry_teams=registry_teams)
    return {**summary, "tenant": tenant, "version": doc.version}


@dataclass(frozen=True, slots=True)
class Roster:
    """Who may be in a team: the registry team and the stored team progress, whose member list
    names the learners whose statements named the team (each re-checked on their state)."""

    registered: Team | None
    stored: TeamProgressDoc | None

    @property
    def listed(self) -> frozenset[str]:
        return frozenset(self.registered.members if self.registered else ())

    @property
    def candidates(self) -> list[str]:
        return sorted(self.listed | set(self.stored.members if self.stored else ()))

    @property
    def registry_version(self) -> int:
        return self.registered.version if self.registered else 0

    @property
    def exists(self) -> bool:
        return self.registered is not None or self.stored is not None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One candidate member as read or as last changed: its learner view (None: no progress
    yet) and whether its live statements name the team."""

    view: Mapping[str, Any] | None
    names_team: bool

    @property
    def version(self) -> int:
        return int(self.view["version"]) if self.view else 0


async def read_roster(source: ProgressSource, tenant: str, team: str) -> Roster:
    registered = await source.registry.get(tenant, team)
    return Roster(registered, await source.progress.team(tenant, team))


async def read_candidates(
    source: ProgressSource, tenant: str, team: str, learners: Collection[str], now: datetime
) -> dict[str, Candidate]:
    """The candidates' progress in one query and their registry teams in one more."""
    docs = await source.progress.learners(tenant, sorted(learners)) if learners else {}
    teams = await source.registry.teams_of_members(tenant, sorted(docs)) if docs else {}
    found = {
        learner: Candidate(
            learner_view(doc, tenant, teams.get(learner, []), now),
            team in statement_teams(doc.state),
        )
        for learner, doc in docs.items()
    }
    return {learner: found.get(learner, Candidate(None, False)) for learner in learners}


def members_of(roster: Roster, candidates: Mapping[str, Candidate]) -> list[str]:
    """Registry members + candidates whose live statements name the team."""
    listed = roster.listed
    return [
        m
        for m in roster.candidates
        if m in listed or (m in candidates and candidates[m].names_team)
    ]


@dataclass
class TeamView:
    """A team now: its summary (None when it has no members and no stored progress), its
    members' learner summaries, and the versions a stream cursor is made of."""

    team: str
    tenant: str
    name: str | None
    exists: bool
    members: list[str]
    names: Mapping[str, str]
    summary: dict[str, Any] | None
    learners: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    version: int = 0
    registry_version: int = 0

    def members_event(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "team": self.team,
            "name": self.name,
            "exists": self.exists,
            "members": [{"learner": m, "name": self.names.get(m)} for m in self.members],
            "version": self.registry_version,
        }


def assemble_team(
    tenant: str, team: str, roster: Roster, candidates: Mapping[str, Candidate], now: datetime
) -> TeamView:
    """The team from its roster and its candidates' views (pure)."""
    members = members_of(roster, candidates)
    learners = {m: view for m in members if (view := candidates[m].view) is not None}
    version = roster.stored.version if roster.stored else 0
    summary = None
    if members or roster.stored is not None:
        by_member: dict[str, Mapping[str, Any] | None] = {m: learners.get(m) for m in members}
        summary = {**summarize_team(team, by_member, now), "tenant": tenant, "version": version}
    registered = roster.registered
    if summary is not None and registered is not None:
        summary["name"] = registered.name  # the name an administrator gave wins over statements'
    return TeamView(
        team=team,
        tenant=tenant,
        name=registered.name if registered else None,
        exists=roster.exists,
        members=members,
        names=registered.names if registered else {},
        summary=summary,
        learners=learners,
        version=version,
        registry_version=roster.registry_version,
    )


async def team_view(source: ProgressSource, tenant: str, team: str, now: datetime) -> TeamView:
    """The team read now: four store queries whatever the number of members."""
    roster = await read_roster(source, tenant, team)
    candidates = await read_candidates(source, tenant, team, roster.candidates, now)
    return assemble_team(tenant, team, roster, candidates, now)
