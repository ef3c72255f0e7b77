"""The Statement Resource (xAPI Communication 2.1): thin handlers over lrs.services."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from lrs.api.deps import ServicesDep, ThroughDep, VersionDep, read_body, scope_guard
from lrs.api.headers import json_response
from lrs.ports import Principal
from lrs.services import read
from lrs.services.ingest import ingest
from lrs.xapi.errors import BadRequest
from lrs.xapi.formatting import parse_accept_language
from lrs.xapi.query import parse_query

router = APIRouter(prefix="/xapi")
Writer = Annotated[Principal, Depends(scope_guard("statements/write"))]
Reader = Annotated[Principal, Depends(scope_guard("statements/read"))]


def parse_json_body(body: bytes) -> Any:
    """Communication 2.1.2: the body must be a statement object or an array of statements."""
    if not body.strip():
        raise BadRequest("request body is empty: expected a statement or an array of statements")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None


def as_statement_list(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        if not doc:
            raise BadRequest("the statement array is empty")
        return doc
    if isinstance(doc, dict):
        return [doc]
    raise BadRequest("request body must be a statement object or an array of statements")


@router.post("/statements")
async def post_statements(
    request: Request, services: ServicesDep, version: VersionDep, who: Writer
) -> Response:
    """Store one or many statements; answer with their ids (Communication 2.1.2)."""
    body = await read_body(request, services.settings.max_body_bytes)
    statements = as_statement_list(parse_json_body(body))
    ids = await ingest(statements, who, version, services.ingest)
    return json_response(ids)


@router.put("/statements", status_code=204)
async def put_statement(
    request: Request, services: ServicesDep, version: VersionDep, who: Writer
) -> Response:
    """Store one statement under the id given as `statementId` (Communication 2.1.1)."""
    statement_id = request.query_params.get("statementId")
    if not statement_id:
        raise BadRequest("PUT statements requires the statementId parameter (Communication 2.1.1)")
    statement = parse_json_body(await read_body(request, services.settings.max_body_bytes))
    if not isinstance(statement, dict):
        raise BadRequest("PUT statements takes a single statement object")
    if "id" in statement and str(statement["id"]).lower() != statement_id.lower():
        raise BadRequest("the statement's id differs from the statementId parameter")
    await ingest([{**statement, "id": statement_id}], who, version, services.ingest)
    return Response(status_code=204)


@router.api_route("/statements", methods=["GET", "HEAD"])
async def get_statements(
    through: ThroughDep, request: Request, services: ServicesDep, version: VersionDep, who: Reader
) -> Response:
    """One statement by id, or a page of statements matching the filters (Comm. 2.1.3)."""
    params = dict(request.query_params)
    query = parse_query(params, max_limit=services.settings.statement_page_limit)
    languages = parse_accept_language(request.headers.get("accept-language"))
    deps = services.read
    if query.is_single:
        result: Any = await read.get_one(deps, who, query, languages)
    else:
        result = await read.get_many(deps, who, query, languages, params)
    return json_response(result, consistent_through=through)
