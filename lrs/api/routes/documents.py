"""The Document Resources (xAPI Communication 2.3 State, 2.6 Agent Profile, 2.7 Activity
Profile): thin handlers over lrs.services.documents, generated from one table of resources
(`RESOURCES`) and one of methods (`OPERATIONS`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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


def params_of(
    resource: Resource, request: Request, services: Services, version: str
) -> DocumentParams:
    return parse_params(
        resource,
        request.method,
        request.query_params.multi_items(),
        limits=services.settings.statement_limits(),
        version=version,
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


Handler = Callable[..., Awaitable[Response]]


async def _put(
    resource: Resource, request: Request, services: Services, version: str, who: Principal
) -> Response:
    params = params_of(resource, request, services, version)
    upload = await upload_of(request, services)
    pre = preconditions_of(request)
    await documents.put_document(document_deps(services), who, params, upload, pre, version)
    return Response(status_code=204)


async def _post(
    resource: Resource, request: Request, services: Services, version: str, who: Principal
) -> Response:
    params = params_of(resource, request, services, version)
    upload = await upload_of(request, services)
    pre = preconditions_of(request)
    await documents.post_document(document_deps(services), who, params, upload, pre)
    return Response(status_code=204)


async def _get(
    resource: Resource, request: Request, services: Services, version: str, who: Principal
) -> Response:
    params = params_of(resource, request, services, version)
    if params.document_id is None:
        listing = await documents.list_documents(document_deps(services), who, params)
        return id_list_response(listing)
    doc = await documents.get_document(document_deps(services), who, params)
    return document_response(doc)


async def _delete(
    resource: Resource, request: Request, services: Services, version: str, who: Principal
) -> Response:
    params = params_of(resource, request, services, version)
    pre = preconditions_of(request)
    await documents.delete_documents(document_deps(services), who, params, pre)
    return Response(status_code=204)


@dataclass(frozen=True, slots=True)
class Operation:
    """One method of the document resources: what it does, how it answers, the scope kind."""

    method: str
    run: Callable[[Resource, Request, Services, str, Principal], Awaitable[Response]]
    status_code: int | None
    writes: bool


OPERATIONS = (
    Operation("put", _put, 204, writes=True),
    Operation("post", _post, 204, writes=True),
    Operation("get", _get, None, writes=False),
    Operation("delete", _delete, 204, writes=True),
)


@dataclass(frozen=True, slots=True)
class DocumentResource:
    """One Document Resource: its path, the name its handlers are called by (`put_<name>`...),
    its scopes (Communication 4.1 / `lrs.security`) and each method's description."""

    resource: Resource
    path: str
    name: str
    write_scope: str
    read_scope: str
    docs: dict[str, str]


RESOURCES = (
    DocumentResource(
        Resource.STATE,
        STATE,
        "state",
        "state",
        "state/read",
        {
            "put": "Store a State document (Communication 2.3).",
            "post": "Create a State document or merge JSON into it (Communication 2.2, 2.3).",
            "get": "One State document, or the ids of a context's State documents"
            " (Communication 2.3).",
            "delete": "Delete one State document, or all of a context's (Communication 2.3).",
        },
    ),
    DocumentResource(
        Resource.ACTIVITY_PROFILE,
        ACTIVITY_PROFILE,
        "activity_profile",
        "profile",
        "profile/read",
        {
            "put": "Store an Activity Profile document (Communication 2.7).",
            "post": "Create an Activity Profile document or merge JSON into it"
            " (Communication 2.2, 2.7).",
            "get": "One Activity Profile document, or an Activity's profile ids"
            " (Communication 2.7).",
            "delete": "Delete an Activity Profile document (Communication 2.7).",
        },
    ),
    DocumentResource(
        Resource.AGENT_PROFILE,
        AGENT_PROFILE,
        "agent_profile",
        "profile",
        "profile/read",
        {
            "put": "Store an Agent Profile document (Communication 2.6).",
            "post": "Create an Agent Profile document or merge JSON into it"
            " (Communication 2.2, 2.6).",
            "get": "One Agent Profile document, or an Agent's profile ids (Communication 2.6).",
            "delete": "Delete an Agent Profile document (Communication 2.6).",
        },
    ),
)


def handler(table: DocumentResource, operation: Operation) -> Handler:
    """The route function of `operation` on `table`'s resource, named and documented as a
    hand-written one would be (FastAPI takes the summary from the name, the description from
    the docstring)."""
    scope = table.write_scope if operation.writes else table.read_scope
    guard: Principal = Depends(scope_guard(scope))
    resource, run = table.resource, operation.run

    async def endpoint(
        request: Request, services: ServicesDep, version: VersionDep, who: Principal = guard
    ) -> Response:
        return await run(resource, request, services, version, who)

    endpoint.__name__ = endpoint.__qualname__ = f"{operation.method}_{table.name}"
    endpoint.__doc__ = table.docs[operation.method]
    return endpoint


def add_routes(api: APIRouter) -> None:
    """Every method of every Document Resource (HEAD is served as GET, `lrs.api.middleware`)."""
    for table in RESOURCES:
        for operation in OPERATIONS:
            route = getattr(api, operation.method)
            kwargs = {} if operation.status_code is None else {"status_code": operation.status_code}
            route(table.path, **kwargs)(handler(table, operation))


add_routes(router)
