"""The Document Resources (xAPI Communication 2.3 State, 2.6 Agent Profile, 2.7 Activity
Profile): thin handlers over lrs.services.documents, shared by the three resources."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from lrs import topics
from lrs.api.deps import Services, ServicesDep, VersionDep, read_body, scope_guard
from lrs.ports.credentials import Principal
from lrs.ports.documents import StoredDocument
from lrs.services import documents
from lrs.services.documents import DocumentDeps, IdList, Upload
from lrs.xapi.documents import (
    DocumentParams,
    Preconditions,
    Resource,
    http_date,
    parse_params,
    parse_preconditions,
)

router = APIRouter(prefix="/xapi")
StateWriter = Annotated[Principal, Depends(scope_guard("state"))]
StateReader = Annotated[Principal, Depends(scope_guard("state/read"))]
ProfileWriter = Annotated[Principal, Depends(scope_guard("profile"))]
ProfileReader = Annotated[Principal, Depends(scope_guard("profile/read"))]

STATE = "/activities/state"
ACTIVITY_PROFILE = "/activities/profile"
AGENT_PROFILE = "/agents/profile"


def document_deps(services: Services) -> DocumentDeps:
    return DocumentDeps(
        store=services.documents,
        bus=services.bus,
        clock=services.clock,
        topic=services.settings.topic(topics.DOCUMENTS),
        max_json_depth=services.settings.max_json_depth,
        max_document_bytes=services.settings.max_document_bytes,
        unconditional_profile_create=services.settings.allow_unconditional_profile_create,
    )


def params_of(resource: Resource, request: Request, services: Services) -> DocumentParams:
    return parse_params(
        resource,
        request.method,
        request.query_params.multi_items(),
        limits=services.settings.statement_limits(),
    )


def preconditions_of(request: Request) -> Preconditions:
    return parse_preconditions(
        request.headers.get("if-match"), request.headers.get("if-none-match")
    )


async def upload_of(request: Request, services: Services) -> Upload:
    body = await read_body(request, services.settings.max_body_bytes)
    return Upload(body, request.headers.get("content-type"))


def document_response(doc: StoredDocument) -> Response:
    """The stored bytes with their own Content-Type, ETag and Last-Modified (Comm. 2.2, 3.1)."""
    headers = {
        "Content-Type": doc.content_type,
        "ETag": doc.etag,
        "Last-Modified": http_date(doc.updated),
    }
    return Response(doc.content, 200, headers)


def id_list_response(listing: IdList) -> Response:
    headers = {"Content-Type": "application/json"}
    if listing.last_modified is not None:
        headers["Last-Modified"] = http_date(listing.last_modified)
    return Response(orjson.dumps(listing.ids), 200, headers)


async def _put(
    resource: Resource, request: Request, services: Services, version: str, who: Principal
) -> Response:
    params = params_of(resource, request, services)
    upload = await upload_of(request, services)
    pre = preconditions_of(request)
    await documents.put_document(document_deps(services), who, params, upload, pre, version)
    return Response(status_code=204)


async def _post(
    resource: Resource, request: Request, services: Services, who: Principal
) -> Response:
    params = params_of(resource, request, services)
    upload = await upload_of(request, services)
    pre = preconditions_of(request)
    await documents.post_document(document_deps(services), who, params, upload, pre)
    return Response(status_code=204)


async def _get(
    resource: Resource, request: Request, services: Services, who: Principal
) -> Response:
    params = params_of(resource, request, services)
    if params.document_id is None:
        listing = await documents.list_documents(document_deps(services), who, params)
        return id_list_response(listing)
    doc = await documents.get_document(document_deps(services), who, params)
    return document_response(doc)


async def _delete(
    resource: Resource, request: Request, services: Services, who: Principal
) -> Response:
    params = params_of(resource, request, services)
    pre = preconditions_of(request)
    await documents.delete_documents(document_deps(services), who, params, pre)
    return Response(status_code=204)


@router.put(STATE, status_code=204)
async def put_state(
    request: Request, services: ServicesDep, version: VersionDep, who: StateWriter
) -> Response:
    """Store a State document (Communication 2.3)."""
    return await _put(Resource.STATE, request, services, version, who)


@router.post(STATE, status_code=204)
async def post_state(
    request: Request, services: ServicesDep, version: VersionDep, who: StateWriter
) -> Response:
    """Create a State document or merge JSON into it (Communication 2.2, 2.3)."""
    return await _post(Resource.STATE, request, services, who)


@router.get(STATE)
async def get_state(
    request: Request, services: ServicesDep, version: VersionDep, who: StateReader
) -> Response:
    """One State document, or the ids of a context's State documents (Communication 2.3)."""
    return await _get(Resource.STATE, request, services, who)


@router.delete(STATE, status_code=204)
async def delete_state(
    request: Request, services: ServicesDep, version: VersionDep, who: StateWriter
) -> Response:
    """Delete one State document, or all of a context's (Communication 2.3)."""
    return await _delete(Resource.STATE, request, services, who)


@router.put(ACTIVITY_PROFILE, status_code=204)
async def put_activity_profile(
    request: Request, services: ServicesDep, version: VersionDep, who: ProfileWriter
) -> Response:
    """Store an Activity Profile document (Communication 2.7)."""
    return await _put(Resource.ACTIVITY_PROFILE, request, services, version, who)


@router.post(ACTIVITY_PROFILE, status_code=204)
async def post_activity_profile(
    request: Request, services: ServicesDep, version: VersionDep, who: ProfileWriter
) -> Response:
    """Create an Activity Profile document or merge JSON into it (Communication 2.2, 2.7)."""
    return await _post(Resource.ACTIVITY_PROFILE, request, services, who)


@router.get(ACTIVITY_PROFILE)
async def get_activity_profile(
    request: Request, services: ServicesDep, version: VersionDep, who: ProfileReader
) -> Response:
    """One Activity Profile document, or an Activity's profile ids (Communication 2.7)."""
    return await _get(Resource.ACTIVITY_PROFILE, request, services, who)


@router.delete(ACTIVITY_PROFILE, status_code=204)
async def delete_activity_profile(
    request: Request, services: ServicesDep, version: VersionDep, who: ProfileWriter
) -> Response:
    """Delete an Activity Profile document (Communication 2.7)."""
    return await _delete(Resource.ACTIVITY_PROFILE, request, services, who)


@router.put(AGENT_PROFILE, status_code=204)
async def put_agent_profile(
    request: Request, services: ServicesDep, version: VersionDep, who: ProfileWriter
) -> Response:
    """Store an Agent Profile document (Communication 2.6)."""
    return await _put(Resource.AGENT_PROFILE, request, services, version, who)


@router.post(AGENT_PROFILE, status_code=204)
async def post_agent_profile(
    request: Request, services: ServicesDep, version: VersionDep, who: ProfileWriter
) -> Response:
    """Create an Agent Profile document or merge JSON into it (Communication 2.2, 2.6)."""
    return await _post(Resource.AGENT_PROFILE, request, services, who)


@router.get(AGENT_PROFILE)
async def get_agent_profile(
    request: Request, services: ServicesDep, version: VersionDep, who: ProfileReader
) -> Response:
    """One Agent Profile document, or an Agent's profile ids (Communication 2.6)."""
    return await _get(Resource.AGENT_PROFILE, request, services, who)


@router.delete(AGENT_PROFILE, status_code=204)
async def delete_agent_profile(
    request: Request, services: ServicesDep, version: VersionDep, who: ProfileWriter
) -> Response:
    """Delete an Agent Profile document (Communication 2.6)."""
    return await _delete(Resource.AGENT_PROFILE, request, services, who)
