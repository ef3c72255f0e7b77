"""Request-scoped dependencies: the process's services, the caller, the xAPI version.

Every dependency of the API is an `async def`, however little it does: FastAPI runs a plain
`def` dependency in its thread pool, a hand-over to a worker thread and back for each one of
each request (profiled: 13% of an API process's active samples under single-statement POSTs,
with three such dependencies on that route). `tests/unit/api/test_async_dependencies.py`
keeps it so."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from lrs.ports.credentials import CredentialRegistry, Principal
from lrs.ports.dead_letters import DeadLetterReader
from lrs.ports.definitions import ActivityStore, AgentStore
from lrs.ports.documents import DocumentStore
from lrs.ports.events import EventBus
from lrs.ports.organisation import OrganisationReader
from lrs.ports.statements import StatementReader
from lrs.ports.tenants import TenantStore
from lrs.ports.webhooks import WebhookStore
from lrs.services import read
from lrs.services.auth import Authenticator, authorize
from lrs.services.erasure import ErasureDeps, ErasureStore
from lrs.services.goals import GoalDeps
from lrs.services.ingest import IngestDeps
from lrs.services.progress import ProgressDeps
from lrs.services.read import ReadDeps
from lrs.services.teams import TeamDeps
from lrs.settings import LrsSettings
from lrs.xapi.errors import PayloadTooLarge
from lrs.xapi.params import exceeds
from lrs.xapi.versions import negotiate

# The erasure's connections, opened for one request (lrs.wiring.erasure): everything an erasure
# needs, and the audit records alone.
ErasureConnector = Callable[
    [LrsSettings, Callable[[], datetime]], AbstractAsyncContextManager[ErasureDeps]
]
ErasureRecords = Callable[[LrsSettings], AbstractAsyncContextManager[ErasureStore]]


@dataclass
class Services:
    """The process's adapters and settings, built in the app's lifespan."""

    settings: LrsSettings
    store: StatementReader
    bus: EventBus
    credentials: CredentialRegistry
    authenticator: Authenticator
    ingest: IngestDeps
    read: ReadDeps
    clock: Callable[[], datetime]
    documents: DocumentStore
    activities: ActivityStore
    agents: AgentStore
    tenants: TenantStore
    teams: TeamDeps
    progress: ProgressDeps
    goals: GoalDeps
    erasure: ErasureConnector
    erasure_records: ErasureRecords
    organisation: OrganisationReader
    webhooks: WebhookStore | None = None  # /admin/webhooks (MongoDB only)
    dead_letters: DeadLetterReader | None = None  # /admin/dead-letters (Kafka only)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def xapi_version(request: Request) -> str:
    """The spec version governing this request (Communication 3.3)."""
    version = negotiate(request.headers.get("x-experience-api-version"))
    request.state.xapi_version = version
    return version


VersionDep = Annotated[str, Depends(xapi_version)]


def client_address(request: Request) -> str:
    """The caller's address as the ASGI server gives it (uvicorn rewrites it from
    X-Forwarded-For only for the proxies in its FORWARDED_ALLOW_IPS, loopback by default)."""
    return request.client.host if request.client is not None else ""


async def principal(request: Request, services: ServicesDep) -> Principal:
    header = request.headers.get("authorization")
    return await services.authenticator.authenticate(header, client_address(request))


PrincipalDep = Annotated[Principal, Depends(principal)]


def scope_guard(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets a request through only with `scope` (or one that implies it)."""

    async def check(who: PrincipalDep) -> Principal:
        authorize(who, scope)
        return who

    return check


async def consistent_through(request: Request, services: ServicesDep) -> datetime:
    """Communication 2.1.3: GET statements carries X-Experience-API-Consistent-Through whatever
    the status; kept on the request so error responses carry it too."""
    through = await read.consistent_through(services.read, services.clock())
    request.state.consistent_through = through
    return through


ThroughDep = Annotated[datetime, Depends(consistent_through)]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over `limit` bytes, declared or streamed."""
    declared = request.headers.get("content-length") or ""
    if exceeds(declared, limit):
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
