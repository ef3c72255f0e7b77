"""The Agents and Activities Resources (xAPI Communication 2.4, 2.5): thin handlers over
lrs.services.definitions."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from lrs.api.deps import PrincipalDep, ServicesDep, VersionDep
from lrs.ports.credentials import Principal
from lrs.services import definitions
from lrs.xapi.documents import etag_of
from lrs.xapi.params import parse_activity_query, parse_agent_query

router = APIRouter(prefix="/xapi")


async def reader(who: PrincipalDep) -> Principal:
    definitions.authorize_read(who)
    return who


Reader = Annotated[Principal, Depends(reader)]


def object_response(body: Any) -> Response:
    """JSON with the ETag Communication 3.1 asks of every GET response (SHA-1 of the body)."""
    content = orjson.dumps(body)
    return Response(content, 200, {"ETag": etag_of(content)}, media_type="application/json")


@router.get("/agents")
async def get_agent(
    request: Request, services: ServicesDep, version: VersionDep, who: Reader
) -> Response:
    """The Person Object of the Agent given as `agent` (Communication 2.4)."""
    agent = parse_agent_query(
        request.query_params.multi_items(), version, limits=services.settings.statement_limits()
    )
    person = await definitions.get_person(services.agents, who, agent)
    return object_response(person)


@router.get("/activities")
async def get_activity(
    request: Request, services: ServicesDep, version: VersionDep, who: Reader
) -> Response:
    """The canonical Activity Object of `activityId` (Communication 2.5)."""
    activity_id = parse_activity_query(request.query_params.multi_items())
    activity = await definitions.get_activity(services.activities, who, activity_id)
    return object_response(activity)
