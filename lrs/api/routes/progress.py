"""The progress API: learner and team progress (REST, recomputed at read time) and the live
stream (Server-Sent Events). Thin handlers over lrs.services.progress."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response, StreamingResponse

from lrs.api import sse
from lrs.api.deps import PrincipalDep, Services, ServicesDep, principal
from lrs.api.headers import json_response
from lrs.api.routes.teams import agent_version
from lrs.goals.periods import ReviewPeriod, parse_review_period
from lrs.ports.credentials import Principal
from lrs.services import progress, progress_overview, progress_periods
from lrs.services.progress import StreamEvent, StreamTarget
from lrs.xapi.errors import BadRequest
from lrs.xapi.limits import StatementLimits
from lrs.xapi.params import (
    check_known,
    check_single,
    parse_agent_json,
    parse_agent_query,
    single_values,
)
from lrs.xapi.timefmt import format_timestamp

router = APIRouter(prefix="/progress", tags=["progress"])
STREAM_PARAMS = {"team", "agent", "learner", "token", "lastEventId"}
TARGETS = ("team", "agent", "learner")
PERIOD_PARAMS = ("period", "from", "to")


PeriodQuery = Annotated[
    str | None,
    Query(
        description="a period for a growth talk: `2026` (year), `2026-Q4` (quarter), `2026-11`"
        " (month) or `2026-W48` (ISO week), UTC; the answer covers the statements whose"
        " timestamp falls in it and says `period` {start, end (inclusive), label}",
    ),
]
FromQuery = Annotated[
    str | None,
    Query(
        alias="from",
        description="instead of `period`, with `to`: a date (from its first instant) or an"
        " RFC 3339 timestamp with offset (that instant), inclusive",
    ),
]
ToQuery = Annotated[
    str | None,
    Query(
        alias="to",
        description="with `from`: a date (through its last instant) or an RFC 3339 timestamp"
        " with offset (that instant), inclusive",
    ),
]


async def review_period(
    request: Request,
    period: PeriodQuery = None,
    since: FromQuery = None,
    until: ToQuery = None,
) -> ReviewPeriod | None:
    """`?period=` or `?from=&to=` (docs/goals.md "Periods for growth talks"), each at most
    once; None when none is given. A dependency, so that OpenAPI documents the parameters."""
    check_single(request.query_params.multi_items(), PERIOD_PARAMS)
    return parse_review_period(period, since, until)


PeriodDep = Annotated[ReviewPeriod | None, Depends(review_period)]


async def learner_answer(
    services: Services, who: Principal, learner: str, period: ReviewPeriod | None
) -> Response:
    """The live view, or with a period what was done in it (lrs.services.progress_periods)."""
    if period is None:
        return json_response(await progress.learner_progress(services.progress, who, learner))
    limit = services.settings.period_view_max_statements
    return json_response(
        await progress_periods.learner_progress_in_period(
            services.progress, who, learner, period, max_statements=limit
        )
    )


@router.get("/learners")
async def learner_progress(
    request: Request, services: ServicesDep, who: PrincipalDep, period: PeriodDep
) -> Response:
    """`?agent=<Agent JSON>`, optionally with `period` or `from` and `to`."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in PERIOD_PARAMS]
    limits = services.settings.statement_limits()
    context = "GET /progress/learners"
    learner = parse_agent_query(items, agent_version(request), limits=limits, context=context).ifi
    return await learner_answer(services, who, learner, period)


@router.get("/learners/{learner:path}")
async def learner_progress_by_id(
    learner: str, services: ServicesDep, who: PrincipalDep, period: PeriodDep
) -> Response:
    """A learner by canonical id (`mbox:mailto:...`, URL-encoded), as team progress lists them;
    `?period=2026-Q4` (or `2026-11`, `2026-W48`, `2026`, or `?from=&to=`): what was done in it."""
    return await learner_answer(services, who, learner, period)


@router.get("/overview")
async def organisation_overview(services: ServicesDep, who: PrincipalDep) -> Response:
    """Every team, learners active today / 7 / 30 days, completion per course."""
    limit = services.settings.progress_overview_max_learners
    return json_response(
        await progress_overview.organisation_overview(services.progress, who, limit)
    )


@router.get("/teams/{team:path}")
async def team_progress(
    team: str, services: ServicesDep, who: PrincipalDep, period: PeriodDep
) -> Response:
    """A team now, or with `?period=` (`?from=&to=`) what its current members did in it."""
    if period is None:
        return json_response(await progress.team_progress(services.progress, who, team))
    limit = services.settings.period_view_max_statements
    return json_response(
        await progress_periods.team_progress_in_period(
            services.progress, who, team, period, max_statements=limit
        )
    )


@router.post("/stream-token")
async def stream_token(services: ServicesDep, who: PrincipalDep) -> Response:
    """A short-lived token that opens progress streams (`GET /progress/stream?token=`), for
    browsers' EventSource, which cannot send an Authorization header."""
    token = progress.issue_stream_token(services.progress, who)
    return json_response({"token": token.token, "expires_at": format_timestamp(token.expires_at)})


@router.get("/stream")
async def progress_stream(request: Request, services: ServicesDep) -> Response:
    """`?team=<id>`, `?agent=<Agent JSON>` or `?learner=<canonical id>`; credentials as
    Basic/Bearer, or `?token=`. Reconnects send `Last-Event-ID` (or `?lastEventId=` for a new
    EventSource)."""
    target = parse_target(request, services.settings.statement_limits())
    who = await stream_caller(request, services)
    last = request.headers.get("last-event-id") or request.query_params.get("lastEventId")
    return sse_response(services, who, progress.open_stream(services.progress, who, target, last))


def sse_response(
    services: Services, who: Principal, events: AsyncIterator[StreamEvent]
) -> StreamingResponse:
    """A progress, goal or organisation stream, ended once `who` may no longer read it."""
    checked = progress.while_valid(events, lambda: services.authenticator.still_valid(who))
    return StreamingResponse(encoded(checked), headers=sse.HEADERS, media_type=sse.MEDIA_TYPE)


async def encoded(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    async for event in events:
        yield sse.encode(event)


def parse_target(request: Request, limits: StatementLimits) -> StreamTarget:
    params = single_values(request.query_params.multi_items())
    check_known(params, STREAM_PARAMS, "the progress stream")
    given = [name for name in TARGETS if name in params]
    if len(given) != 1:
        raise BadRequest("give exactly one of the parameters team, agent and learner")
    if given[0] != "agent":
        if not params[given[0]]:
            raise BadRequest(f"the {given[0]} parameter is empty")
        return StreamTarget("team" if given[0] == "team" else "learner", params[given[0]])
    agent = parse_agent_json(params["agent"], agent_version(request), limits=limits)
    return StreamTarget("learner", agent.ifi)


async def stream_caller(request: Request, services: ServicesDep) -> Principal:
    token = request.query_params.get("token")
    if not token:
        return await principal(request, services)
    who = progress.stream_principal(services.progress, token)
    await services.authenticator.still_valid(who)  # revoked since the token was issued: 401
    return who
