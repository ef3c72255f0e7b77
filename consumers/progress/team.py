"""Team progress: triggers on `lrs.progress.team-changes` -> `progress_teams` ->
`lrs.progress.team`; and registry records on `lrs.teams` -> learner-refresh triggers for the
members (on `lrs.statements.stored`) and a team trigger.

A trigger only says "recompute team T"; the handler reads the current truth each time: the
registry members (`teams`), the learners whose progress lists the team (`progress_learners.
teams`, which holds registry and statement teams) and their current summaries. Every change is
written before its trigger is produced, so the last computation after the last change is right,
whatever the order, duplicates or batching of the triggers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from consumers.progress.learner import Changes, Clock, comparable
from consumers.progress.messages import (
    MAX_VALUE_BYTES,
    LearnerRefresh,
    decode_team_ref,
    team_message,
)
from consumers.runner import NoWatermarks, Outcome, Poison, Record
from lrs import topics
from lrs.ports.events import OutgoingMessage
from lrs.ports.progress import LearnerSummary, TeamDoc, TeamProgressState
from lrs.progress import summarize_team


class TeamProgress:
    """The one implementation of "recompute these teams" (consumer, rebuild)."""

    def __init__(self, store: TeamProgressState, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def recompute(self, tenant: str, teams: Collection[str]) -> list[TeamDoc]:
        """Recompute and store the teams' progress; return every team's current document,
        written now or already up to date (a re-run after the write publishes it again)."""
        current: list[TeamDoc] = []
        pending = set(teams)
        while pending:
            done, lost = await self._attempt(tenant, pending)
            current += done
            pending = lost
        return sorted(current, key=lambda d: d.team)

    async def _attempt(self, tenant: str, teams: Collection[str]) -> tuple[list[TeamDoc], set[str]]:
        registry = await self._store.registry_members(tenant, teams)
        registered = {m for members in registry.values() for m in members}
        learners = await self._store.learner_summaries(tenant, registered, teams)
        existing = await self._store.load_teams(tenant, teams)
        now = self._clock()
        updated: list[TeamDoc] = []
        current: list[TeamDoc] = []
        for team in sorted(teams):
            members = registry.get(team, set()) | {
                learner for learner, d in learners.items() if team in d.teams
            }
            old = existing.get(team) or TeamDoc(tenant, team)
            new = _next(old, members, learners, now)
            if new is not None:
                updated.append(new)
            else:
                current.append(old)
        lost = await self._store.save_teams(updated, now)
        return [*current, *(d for d in updated if d.team not in lost)], lost


def _next(
    old: TeamDoc, members: set[str], learners: Mapping[str, LearnerSummary], now: datetime
) -> TeamDoc | None:
    summaries = {m: (learners[m].summary if m in learners else None) for m in members}
    summary = {**summarize_team(old.team, summaries, now), "tenant": old.tenant}
    ordered = tuple(sorted(members))
    if old.version and comparable(summary) == comparable(old.summary) and ordered == old.members:
        return None
    return TeamDoc(old.tenant, old.team, summary, ordered, old.version + 1)


def team_outputs(
    docs: Sequence[TeamDoc], now: datetime, prefix: str = "", max_value_bytes: int = MAX_VALUE_BYTES
) -> list[tuple[str, OutgoingMessage]]:
    return [(prefix + topics.TEAM_PROGRESS, team_message(d, now, max_value_bytes)) for d in docs]


def decode_team_refs(records: Sequence[Record]) -> tuple[dict[str, set[str]], list[Poison]]:
    """The teams named by team-reference records, per tenant, and the records that are not one."""
    refs: dict[str, set[str]] = {}
    poison: list[Poison] = []
    for record in records:
        try:
            tenant, team = decode_team_ref(record.value)
        except ValueError as exc:
            poison.append(Poison(record, exc))
            continue
        refs.setdefault(tenant, set()).add(team)
    return refs, poison


class TeamProgressHandler(NoWatermarks):
    """Runner handler of the `team-progress` consumer (reads `lrs.progress.team-changes`)."""

    name = "team-progress"

    def __init__(
        self,
        store: TeamProgressState,
        clock: Clock,
        *,
        prefix: str = "",
        max_value_bytes: int = MAX_VALUE_BYTES,
    ) -> None:
        self._clock = clock
        self._prefix = prefix
        self._max_value_bytes = max_value_bytes  # LRS_PROGRESS_MAX_VALUE_BYTES
        self._teams = TeamProgress(store, clock)

    async def handle(self, records: Sequence[Record]) -> Outcome:
        refs, poison = decode_team_refs(records)
        current: list[TeamDoc] = []
        for tenant, teams in sorted(refs.items()):
            current += await self._teams.recompute(tenant, teams)
        outputs = team_outputs(current, self._clock(), self._prefix, self._max_value_bytes)
        return Outcome(poison=poison, outputs=outputs)


class TeamRegistryHandler(NoWatermarks):
    """Runner handler of the `team-registry` consumer (reads `lrs.teams`, the registry changes
    the API publishes). It writes no progress itself: it asks for a refresh of every member,
    old and new (their `teams`), with a learner-refresh trigger on `lrs.statements.stored`
    keyed like the member's statements, so the one progress instance that owns the learner
    applies it and publishes the learner's values in version order; then it triggers the
    team's recomputation (each refreshed learner that changes triggers it again). The registry
    is read from the `teams` collection, never from the record, so a replayed old record cannot
    undo a change."""

    name = "team-registry"

    def __init__(self, store: TeamProgressState, clock: Clock, *, prefix: str = "") -> None:
        self._store = store
        self._clock = clock
        self._prefix = prefix

    async def handle(self, records: Sequence[Record]) -> Outcome:
        refs, poison = decode_team_refs(records)
        changes = Changes()
        for tenant, teams in sorted(refs.items()):
            members = await self._members(tenant, teams)
            changes.refreshes += [LearnerRefresh(tenant, learner) for learner in members]
            changes.teams |= {(tenant, team) for team in teams}
        return Outcome(poison=poison, outputs=changes.outputs(self._clock(), self._prefix))

    async def _members(self, tenant: str, teams: Collection[str]) -> list[str]:
        """The registry members of the teams now, and the learners whose progress lists them."""
        registry = await self._store.registry_members(tenant, teams)
        learners = {m for members in registry.values() for m in members}
        for team in teams:
            learners.update(await self._store.learners_in_team(tenant, team))
        return sorted(learners)
