"""The team registry's rules, pure: team ids, names, membership changes, the `lrs.teams` value.

A registry team is one tenant's named set of learners. Its members are given as xAPI Agents and
kept as canonical learner ids (`lrs.xapi.ifi.actor_ifi`), the ids progress is keyed by; the
names the Agents carried are kept beside them for display.

Team ids: a client may choose any id (1..512 characters, no control characters), including a
statement group's identifier (`mbox:mailto:team@example.org`, `account:<home>|<name>`), so that
the registry adds members to a team that statements also name (membership is the union). When
the client gives none, the id is `registry:<slug of the name>`: URL-safe and readable.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lrs.xapi.definitions import AgentSighting
from lrs.xapi.errors import BadRequest
from lrs.xapi.limits import DEFAULT_LIMITS, StatementLimits
from lrs.xapi.params import agent_object, sighting_of

REGISTRY_PREFIX = "registry:"
MAX_ID_LENGTH = 512
MAX_NAME_LENGTH = 200
MAX_MEMBERS_PER_REQUEST = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Team:
    """One registry team. `version` increases with every change (1 when created)."""

    tenant: str
    team: str
    name: str
    updated: datetime
    members: tuple[str, ...] = ()
    names: Mapping[str, str] = field(default_factory=dict)
    version: int = 1

    def as_json(self) -> dict[str, Any]:
        """The team as the registry API returns it."""
        return {
            "team": self.team,
            "name": self.name,
            "members": [{"learner": m, "name": self.names.get(m)} for m in self.members],
            "version": self.version,
            "updated": self.updated.isoformat().replace("+00:00", "Z"),
        }


def slug(name: str) -> str:
    """Lower-case ASCII letters, digits and single hyphens (`Sales EMEA!` -> `sales-emea`)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def validate_team_id(team: str) -> str:
    if not team or len(team) > MAX_ID_LENGTH or _CONTROL.search(team):
        raise BadRequest(f"a team id is 1 to {MAX_ID_LENGTH} characters without control characters")
    return team


def parse_create(body: object) -> tuple[str, str]:
    """`POST /teams` body `{"name": ..., "team"?: ...}` -> (team id, name)."""
    if not isinstance(body, Mapping):
        raise BadRequest('the body must be a JSON object {"name": ..., "team"?: ...}')
    unknown = sorted(set(body) - {"name", "team"})
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"name must be a non-empty string of at most {MAX_NAME_LENGTH} chars")
    team = body.get("team")
    if team is None:
        if not slug(name):
            raise BadRequest("the name has no letters or digits to make an id of; give a team id")
        return REGISTRY_PREFIX + slug(name), name.strip()
    if not isinstance(team, str):
        raise BadRequest("team must be a string")
    return validate_team_id(team), name.strip()


def parse_members(
    body: object, version: str, limits: StatementLimits = DEFAULT_LIMITS
) -> list[AgentSighting]:
    """A members body: `{"members": [Agent, ...]}`, a list of Agents, or one Agent. Each must be
    a valid xAPI Agent (Data 2.4.2.1, Groups are not members) within `limits` (the configured
    ones: a member may be anyone a statement may name); any invalid one is a 400."""
    if isinstance(body, Mapping) and "members" in body:
        if set(body) != {"members"}:
            raise BadRequest('the body must be {"members": [Agent, ...]}')
        body = body["members"]
    agents = body if isinstance(body, list) else [body]
    if len(agents) > MAX_MEMBERS_PER_REQUEST:
        raise BadRequest(f"at most {MAX_MEMBERS_PER_REQUEST} members per request")
    return [parse_agent(agent, version, f"members[{n}]", limits) for n, agent in enumerate(agents)]


def parse_agent(
    agent: object, version: str, where: str = "agent", limits: StatementLimits = DEFAULT_LIMITS
) -> AgentSighting:
    """One Agent, held to the rules of every `agent` parameter (`lrs.xapi.params.agent_object`:
    a JSON object, one identifier, valid as in a statement, not a Group)."""
    return sighting_of(agent_object(agent, version, limits=limits, where=where))


def new_team(tenant: str, team: str, name: str, now: datetime) -> Team:
    return Team(tenant=tenant, team=team, name=name, updated=now)


def with_members(team: Team, agents: Sequence[AgentSighting], now: datetime) -> Team:
    """The team with exactly these members (PUT)."""
    names = {a.ifi: a.name for a in agents if a.name}
    return _changed(team, {a.ifi for a in agents}, names, now)


def plus_members(team: Team, agents: Sequence[AgentSighting], now: datetime) -> Team:
    """The team with these members added (POST); a member already there keeps its place and
    takes the name given now, if any."""
    names = {**team.names, **{a.ifi: a.name for a in agents if a.name}}
    return _changed(team, set(team.members) | {a.ifi for a in agents}, names, now)


def minus_member(team: Team, learner: str, now: datetime) -> Team:
    """The team without this member (removing a non-member changes nothing)."""
    if learner not in team.members:
        return team
    return _changed(team, set(team.members) - {learner}, team.names, now)


def renamed(team: Team, name: str, now: datetime) -> Team:
    return (
        team
        if name == team.name
        else replace(team, name=name, updated=now, version=team.version + 1)
    )


def _changed(team: Team, members: set[str], names: Mapping[str, str | None], now: datetime) -> Team:
    kept = {m: n for m, n in names.items() if m in members and n}
    ordered = tuple(sorted(members))
    if ordered == team.members and kept == dict(team.names):
        return team
    return replace(team, members=ordered, names=kept, updated=now, version=team.version + 1)


def registry_value(team: Team, *, deleted: bool = False) -> dict[str, Any]:
    """The value of an `lrs.teams` record (schemas/events/team-registry.v1.json): the whole
    membership after a change, so the compacted topic's last record per team is the truth."""
    return {
        "tenant": team.tenant,
        "team": team.team,
        "name": team.name,
        "members": [] if deleted else list(team.members),
        "deleted": deleted,
        "version": team.version,
    }
