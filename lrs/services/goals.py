"""Goals of a learner, a team or the organisation: create, change, archive, list, and read
their progress (docs/goals.md, docs/decisions/0019-goals.md). Tenant-scoped by the caller.

Every change is written to `goals` (the source of truth) and then published: the definition on
the compacted `lrs.goals` (schemas/events/goal.v1.json) and a "recompute this goal" trigger on
`lrs.progress.goal-changes` for the goal-progress consumer. When the broker does not acknowledge,
the request fails with 503 although the goal was written: PUT of the same definition (or
archiving again) re-publishes both, so the client's retry heals the topics.

Scopes: reading goals and goal progress needs what reading progress needs (`statements/read`,
`all/read` or `all`); creating, changing and archiving needs `define` (or `all`), the scope the
team registry asks for: goals are definitions an administrator of learning sets, like teams.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from lrs import topics
from lrs.goals import Goal, parse_goal, validate_goal_id
from lrs.goals.learner import (
    GOAL_REMOVED,
    for_learner,
    owner_key_of,
    owner_keys_of,
    removed_event,
    validate_learner_id,
)
from lrs.goals.model import parse_owner_key
from lrs.ports.credentials import Principal
from lrs.ports.events import EventBus, OutgoingMessage
from lrs.ports.goals import GoalProgressReader, GoalStore
from lrs.services.auth import authorize
from lrs.services.progress import (
    ProgressDeps,
    StreamEvent,
    Watches,
    authorize_read,
    follow_hub,
)
from lrs.services.progress_hub import ALL_GOALS, Change
from lrs.xapi.errors import Conflict, NotFound
from lrs.xapi.timefmt import format_timestamp

WRITE_SCOPE = "define"
MAX_ATTEMPTS = 32
SOURCE = "lrs-api"
GOAL_EVENT = "goal-progress"


@dataclass(frozen=True)
class GoalDeps:
    store: GoalStore
    progress: GoalProgressReader
    bus: EventBus
    clock: Callable[[], datetime]
    goals_topic: str
    changes_topic: str
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex


async def create_goal(deps: GoalDeps, who: Principal, body: object) -> tuple[Goal, bool]:
    """POST /goals: a new goal (its id from the body, or a new one). An existing id with the
    same definition is a harmless retry (published again); another definition is a 409."""
    authorize(who, WRITE_SCOPE)
    now = deps.clock()
    goal = replace(parse_goal(body, who.tenant, now.date(), default_id=deps.new_id()), updated=now)
    if await deps.store.create(goal):
        await publish(deps, goal)
        return goal, True
    existing = await deps.store.get(who.tenant, goal.goal_id)
    if existing is None or not _same_definition(existing, goal):
        raise Conflict(f"goal {goal.goal_id!r} already exists; PUT /goals/{{goalId}} changes it")
    await publish(deps, existing)
    return existing, False


async def put_goal(deps: GoalDeps, who: Principal, goal_id: str, body: object) -> tuple[Goal, bool]:
    """PUT /goals/{goalId}: create or replace the definition (an archived goal is revived)."""
    authorize(who, WRITE_SCOPE)
    validate_goal_id(goal_id)
    for _ in range(MAX_ATTEMPTS):
        now = deps.clock()
        wanted = replace(parse_goal(body, who.tenant, now.date(), goal_id), updated=now)
        current = await deps.store.get(who.tenant, goal_id)
        if current is None:
            if await deps.store.create(wanted):
                await publish(deps, wanted)
                return wanted, True
            continue
        if _same_definition(current, wanted) and not current.archived:
            await publish(deps, current)
            return current, False
        changed = replace(wanted, version=current.version + 1)
        if await deps.store.replace(current.version, changed):
            await publish(deps, changed)
            return changed, False
    raise Conflict(f"goal {goal_id!r} is being changed concurrently; try again")


async def archive_goal(deps: GoalDeps, who: Principal, goal_id: str) -> Goal:
    """POST /goals/{goalId}/archive: the goal stays readable, its progress stops changing."""
    authorize(who, WRITE_SCOPE)
    for _ in range(MAX_ATTEMPTS):
        current = await _existing(deps, who, goal_id)
        if current.archived:
            await publish(deps, current)
            return current
        archived = replace(
            current, archived=True, version=current.version + 1, updated=deps.clock()
        )
        if await deps.store.replace(current.version, archived):
            await publish(deps, archived)
            return archived
    raise Conflict(f"goal {goal_id!r} is being changed concurrently; try again")


async def list_goals(
    deps: GoalDeps, who: Principal, owner: str | None, *, archived: bool = False
) -> list[Goal]:
    """GET /goals[?owner=learner:<id>|team:<id>|organisation][&archived=true]."""
    authorize_read(who)
    key = parse_owner_key(owner).key if owner is not None else None
    return await deps.store.list_goals(who.tenant, key, archived=archived)


async def get_goal(deps: GoalDeps, who: Principal, goal_id: str) -> Goal:
    authorize_read(who)
    return await _existing(deps, who, goal_id)


async def goal_progress(deps: GoalDeps, who: Principal, owner: str | None) -> list[dict[str, Any]]:
    """GET /progress/goals[?owner=...]: the goal-progress consumer's last values."""
    authorize_read(who)
    key = parse_owner_key(owner).key if owner is not None else None
    return await deps.progress.read_progress(who.tenant, key)


