"""Goal progress (docs/decisions/0019-goals.md): two consumers on the shared runner.

`goal-triggers` reads `lrs.progress.learner` (the learner's current value, published after every
change, refresh and registry change of the learner) and asks for the recomputation of every goal
that may count the learner: its own goals, the goals of the teams its value lists, the
organisation's goals, and the goals whose last computation listed it as a member (a team it
left). The asks are triggers on `lrs.progress.goal-changes`, keyed by tenant + goal, like the
API's after a goal changes.

`goal-teams` reads `lrs.teams` (registry changes) and triggers the changed teams' goals and the
organisation's: a registry member without statements has no learner value to announce them.

`goal-progress` reads those triggers. Each one only says "recompute goal G": the handler reads
the current truth (the definition in `goals`, the members from the registry and
`progress_learners`, their stored learner states, the clock) and evaluates the goal with the pure
lrs.goals; a changed value is written to `progress_goals` (compare-and-set on `version`) and the
goal's current value is published on `lrs.progress.goal` in any case (a re-run publishes again).
Every change is written before its trigger is produced, so the last computation after the last
change is right whatever the order, duplicates or batching of triggers.

The clock: every value says when its status would next change with no new statement
(`next_check_at`: the start, the at-risk crossing, the due date, the next recurring period),
stored beside it. While caught up, `goal-progress` looks every `LRS_GOALS_CLOCK_SECONDS` for
goals whose time has come and puts a trigger for each on its own topic; so a goal becomes
`missed` at its due date with no new statement, and the trigger goes through the same single
writer as any other.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import orjson

from consumers.clocked import DEFAULT_OPTIONS, Clock, ClockedHandler, ClockedOptions, Send
from consumers.progress.team import decode_team_refs
from consumers.runner import NoWatermarks, Outcome, Poison, Record
from lrs import topics
from lrs.goals import Goal, evaluate_goal
from lrs.ports.events import OutgoingMessage
from lrs.ports.goals import GoalIndex, GoalProgressDoc, GoalProgressStore
from lrs.services.goals import goal_change_message
from lrs.xapi.timefmt import format_timestamp, parse_timestamp


class EventBusPart(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None: ...


SOURCE = "/lrs/consumers/goals"


def decode_goal_ref(value: bytes | None) -> tuple[str, str]:
    """(tenant, goal) of a goal-change trigger; ValueError when it is not one."""
    doc = orjson.loads(value) if value else None
    if not isinstance(doc, Mapping):
        raise ValueError("value is not a JSON object")
    tenant, goal = doc.get("tenant"), doc.get("goal")
    if not isinstance(tenant, str) or not isinstance(goal, str) or not tenant or not goal:
        raise ValueError("value needs non-empty string `tenant` and `goal`")
    return tenant, goal


def _learner_ref(record: Record) -> tuple[str, str, list[str]] | None:
    """(tenant, learner, teams) of an `lrs.progress.learner` value. A tombstone (an erased
    learner, docs/erasure.md) has no teams: the goals whose last computation listed the learner
    are found from `progress_goals`. None for a record without a key."""
    if record.key is None:
        return None
    tenant, learner = topics.split_key(record.key)
    if record.value is None:
        return (tenant, learner, []) if tenant and learner else None
    doc = orjson.loads(record.value)
    if not isinstance(doc, Mapping) or not tenant or not learner:
        raise ValueError("not a learner progress value")
    teams = [t for t in doc.get("teams") or () if isinstance(t, str)]
    return tenant, learner, teams


class GoalTriggersHandler(NoWatermarks):
    """Runner handler of `goal-triggers` (reads `lrs.progress.learner`)."""

    name = "goal-triggers"

    def __init__(
        self, goals: GoalIndex, progress: GoalProgressStore, clock: Clock, *, prefix: str = ""
    ) -> None:
        self._goals = goals
        self._progress = progress
        self._clock = clock
        self._prefix = prefix

    async def handle(self, records: Sequence[Record]) -> Outcome:
        by_tenant: dict[str, dict[str, set[str]]] = {}
        poison: list[Poison] = []
        for record in records:
            try:
                ref = _learner_ref(record)
            except (ValueError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
                poison.append(Poison(record, exc))
                continue
            if ref is not None:
                tenant, learner, teams = ref
                by_tenant.setdefault(tenant, {}).setdefault(learner, set()).update(teams)
        now = self._clock()
        outputs: list[tuple[str, OutgoingMessage]] = []
        for tenant, learners in sorted(by_tenant.items()):
            for goal in sorted(await self._goals_of(tenant, learners)):
                message = goal_change_message(tenant, goal, now, SOURCE)
                outputs.append((self._prefix + topics.GOAL_CHANGES, message))
        return Outcome(poison=poison, outputs=outputs)

    async def _goals_of(self, tenant: str, learners: Mapping[str, set[str]]) -> set[str]:
        owners = {"organisation"}
        for learner, teams in learners.items():
            owners.add(f"learner:{learner}")
            owners.update(f"team:{team}" for team in teams)
        found = set(await self._goals.goal_ids_for(tenant, owners))
        found.update(await self._progress.goals_listing_any(tenant, learners))
        return found


class GoalTeamTriggersHandler(NoWatermarks):
    """Runner handler of `goal-teams` (reads `lrs.teams`, the registry changes): triggers the
    goals of each changed team and the organisation's goals. A registry member without
    statements has no learner progress (docs/decisions/0006), so `goal-triggers` alone would
    not see them join or leave; the registry is read by the recomputation, not from the
    record, so a replayed old record cannot undo a change."""

    name = "goal-teams"

    def __init__(self, goals: GoalIndex, clock: Clock, *, prefix: str = "") -> None:
        self._goals = goals
        self._clock = clock
        self._prefix = prefix

    async def handle(self, records: Sequence[Record]) -> Outcome:
        teams, poison = decode_team_refs(records)
        now = self._clock()
        outputs: list[tuple[str, OutgoingMessage]] = []
        for tenant, changed in sorted(teams.items()):
            owners = {"organisation", *(f"team:{team}" for team in changed)}
            for goal in sorted(await self._goals.goal_ids_for(tenant, owners)):
                message = goal_change_message(tenant, goal, now, SOURCE)
                outputs.append((self._prefix + topics.GOAL_CHANGES, message))
        return Outcome(poison=poison, outputs=outputs)


class GoalProgressHandler(ClockedHandler[tuple[str, str]]):
    """Runner handler of `goal-progress` (reads `lrs.progress.goal-changes`); its clock
    triggers the goals whose `next_check_at` has come (ClockedHandler)."""

    name = "goal-progress"
    trigger_topic = topics.GOAL_CHANGES

    def __init__(
        self,
        goals: GoalIndex,
        progress: GoalProgressStore,
        clock: Clock,
        send: Send,
        *,
        options: ClockedOptions = DEFAULT_OPTIONS,
    ) -> None:
        super().__init__(progress, clock, send, options)
        self._goals = goals
        self._progress = progress

    def trigger_message(self, ref: tuple[str, str], now: datetime) -> OutgoingMessage:
        tenant, goal = ref
        return goal_change_message(tenant, goal, now, SOURCE)

    async def handle(self, records: Sequence[Record]) -> Outcome:
        await self._ensure_indexes()
        refs: dict[str, set[str]] = {}
        poison: list[Poison] = []
        for record in records:
            try:
                tenant, goal = decode_goal_ref(record.value)
            except (ValueError, orjson.JSONDecodeError) as exc:
                poison.append(Poison(record, exc))
                continue
            refs.setdefault(tenant, set()).add(goal)
        current: list[GoalProgressDoc] = []
        for tenant, goals in sorted(refs.items()):
            current += await self.recompute(tenant, goals)
        now = self._clock()
        outputs = [(self._prefix + topics.GOAL_PROGRESS, goal_message(d, now)) for d in current]
        return Outcome(poison=poison, outputs=outputs)

    async def recompute(self, tenant: str, goals: Collection[str]) -> list[GoalProgressDoc]:
        """Recompute and store the goals' progress; every goal's current document (written
        now or already up to date). Goals without a definition are left out."""
        current: list[GoalProgressDoc] = []
        pending = set(goals)
        while pending:
            existing = await self._progress.load(tenant, pending)
            updated: list[GoalProgressDoc] = []
            for goal_id in sorted(pending):
                goal = await self._goals.get(tenant, goal_id)
                if goal is None:
                    continue
                old = existing.get(goal_id) or GoalProgressDoc(tenant, goal_id)
                new = await self._next(goal, old)
                (current if new is None else updated).append(old if new is None else new)
            lost = await self._progress.save(updated, self._clock())
            current += [d for d in updated if d.goal not in lost]
            pending = lost
        return sorted(current, key=lambda d: d.goal)

    async def _next(self, goal: Goal, old: GoalProgressDoc) -> GoalProgressDoc | None:
        members = await self._members(goal)
        states = await self._progress.states(goal.tenant, members)
        now = self._clock()
        value = evaluate_goal(goal, {m: states.get(m) for m in members}, now)
        if old.version and comparable(value) == comparable(old.value):
            return None
        due = value["next_check_at"]
        return GoalProgressDoc(
            goal.tenant,
            goal.goal_id,
            value,
            tuple(sorted(members)) if goal.owner.kind != "learner" else (),
            old.version + 1,
            parse_timestamp(due) if due else None,
            goal.owner.key,
        )

    async def _members(self, goal: Goal) -> set[str]:
        if goal.owner.kind == "learner":
            return {goal.owner.id or ""}
        if goal.owner.kind == "team":
            return await self._progress.team_members(goal.tenant, goal.owner.id or "")
        return await self._progress.tenant_members(goal.tenant)


def comparable(value: Mapping[str, Any]) -> dict[str, Any]:
    """A value without its evaluation time (a recomputation that changes nothing else is not a
    change)."""
    return {k: v for k, v in value.items() if k != "as_of"}


def goal_message(doc: GoalProgressDoc, now: datetime) -> OutgoingMessage:
    """The goal's `lrs.progress.goal` value (schemas/events/goal-progress.v1.json)."""
    ce_id = f"{doc.tenant}/{doc.goal}/{doc.version}"
    headers = topics.cloud_event_headers(
        topics.GOAL_PROGRESS_TYPE, SOURCE, doc.tenant, ce_id, format_timestamp(now)
    )
    key = topics.goal_key(doc.tenant, doc.goal)
    return OutgoingMessage(key, orjson.dumps(doc.published()), headers)


class LazyBus:
    """A bus made and started on its first publish (a consumer that never needs it never
    connects); `stop` stops it if it was."""

    def __init__(self, make: Callable[[], EventBusPart]) -> None:
        self._make = make
        self._bus: EventBusPart | None = None

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        if self._bus is None:
            bus = self._make()
            await bus.start()
            self._bus = bus
        await self._bus.publish(topic, messages)

    async def stop(self) -> None:
        if self._bus is not None:
            bus, self._bus = self._bus, None
            await bus.stop()
