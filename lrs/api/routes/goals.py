"""Goals (`/goals`) and goal progress (`/progress/goals`): thin handlers over
lrs.services.goals (docs/goals.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from lrs.api.deps import PrincipalDep, Services, ServicesDep, read_body
from lrs.api.headers import json_response
from lrs.api.routes.progress import PeriodDep, sse_response, stream_caller
from lrs.api.routes.teams import agent_version
from lrs.goals.learner import validate_learner_id
from lrs.goals.model import parse_owner_key
from lrs.services import goals, progress_periods
from lrs.services.goals import GoalDeps
from lrs.xapi.bounded_json import loads_bounded
from lrs.xapi.errors import BadRequest
from lrs.xapi.params import (
    check_known,
    check_single,
    parse_agent_json,
    parse_bool,
    single_values,
)

router = APIRouter(tags=["goals"])
MAX_BODY = 256 * 1024


async def json_body(request: Request, services: Services) -> object:
    body = await read_body(request, MAX_BODY)
    return loads_bounded(body, max_depth=services.settings.max_json_depth, what="body")


def deps(services: Services) -> GoalDeps:
    return services.goals


@router.post("/goals")
async def create_goal(request: Request, services: ServicesDep, who: PrincipalDep) -> Response:
    body = await json_body(request, services)
    goal, created = await goals.create_goal(deps(services), who, body)
    return json_response(goal.as_json(), 201 if created else 200)


@router.get("/goals")
async def list_goals(request: Request, services: ServicesDep, who: PrincipalDep) -> Response:
    """`?owner=` and `?archived=` (a boolean, lrs.xapi.params), each at most once."""
    params = single_values(request.query_params.multi_items())
    archived = parse_bool("archived", params.get("archived", "false"))
    found = await goals.list_goals(deps(services), who, params.get("owner"), archived=archived)
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


OwnerQuery = Annotated[
    str | None,
    Query(
        description="the goals of one owner: `learner:<learner id>`, `team:<team id>` or"
        " `organisation` (every goal of the tenant without it)",
    ),
]
LearnerQuery = Annotated[
    str | None,
    Query(
        description="instead of `owner`: the goals that apply to this learner (canonical id,"
        " e.g. `mbox:mailto:a@example.org`): their own, their teams' and the organisation's,"
        " each with a `learner` block",
    ),
]
AgentQuery = Annotated[
    str | None,
    Query(description="instead of `learner`: the learner as an xAPI Agent (JSON)"),
]


@dataclass(frozen=True)
class GoalSubject:
    """Whose goals a goal progress request asks for: an owner's, a learner's, or all."""

    owner: str | None = None
    learner: str | None = None


async def goal_subject(
    request: Request,
    services: ServicesDep,
    owner: OwnerQuery = None,
    learner: LearnerQuery = None,
    agent: AgentQuery = None,
) -> GoalSubject:
    """`owner`, `learner` or `agent`, at most one of them, each at most once (400 naming the
    parameter otherwise). A dependency, so that OpenAPI documents the parameters."""
    given = [n for n in SUBJECT_PARAMS if n in request.query_params]
    check_single(request.query_params.multi_items(), SUBJECT_PARAMS)
    if len(given) > 1:
        raise BadRequest(f"{', '.join(given)}: give at most one of owner, learner and agent")
    if agent is not None:
        limits = services.settings.statement_limits()
        learner = parse_agent_json(agent, agent_version(request), limits=limits).ifi
    if learner is not None:
        return GoalSubject(learner=validate_learner_id(learner))
    return GoalSubject(owner=parse_owner_key(owner).key if owner is not None else None)


SubjectDep = Annotated[GoalSubject, Depends(goal_subject)]
SUBJECT_PARAMS = ("owner", "learner", "agent")


@router.get("/progress/goals")
async def goal_progress(
    services: ServicesDep, who: PrincipalDep, period: PeriodDep, subject: SubjectDep
) -> Response:
    """Progress toward the tenant's goals (`?owner=learner:<id>|team:<id>|organisation`), or
    toward the goals that apply to one learner (`?learner=<id>` or `?agent=<Agent JSON>`);
    with `?period=` (or `?from=&to=`) the goals of that period and how they ended."""
    if subject.learner is not None:
        if period is not None:
            raise BadRequest("learner: not combined with period (ask ?owner= per owner instead)")
        values = await goals.learner_goal_progress(deps(services), who, subject.learner)
        return json_response({"goals": values})
    if period is not None:
        limit = services.settings.period_view_max_statements
        values = await progress_periods.goals_in_period(
            deps(services), services.progress, who, subject.owner, period, max_statements=limit
        )
        return json_response({"goals": values, "period": period.as_json()})
    values = await goals.goal_progress(deps(services), who, subject.owner)
    return json_response({"goals": values})


STREAM_PARAMS = {"owner", "learner", "agent", "token", "lastEventId"}


@router.get("/progress/goals/stream")
async def goal_stream(request: Request, services: ServicesDep, subject: SubjectDep) -> Response:
    """Live goal progress (`?owner=...`, else every goal of the tenant; or `?learner=` /
    `?agent=`: the goals that apply to the learner, following their teams, with
    `goal-removed` events): Server-Sent Events `goal-progress`; credentials as Basic/Bearer,
    or `?token=` from /progress/stream-token."""
    check_known(single_values(request.query_params.multi_items()), STREAM_PARAMS, "the goal stream")
    who = await stream_caller(request, services)
    if subject.learner is not None:
        events = goals.open_learner_goal_stream(
            deps(services), services.progress, who, subject.learner
        )
    else:
        events = goals.open_goal_stream(deps(services), services.progress, who, subject.owner)
    return sse_response(services, who, events)