async def learner_goal_progress(
    deps: GoalDeps, who: Principal, learner: str
) -> list[dict[str, Any]]:
    """GET /progress/goals?learner=...: the goals that apply to the learner (their own, their
    teams', the organisation's), each with its `learner` block (lrs.goals.learner)."""
    authorize_read(who)
    return (await _learner_values(deps, who.tenant, validate_learner_id(learner)))[1]


async def _learner_values(
    deps: GoalDeps, tenant: str, learner: str
) -> tuple[set[str], list[dict[str, Any]]]:
    """The owner keys of the goals that apply to the learner now, and those goals' values."""
    keys = owner_keys_of(learner, await deps.progress.learner_teams(tenant, learner))
    values = await deps.progress.read_progress_of(tenant, keys)
    return keys, [for_learner(v, learner) for v in values]


async def _existing(deps: GoalDeps, who: Principal, goal_id: str) -> Goal:
    goal = await deps.store.get(who.tenant, validate_goal_id(goal_id))
    if goal is None:
        raise NotFound(f"no goal {goal_id!r}")
    return goal


def _same_definition(a: Goal, b: Goal) -> bool:
    ignored = ("version", "archived", "updated")
    left, right = a.as_json(), b.as_json()
    return {k: v for k, v in left.items() if k not in ignored} == {
        k: v for k, v in right.items() if k not in ignored
    }


def goal_messages(goal: Goal, now: datetime) -> tuple[OutgoingMessage, OutgoingMessage]:
    """The `lrs.goals` record (the definition) and the goal-progress trigger."""
    key = topics.goal_key(goal.tenant, goal.goal_id)
    definition = _message(key, goal.as_json(), topics.GOAL_TYPE, goal, now)
    trigger = goal_change_message(goal.tenant, goal.goal_id, now)
    return definition, trigger


def goal_change_message(
    tenant: str, goal_id: str, now: datetime, source: str = SOURCE
) -> OutgoingMessage:
    """A trigger: "recompute this goal" (value `{tenant, goal}`, keyed like the goal)."""
    value = {"tenant": tenant, "goal": goal_id}
    return OutgoingMessage(
        topics.goal_key(tenant, goal_id),
        orjson.dumps(value),
        _headers(topics.GOAL_CHANGED_TYPE, tenant, now, uuid.uuid4().hex, source),
    )


def _message(
    key: bytes, value: dict[str, Any], kind: str, goal: Goal, now: datetime
) -> OutgoingMessage:
    ce_id = f"{goal.tenant}/{goal.goal_id}/{goal.version}"
    return OutgoingMessage(
        key, orjson.dumps(value), _headers(kind, goal.tenant, now, ce_id, SOURCE)
    )


def _headers(
    kind: str, tenant: str, now: datetime, ce_id: str, source: str
) -> Sequence[tuple[str, bytes]]:
    return topics.cloud_event_headers(kind, source, tenant, ce_id, format_timestamp(now))


async def publish(deps: GoalDeps, goal: Goal) -> None:
    """The definition first, then the trigger (the consumer reads the store, not the record)."""
    definition, trigger = goal_messages(goal, deps.clock())
    await deps.bus.publish(deps.goals_topic, [definition])
    await deps.bus.publish(deps.changes_topic, [trigger])


# ---------------------------------------------------------------------------------- streaming


