"""GET /admin/export: a tenant's statements as JSON lines or CSV, streamed page by page
(docs/import-export.md). Admin scope, like every /admin route (docs/decisions/0005)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import StreamingResponse

from lrs.api.deps import ServicesDep, scope_guard
from lrs.ports.credentials import Principal
from lrs.security import ADMIN_SCOPE, TENANT_NAME
from lrs.transfer.export import MEDIA_TYPES, check_format, export_query, export_stream
from lrs.xapi.errors import BadRequest
from lrs.xapi.params import single_values

router = APIRouter(prefix="/admin", tags=["admin"])
Admin = Annotated[Principal, Depends(scope_guard(ADMIN_SCOPE))]
OWN_PARAMS = ("tenant", "format")
# Documented here for the OpenAPI schema; read (and checked) by `export_query`.
Filter = Annotated[str | None, Query(description="as in GET /xapi/statements")]


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}},
)
async def export_statements(
    request: Request,
    services: ServicesDep,
    who: Admin,
    tenant: Annotated[
        str | None, Query(description="whose statements (default: the caller's)")
    ] = None,
    format: Annotated[str, Query(description="jsonl or csv")] = "jsonl",
    agent: Filter = None,
    verb: Filter = None,
    activity: Filter = None,
    registration: Filter = None,
    related_activities: Filter = None,
    related_agents: Filter = None,
    since: Filter = None,
    until: Filter = None,
) -> StreamingResponse:
    """Every statement of the tenant matching the Statement API filters (agent, verb, activity,
    registration, related_activities, related_agents, since, until), oldest first; each voided
    statement comes just before the statement voiding it."""
    name = tenant if tenant is not None else who.tenant
    if not TENANT_NAME.match(name):
        raise BadRequest(f"tenant: {name!r} is not a tenant name")
    params = single_values(request.query_params.multi_items())  # a repeat is a 400
    filters = {k: v for k, v in params.items() if k not in OWN_PARAMS}
    query = export_query(filters, limits=services.settings.statement_limits())
    fmt = check_format(format)
    extension = "csv" if fmt == "csv" else "jsonl"
    return StreamingResponse(
        export_stream(services.store, name, query, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}-statements.{extension}"'},
    )
