"""The Statement Resource (xAPI Communication 2.1): thin handlers over lrs.services."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from lrs.api.deps import ServicesDep, ThroughDep, VersionDep, read_body, scope_guard
from lrs.api.headers import json_response, last_modified, multipart_response
from lrs.ports.credentials import Principal
from lrs.services import read
from lrs.services.ingest import ingest
from lrs.xapi.bodies import as_statement_list, parse_statement_body
from lrs.xapi.errors import BadRequest
from lrs.xapi.formatting import parse_accept_language
from lrs.xapi.params import parse_uuid, required, single_values
from lrs.xapi.query import parse_query

router = APIRouter(prefix="/xapi")
Writer = Annotated[Principal, Depends(scope_guard("statements/write"))]
# statements/read/mine is implied by statements/read; lrs.services.read narrows what a caller
# holding only read/mine sees to the statements of its own authority.
Reader = Annotated[Principal, Depends(scope_guard("statements/read/mine"))]


async def _statement_body(request: Request, services: ServicesDep) -> tuple[Any, dict[str, Any]]:
    body = await read_body(request, services.settings.max_body_bytes)
    return parse_statement_body(request.headers.get("content-type"), body)


@router.post("/statements")
async def post_statements(
    request: Request, services: ServicesDep, version: VersionDep, who: Writer
) -> Response:
    """Store one or many statements; answer with their ids (Communication 2.1.2)."""
    doc, payloads = await _statement_body(request, services)
    ids = await ingest(as_statement_list(doc), who, version, services.ingest, payloads)
    return json_response(ids)


@router.put("/statements", status_code=204)
async def put_statement(
    request: Request, services: ServicesDep, version: VersionDep, who: Writer
) -> Response:
    """Store one statement under the id given as `statementId` (Communication 2.1.1)."""
    params = single_values(request.query_params.multi_items())
    context = "PUT statements, Communication 2.1.1"
    statement_id = required(params, "statementId", context)
    parse_uuid("statementId", statement_id)  # the id is kept as given, not in lower case
    statement, payloads = await _statement_body(request, services)
    if not isinstance(statement, dict):
        raise BadRequest("PUT statements takes a single statement object")
    if "id" in statement and str(statement["id"]).lower() != statement_id.lower():
        raise BadRequest("the statement's id differs from the statementId parameter")
    await ingest([{**statement, "id": statement_id}], who, version, services.ingest, payloads)
    return Response(status_code=204)


@router.get("/statements")
async def get_statements(
    through: ThroughDep, request: Request, services: ServicesDep, version: VersionDep, who: Reader
) -> Response:
    """One statement by id, or a page of statements matching the filters (Comm. 2.1.3)."""
    params = single_values(request.query_params.multi_items())
    settings = services.settings
    query = parse_query(
        params,
        max_limit=settings.statement_page_limit,
        limits=settings.statement_limits(),
        version=version,
    )
    languages = parse_accept_language(request.headers.get("accept-language"))
    if query.is_single:
        result: Any = await read.get_one(services.read, who, query, languages)
        statements = [result]
    else:
        result = await read.get_many(services.read, who, query, languages, params)
        statements = result["statements"]
    headers = last_modified(statements)
    if query.attachments:
        payloads = await read.attachments_of(services.read, who, statements)
        return multipart_response(result, payloads, through, headers)
    return json_response(result, consistent_through=through, headers=headers)
