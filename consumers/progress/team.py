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

from consumers.held import Trigger, merged_triggers
from consumers.progress.learner import Changes, Clock, comparable
from consumers.progress.members import (
    HeldMembers,
    Members,
    as_member,
    held_members,
    team_members,
)
from consumers.progress.messages import (
    MAX_VALUE_BYTES,
    LearnerRefresh,
    decode_team_change,
    team_message,
)
from consumers.runner import NoWatermarks, Outcome, Poison, Record
from lrs import topics
from lrs.metrics import TEAM_RECOMPUTATIONS
from lrs.ports.events import OutgoingMessage
from lrs.ports.progress import TeamDoc, TeamProgressState
from lrs.progress import summarize_team


class TeamProgress:
    """The one implementation of "recompute these teams" (consumer, rebuild)."""

    def __init__(
        self, store: TeamProgressState, clock: Clock, held: HeldMembers | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._held = held  # the members kept between triggers (the consumer's; never rebuild's)

    async def recompute(
        self, tenant: str, teams: Collection[str], triggers: Mapping[str, Trigger] | None = None
    ) -> list[TeamDoc]:
        """Recompute and store the teams' progress; return every team's current document,
        written now or already up to date (a re-run after the write publishes it again).
        `triggers` (the consumer's) may let a team be computed from the members held."""
        current: list[TeamDoc] = []
        pending = set(teams)
        while pending:
            done, lost = await self._attempt(tenant, pending, triggers or {})
            current += done
            pending = lost
        return sorted(current, key=lambda d: d.team)

    async def _attempt(
        self, tenant: str, teams: Collection[str], triggers: Mapping[str, Trigger]
    ) -> tuple[list[TeamDoc], set[str]]:
        existing = await self._store.load_teams(tenant, teams)
        registry = await self._store.registry_members(tenant, teams)
        now = self._clock()
        held = self._held_members(tenant, teams, triggers, existing, now)
        reread = {
            team: _to_read(registry.get(team, set()), held.get(team), triggers.get(team))
            for team in teams
        }
        cold = [team for team in teams if team not in held]
        wanted = set().union(*reread.values())
        read = await self._store.learner_summaries(tenant, wanted, cold)
        learners = {learner: as_member(s) for learner, s in read.items()}
        updated: list[TeamDoc] = []
        current: list[TeamDoc] = []
        members: dict[str, Members] = {}
        for team in sorted(teams):
            registered = registry.get(team, set())
            members[team] = team_members(
                team, registered, held.get(team, {}), learners, reread[team]
            )
            old = existing.get(team) or TeamDoc(tenant, team)
            new = _next(old, members[team], now)
            if new is not None:
                updated.append(new)
            else:
                current.append(old)
        lost = await self._store.save_teams(updated, now)
        done = [*current, *(d for d in updated if d.team not in lost)]
        self._remember(tenant, done, lost, triggers, members, now, held.keys())
        TEAM_RECOMPUTATIONS.labels("changed").inc(len(held.keys() - lost))  # (a lost write
        TEAM_RECOMPUTATIONS.labels("all").inc(len(set(cold) - lost))  # is counted once done)
        return done, lost

    def _held_members(
        self,
        tenant: str,
        teams: Collection[str],
        triggers: Mapping[str, Trigger],
        existing: Mapping[str, TeamDoc],
        now: datetime,
    ) -> dict[str, Members]:
        """The members held of the teams whose triggers all named their changed members and
        whose document is still the one they gave, unless they name half the members or more:
        the store reads learners by `_id` no faster than by the team's index (SecantusDB:
        about twice as slow per document, docs/decisions/0033)."""
        found: dict[str, Members] = {}
        for team in teams:
            trigger = triggers.get(team)
            if self._held is None or trigger is None or trigger.learners is None:
                continue
            version = existing[team].version if team in existing else 0
            held = self._held.values((tenant, team), version, now, trigger.partition)
            if held is not None and 2 * len(trigger.learners) < len(held):
                found[team] = held
        return found

    def _remember(
        self,
        tenant: str,
        done: Sequence[TeamDoc],
        lost: Collection[str],
        triggers: Mapping[str, Trigger],
        members: Mapping[str, Members],
        now: datetime,
        from_held: Collection[str],
    ) -> None:
        """Hold the members of the teams just computed (`from_held`: from members held)."""
        if self._held is None:
            return
        for team in lost:
            self._held.drop((tenant, team))
        for doc in done:
            trigger = triggers.get(doc.team)
            if trigger is not None:
                read_at = None if doc.team in from_held else now
                key = (tenant, doc.team)
                self._held.hold(key, trigger.partition, doc.version, members[doc.team], read_at)


def _to_read(registered: set[str], held: Members | None, trigger: Trigger | None) -> set[str]:
    """The members to read by id: the registered ones, or with members held, the ones the
    trigger names and the registered ones not held."""
    if held is None or trigger is None:
        return set(registered)
    return (registered - held.keys()) | (trigger.learners or frozenset())


def _next(old: TeamDoc, members: Members, now: datetime) -> TeamDoc | None:
    summaries = {m: (s.summary if s is not None else None) for m, s in members.items()}
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
    triggers, poison = decode_team_triggers(records)
    return {tenant: set(teams) for tenant, teams in triggers.items()}, poison


def decode_team_triggers(
    records: Sequence[Record],
) -> tuple[dict[str, dict[str, Trigger]], list[Poison]]:
    """Per tenant and team, what the batch's team-change triggers say, and the records that are
    not one. A team named by a plain trigger is to be read whole."""
    merged, poison = merged_triggers(records, _team_trigger)
    found: dict[str, dict[str, Trigger]] = {}
    for (tenant, team), trigger in merged.items():
        found.setdefault(tenant, {})[team] = trigger
    return found, poison


def _team_trigger(value: bytes | None) -> tuple[tuple[str, str], frozenset[str] | None]:
    tenant, team, learners = decode_team_change(value)
    return (tenant, team), learners


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
        held: HeldMembers | None = None,  # the members held between batches (a fresh holder)
    ) -> None:
        self._clock = clock
        self._prefix = prefix
        self._max_value_bytes = max_value_bytes  # LRS_PROGRESS_MAX_VALUE_BYTES
        self._store = store
        self._held = held if held is not None else held_members()
        self._teams = TeamProgress(store, clock, self._held)
        self._ready = False

    async def handle(self, records: Sequence[Record]) -> Outcome:
        if not self._ready:  # learners' links first: the members held are read by them
            await self._store.create_indexes()
            self._ready = True
        self._held.follow(records)
        triggers, poison = decode_team_triggers(records)
        for bad in poison:  # whatever it named is unknown
            self._held.drop_partition(bad.record.partition)
        current: list[TeamDoc] = []
        for tenant, teams in sorted(triggers.items()):
            current += await self._teams.recompute(tenant, teams.keys(), teams)
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
