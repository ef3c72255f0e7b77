"""Organisation progress (`/progress/organisation`, and its live stream): thin handlers over
lrs.services.organisation (docs/organisation.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from lrs.api.deps import PrincipalDep, ServicesDep
from lrs.api.headers import json_response
from lrs.api.routes.progress import PeriodDep, sse_response, stream_caller
from lrs.services import organisation
from lrs.xapi.params import check_known, single_values

router = APIRouter(prefix="/progress", tags=["progress"])
STREAM_PARAMS = {"token", "lastEventId"}


@router.get("/organisation")
async def organisation_progress(
    services: ServicesDep, who: PrincipalDep, period: PeriodDep
) -> Response:
    """The tenant's organisation progress: active learners today / 7 / 30 days, learning days
    per learner per week, completion and pass rates per course, every team side by side and
    the goals per status (the `lrs.progress.organisation` value; 404 before the first). With
    `?period=` (or `?from=&to=`): the same figures over the statements of that period, as of
    its end, and how the goals of that period ended (recomputed, not live)."""
    if period is None:
        return json_response(await organisation.organisation_progress(services.organisation, who))
    settings = services.settings
    return json_response(
        await organisation.organisation_in_period(
            services.progress,
            services.goals,
            who,
            period,
            max_learners=settings.progress_overview_max_learners,
            max_statements=settings.period_view_max_statements,
        )
    )


@router.get("/organisation/stream")
async def organisation_stream(request: Request, services: ServicesDep) -> Response:
    """Live organisation progress: Server-Sent Events `organisation-progress` (the value now,
    then each newer version); credentials as Basic/Bearer, or `?token=` from
    /progress/stream-token."""
    params = single_values(request.query_params.multi_items())
    check_known(params, STREAM_PARAMS, "the organisation stream")
    who = await stream_caller(request, services)
    events = organisation.open_organisation_stream(services.organisation, services.progress, who)
    return sse_response(services, who, events)