def open_goal_stream(
    deps: GoalDeps, live: ProgressDeps, who: Principal, owner: str | None
) -> AsyncIterator[StreamEvent]:
    """`GET /progress/goals/stream[?owner=...]`: a `goal-progress` event per goal of the owner
    (every goal of the tenant without one) now, then one per change, with keep-alive comments.
    Subscribes before reading the snapshot and drops a change not newer (`version`) than what
    was sent for its goal, so nothing in between is lost or sent twice. Events carry no id: a
    reconnect gets the snapshot again. Authorization is checked now, before the response."""
    authorize_read(who)
    key = parse_owner_key(owner).key if owner is not None else None
    sent: dict[str, int] = {}

    async def snapshot() -> list[StreamEvent]:
        values = await deps.progress.read_progress(who.tenant, key)
        return _progress_events(values, sent) or [_quiet(sent)]

    async def on_change(item: Change) -> list[StreamEvent]:
        return _progress_events([item.value], sent)

    return follow_hub(live, (who.tenant, [("goal", [key or ALL_GOALS])]), snapshot, on_change)


def _progress_events(
    values: Sequence[Mapping[str, Any]], sent: dict[str, int]
) -> list[StreamEvent]:
    return [StreamEvent(GOAL_EVENT, v) for v in values if _newer(v, sent)]


def _quiet(sent: Mapping[str, int]) -> StreamEvent:
    return StreamEvent(comment="no goal progress yet" if not sent else "up to date")


def _newer(value: Mapping[str, Any], sent: dict[str, int]) -> bool:
    """True (and remembered) when the value is newer than the last one sent for its goal."""
    goal, version = str(value.get("goalId")), value.get("version")
    version = version if isinstance(version, int) else 0
    if version and version <= sent.get(goal, 0):
        return False
    sent[goal] = version
    return True


def open_learner_goal_stream(
    deps: GoalDeps, live: ProgressDeps, who: Principal, learner: str
) -> AsyncIterator[StreamEvent]:
    """`GET /progress/goals/stream?learner=...`: the goals that apply to the learner, as
    `goal-progress` events with the `learner` block, following membership: the stream watches
    every goal of the tenant and the learner's progress; a change of the learner, or of a team
    goal (a registry member without statements joins or leaves through it), re-reads the
    learner's teams, and when they changed the applying goals are read again: a goal that now
    applies is sent, one that no longer does gets a `goal-removed` event (lrs.goals.learner)."""
    authorize_read(who)
    validate_learner_id(learner)
    view = _LearnerGoals(deps, who.tenant, learner)

    async def snapshot() -> list[StreamEvent]:
        return await view.resync() or [_quiet(view.sent)]

    watches: Watches = (who.tenant, [("goal", [ALL_GOALS]), ("learner", [learner])])
    return follow_hub(live, watches, snapshot, view.changed)


class _LearnerGoals:
    """What one learner's goal stream has sent: the owners that apply, each goal's version."""

    def __init__(self, deps: GoalDeps, tenant: str, learner: str) -> None:
        self.deps, self.tenant, self.learner = deps, tenant, learner
        self.keys: set[str] = set()
        self.sent: dict[str, int] = {}
        self.shown: dict[str, Mapping[str, Any]] = {}  # goal -> owner

    async def resync(self) -> list[StreamEvent]:
        """Removals of the goals that no longer apply, then every newer applying value."""
        self.keys, values = await _learner_values(self.deps, self.tenant, self.learner)
        current = {str(v.get("goalId")) for v in values}
        events = []
        for goal in sorted(set(self.shown) - current):
            data = removed_event(goal, self.shown.pop(goal), self.learner)
            self.sent.pop(goal, None)
            events.append(StreamEvent(GOAL_REMOVED, data))
        for value in values:
            self.shown[str(value.get("goalId"))] = value.get("owner") or {}
        return events + _progress_events(values, self.sent)

    async def changed(self, item: Change) -> list[StreamEvent]:
        owner = owner_key_of(item.value) if item.kind == "goal" else ""
        if item.kind == "learner" or owner.startswith("team:"):
            teams = await self.deps.progress.learner_teams(self.tenant, self.learner)
            if owner_keys_of(self.learner, teams) != self.keys:
                return await self.resync()
        if item.kind != "goal" or owner not in self.keys:
            return []
        self.shown[str(item.value.get("goalId"))] = item.value.get("owner") or {}
        return _progress_events([for_learner(item.value, self.learner)], self.sent)
