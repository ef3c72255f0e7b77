"""The team registry API: thin handlers over lrs.services.teams.

Team ids go in the path URL-encoded (`/teams/mbox%3Amailto%3Ateam%40example.org`); ids may
contain `/` (account identifiers do), so the path parameter takes the rest of the path. An id
that itself ends in `/members` cannot be addressed; nobody needs one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Request
from starlette.responses import Response

from lrs.api.deps import PrincipalDep, Services, ServicesDep, read_body
from lrs.api.headers import json_response
from lrs.ports.credentials import Principal
from lrs.progress import registry
from lrs.progress.registry import Team
from lrs.services import teams
from lrs.xapi.bounded_json import loads_bounded
from lrs.xapi.definitions import AgentSighting
from lrs.xapi.params import parse_agent_query
from lrs.xapi.versions import V2, negotiate

router = APIRouter(prefix="/teams", tags=["teams"])
MAX_BODY = 1024 * 1024


async def json_body(request: Request, services: Services) -> object:
    body = await read_body(request, MAX_BODY)
    return loads_bounded(body, max_depth=services.settings.max_json_depth, what="body")


def agent_version(request: Request) -> str:
    """The xAPI version Agents are validated against: the request's, or the latest."""
    header = request.headers.get("x-experience-api-version")
    return negotiate(header) if header else V2


@router.post("")
async def create_team(request: Request, services: ServicesDep, who: PrincipalDep) -> Response:
    team_id, name = registry.parse_create(await json_body(request, services))
    team, created = await teams.create_team(services.teams, who, team_id, name)
    return json_response(team.as_json(), 201 if created else 200)


@router.get("")
async def list_teams(services: ServicesDep, who: PrincipalDep) -> Response:
    found = await teams.list_teams(services.teams, who)
    return json_response({"teams": [t.as_json() for t in found]})


MembersChange = Callable[[teams.TeamDeps, Principal, str, Sequence[AgentSighting]], Awaitable[Team]]


async def _change_members(
    team: str, request: Request, services: Services, who: Principal, change: MembersChange
) -> Response:
    limits = services.settings.statement_limits()
    body = await json_body(request, services)
    agents = registry.parse_members(body, agent_version(request), limits)
    changed = await change(services.teams, who, registry.validate_team_id(team), agents)
    return json_response(changed.as_json())


@router.put("/{team:path}/members")
async def set_members(
    team: str, request: Request, services: ServicesDep, who: PrincipalDep
) -> Response:
    """The team has exactly these members (a JSON array of xAPI Agents)."""
    return await _change_members(team, request, services, who, teams.set_members)


@router.post("/{team:path}/members")
async def add_members(
    team: str, request: Request, services: ServicesDep, who: PrincipalDep
) -> Response:
    """Add these members (a JSON array of xAPI Agents) to the team."""
    return await _change_members(team, request, services, who, teams.add_members)


@router.delete("/{team:path}/members")
async def remove_member(
    team: str, request: Request, services: ServicesDep, who: PrincipalDep
) -> Response:
    agent = parse_agent_param(request, services)
    changed = await teams.remove_member(services.teams, who, team, agent)
    return json_response(changed.as_json())


@router.get("/{team:path}")
async def get_team(team: str, services: ServicesDep, who: PrincipalDep) -> Response:
    found = await teams.get_team(services.teams, who, team)
    return json_response(found.as_json())


@router.delete("/{team:path}")
async def delete_team(team: str, services: ServicesDep, who: PrincipalDep) -> Response:
    await teams.delete_team(services.teams, who, team)
    return Response(status_code=204)


def parse_agent_param(request: Request, services: Services) -> str:
    """`?agent=<xAPI Agent JSON>` (the only parameter) -> the canonical learner id."""
    items = request.query_params.multi_items()
    limits = services.settings.statement_limits()
    context = "this team resource"
    return parse_agent_query(items, agent_version(request), limits=limits, context=context).ifi
