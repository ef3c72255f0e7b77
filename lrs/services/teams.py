"""The team registry (docs/decisions/0007: team membership comes from a registry and from the
statements). Tenant-scoped by the caller's credential.

Every change is written to the registry (`teams`, the source of truth) and then published to
the compacted `lrs.teams` topic, whole (`schemas/events/team-registry.v1.json`), where the
progress consumers pick membership up. When the broker does not acknowledge, the request fails
with 503 although the registry was written: every operation is idempotent and re-publishes the
team's current state even when it changes nothing, so the client's retry heals the topic.

Scopes: reading needs one of all, all/read, statements/read, define; changing needs `define`
(or `all`): a team is a Group, and `define` is xAPI's scope for (re)defining Actors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import orjson

from lrs import topics
from lrs.ports.credentials import Principal
from lrs.ports.events import EventBus, OutgoingMessage
from lrs.ports.teams import TeamRegistry
from lrs.progress import registry as rules
from lrs.progress.registry import Team
from lrs.services.auth import authorize
from lrs.xapi.definitions import AgentSighting
from lrs.xapi.errors import Conflict, Forbidden, NotFound
from lrs.xapi.timefmt import format_timestamp

READ_SCOPES = frozenset({"all", "all/read", "statements/read", "define"})
WRITE_SCOPE = "define"
MAX_ATTEMPTS = 32
TEAM_REGISTRY_TYPE = "org.lrs.teams.registry.v1"
Change = Callable[[Team, datetime], Team]


@dataclass(frozen=True)
class TeamDeps:
    registry: TeamRegistry
    bus: EventBus
    clock: Callable[[], datetime]
    topic: str
    source: str = "lrs-api"


def authorize_read(who: Principal) -> None:
    if not who.scopes & READ_SCOPES:
        raise Forbidden("reading teams needs one of the scopes " + ", ".join(sorted(READ_SCOPES)))


async def create_team(deps: TeamDeps, who: Principal, team_id: str, name: str) -> tuple[Team, bool]:
    """Create a team; (team, True). Creating an existing id with the same name again is a
    harmless retry: (existing team, False). Another name under an existing id is a 409."""
    authorize(who, WRITE_SCOPE)
    team = rules.new_team(who.tenant, team_id, name, deps.clock())
    created = await deps.registry.create(team)
    if not created:
        existing = await deps.registry.get(who.tenant, team_id)
        if existing is None or existing.name != name:
            raise Conflict(f"team {team_id!r} already exists; choose another id or name")
        team = existing
    await _publish(deps, team)
    return team, created


async def list_teams(deps: TeamDeps, who: Principal) -> list[Team]:
    authorize_read(who)
    return await deps.registry.list_teams(who.tenant)


async def get_team(deps: TeamDeps, who: Principal, team_id: str) -> Team:
    authorize_read(who)
    return await _existing(deps, who, team_id)


async def set_members(
    deps: TeamDeps, who: Principal, team_id: str, agents: Sequence[AgentSighting]
) -> Team:
    return await _change(deps, who, team_id, lambda t, now: rules.with_members(t, agents, now))


async def add_members(
    deps: TeamDeps, who: Principal, team_id: str, agents: Sequence[AgentSighting]
) -> Team:
    return await _change(deps, who, team_id, lambda t, now: rules.plus_members(t, agents, now))


async def remove_member(deps: TeamDeps, who: Principal, team_id: str, learner: str) -> Team:
    return await _change(deps, who, team_id, lambda t, now: rules.minus_member(t, learner, now))


async def rename_team(deps: TeamDeps, who: Principal, team_id: str, name: str) -> Team:
    return await _change(deps, who, team_id, lambda t, now: rules.renamed(t, name, now))


async def delete_team(deps: TeamDeps, who: Principal, team_id: str) -> None:
    authorize(who, WRITE_SCOPE)
    deleted = await deps.registry.delete(who.tenant, team_id)
    if deleted is None:
        raise NotFound(f"no team {team_id!r}")
    await deps.bus.publish(deps.topic, [deleted_message(deps, deleted)])


async def _existing(deps: TeamDeps, who: Principal, team_id: str) -> Team:
    team = await deps.registry.get(who.tenant, team_id)
    if team is None:
        raise NotFound(f"no team {team_id!r}")
    return team


async def _change(deps: TeamDeps, who: Principal, team_id: str, change: Change) -> Team:
    """Read, change (pure), write conditionally on the version read; again if another writer
    got in between."""
    authorize(who, WRITE_SCOPE)
    for _ in range(MAX_ATTEMPTS):
        current = await _existing(deps, who, team_id)
        changed = change(current, deps.clock())
        if changed is current or await deps.registry.replace(current.version, changed):
            await _publish(deps, changed)
            return changed
    raise Conflict(f"team {team_id!r} is being changed concurrently; try again")


def registry_message(deps: TeamDeps, team: Team, *, deleted: bool = False) -> OutgoingMessage:
    ce_id = f"{team.tenant}/{team.team}/{team.version}"
    headers = topics.cloud_event_headers(
        TEAM_REGISTRY_TYPE, deps.source, team.tenant, ce_id, format_timestamp(team.updated)
    )
    value = orjson.dumps(rules.registry_value(team, deleted=deleted))
    return OutgoingMessage(topics.team_key(team.tenant, team.team), value, headers)


def deleted_message(deps: TeamDeps, team: Team) -> OutgoingMessage:
    """The record of a deleted team: its last state one version on, with no members."""
    gone = replace(team, version=team.version + 1, updated=deps.clock())
    return registry_message(deps, gone, deleted=True)


async def _publish(deps: TeamDeps, team: Team) -> None:
    await deps.bus.publish(deps.topic, [registry_message(deps, team)])
