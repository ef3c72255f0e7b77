"""Goals (`/goals`) and goal progress (`/progress/goals`): thin handlers over
lrs.services.goals (docs/goals.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from lrs.api import sse
from lrs.api.deps import PrincipalDep, Services, ServicesDep, read_body
from lrs.api.headers import json_response
from lrs.api.routes.progress import PeriodDep, encoded, stream_caller
from lrs.services import goals, progress_periods
from lrs.services.goals import GoalDeps
from lrs.xapi.bounded_json import loads_bounded
from lrs.xapi.errors import BadRequest

router = APIRouter(tags=["goals"])
MAX_BODY = 256 * 1024


async def json_body(request: Request, services: Services) -> object:
    body = await read_body(request, MAX_BODY)
    return loads_bounded(body, max_depth=services.settings.max_json_depth, what="body")


def deps(services: Services) -> GoalDeps:
    return services.goals


def flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false")
    if value not in ("true", "false"):
        raise BadRequest(f"{name}: must be true or false")
    return value == "true"


@router.post("/goals")
async def create_goal(request: Request, services: ServicesDep, who: PrincipalDep) -> Response:
    body = await json_body(request, services)
    goal, created = await goals.create_goal(deps(services), who, body)
    return json_response(goal.as_json(), 201 if created else 200)


@router.get("/goals")
async def list_goals(request: Request, services: ServicesDep, who: PrincipalDep) -> Response:
    owner = request.query_params.get("owner")
    found = await goals.list_goals(deps(services), who, owner, archived=flag(request, "archived"))
    return json_response({"goals": [g.as_json() for g in found]})


@router.get("/goals/{goal_id}")
async def get_goal(goal_id: str, services: ServicesDep, who: PrincipalDep) -> Response:
    return json_response((await goals.get_goal(deps(services), who, goal_id)).as_json())


@router.put("/goals/{goal_id}")
async def put_goal(
    goal_id: str, request: Request, services: ServicesDep, who: PrincipalDep
) -> Response:
    body = await json_body(request, services)
    goal, created = await goals.put_goal(deps(services), who, goal_id, body)
    return json_response(goal.as_json(), 201 if created else 200)


@router.post("/goals/{goal_id}/archive")
async def archive_goal(goal_id: str, services: ServicesDep, who: PrincipalDep) -> Response:
    return json_response((await goals.archive_goal(deps(services), who, goal_id)).as_json())


@router.get("/progress/goals")
async def goal_progress(
    request: Request, services: ServicesDep, who: PrincipalDep, period: PeriodDep
) -> Response:
    """Progress toward the tenant's goals (`?owner=learner:<id>|team:<id>|organisation`);
    with `?period=` (or `?from=&to=`) the goals of that period and how they ended."""
    owner = request.query_params.get("owner")
    if period is not None:
        limit = services.settings.period_view_max_statements
        values = await progress_periods.goals_in_period(
            deps(services), services.progress, who, owner, period, max_statements=limit
        )
        return json_response({"goals": values, "period": period.as_json()})
    values = await goals.goal_progress(deps(services), who, owner)
    return json_response({"goals": values})


STREAM_PARAMS = {"owner", "token", "lastEventId"}


@router.get("/progress/goals/stream")
async def goal_stream(request: Request, services: ServicesDep) -> Response:
    """Live goal progress (`?owner=...`, else every goal of the tenant): Server-Sent Events
    `goal-progress`; credentials as Basic/Bearer, or `?token=` from /progress/stream-token."""
    unknown = sorted(set(request.query_params) - STREAM_PARAMS)
    if unknown:
        raise BadRequest(f"unknown parameter(s): {', '.join(unknown)}")
    who = await stream_caller(request, services)
    owner = request.query_params.get("owner")
    events = goals.open_goal_stream(deps(services), services.progress, who, owner)
    return StreamingResponse(encoded(events), headers=sse.HEADERS, media_type=sse.MEDIA_TYPE)
