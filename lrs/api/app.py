"""The API's assembly: `create_app(settings)` builds the FastAPI app and, in its lifespan, the
services on the adapters it is given: connected by `connect` (lrs.wiring.api, the composition
root, for `lrs api`) or passed in (in-memory ones, as tests do)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from lrs import metrics, topics
from lrs.api.alternate import AlternateSyntaxMiddleware
from lrs.api.deps import ErasureConnector, ErasureRecords, Services
from lrs.api.errors import ErrorEnvelopeMiddleware, install_error_handlers
from lrs.api.middleware import EdgeMiddleware, HeadAsGetMiddleware
from lrs.api.openapi import install_docs
from lrs.api.routes import (
    about,
    admin,
    agents_activities,
    dashboard,
    documents,
    export,
    goals,
    health,
    landing,
    organisation,
    progress,
    statements,
    teams,
    webhooks,
)
from lrs.bearer import BearerConfig, BearerVerifier, fetch_jwks_url, load_jwks_file
from lrs.ports.attachments import AttachmentStore
from lrs.ports.credentials import CredentialRegistry
from lrs.ports.dead_letters import DeadLetterReader
from lrs.ports.definitions import ActivityStore, AgentStore
from lrs.ports.documents import DocumentStore
from lrs.ports.events import EventBus
from lrs.ports.goals import GoalProgressReader, GoalStore
from lrs.ports.organisation import OrganisationReader
from lrs.ports.progress import ProgressReader
from lrs.ports.statements import AcknowledgementWaiter, StatementReader
from lrs.ports.teams import TeamRegistry
from lrs.ports.tenants import TenantStore
from lrs.ports.webhooks import WebhookStore
from lrs.services.auth import Authenticator, auth_limits
from lrs.services.erasure import ErasureDeps, ErasureStore
from lrs.services.goals import GoalDeps
from lrs.services.ingest import IngestDeps
from lrs.services.progress import ProgressDeps
from lrs.services.progress_hub import ProgressHub
from lrs.services.read import ReadDeps
from lrs.services.teams import TeamDeps
from lrs.settings import LrsSettings
from lrs.xapi.errors import Unavailable

EXPOSED_HEADERS = [
    "X-Experience-API-Version",
    "X-Experience-API-Consistent-Through",
    "ETag",
    "Last-Modified",
    "Content-Type",
]


@asynccontextmanager
async def no_erasure(
    settings: LrsSettings, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[ErasureDeps]:
    """Without the composition root's connections (in-memory adapters) there is no erasure."""
    raise Unavailable("erasure needs LRS_KAFKA_BOOTSTRAP and LRS_MONGODB_URI")
    yield  # pragma: no cover (a generator, for asynccontextmanager)


@asynccontextmanager
async def no_erasure_records(settings: LrsSettings) -> AsyncIterator[ErasureStore]:
    raise Unavailable("erasure needs LRS_KAFKA_BOOTSTRAP and LRS_MONGODB_URI")
    yield  # pragma: no cover (a generator, for asynccontextmanager)


class ApiStatementStore(StatementReader, AcknowledgementWaiter, Protocol):
    """The API's roles of the statement store: it reads and waits, the persister writes."""


@dataclass
class Adapters:
    store: ApiStatementStore
    bus: EventBus
    credentials: CredentialRegistry
    documents: DocumentStore
    attachments: AttachmentStore
    activities: ActivityStore
    agents: AgentStore
    tenants: TenantStore
    team_registry: TeamRegistry
    progress: ProgressReader
    hub: ProgressHub
    goals: GoalStore
    goal_progress: GoalProgressReader
    organisation_progress: OrganisationReader
    webhooks: WebhookStore | None = None
    dead_letters: DeadLetterReader | None = None
    # The erasure opens its own connections for its duration (lrs.wiring.erasure).
    erasure: ErasureConnector = no_erasure
    erasure_records: ErasureRecords = no_erasure_records


# Opens the process's adapters for the app's lifespan (lrs.wiring.api.connected_adapters).
Connect = Callable[[LrsSettings], AbstractAsyncContextManager[Adapters]]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_statement_id() -> str:
    return str(uuid.uuid4())


async def bearer_verifier(settings: LrsSettings) -> BearerVerifier | None:
    """The bearer-token verifier when a JWKS is configured (read or fetched now, at start)."""
    config = BearerConfig(
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwt_tenant_claim,
        max_json_depth=settings.max_json_depth,
    )
    if settings.jwks_file is not None:
        return BearerVerifier(await asyncio.to_thread(load_jwks_file, settings.jwks_file), config)
    if settings.jwks_url:
        keys = await asyncio.to_thread(fetch_jwks_url, settings.jwks_url)
        return BearerVerifier(keys, config, url=settings.jwks_url)
    return None


def build_services(
    settings: LrsSettings,
    adapters: Adapters,
    clock: Callable[[], datetime],
    bearer: BearerVerifier | None = None,
) -> Services:
    statements_topic = settings.topic(topics.STATEMENTS)
    return Services(
        settings=settings,
        store=adapters.store,
        bus=adapters.bus,
        credentials=adapters.credentials,
        authenticator=Authenticator(
            adapters.credentials, clock, adapters.tenants, bearer, limits=auth_limits(settings)
        ),
        ingest=IngestDeps(
            store=adapters.store,
            bus=adapters.bus,
            attachments=adapters.attachments,
            clock=clock,
            new_id=new_statement_id,
            topic=statements_topic,
            ack_mode=settings.ack_mode,
            ack_timeout=settings.ack_timeout_seconds,
            limits=settings.statement_limits(),
            produce_deadline=timedelta(seconds=settings.produce_timeout_seconds),
        ),
        read=ReadDeps(
            store=adapters.store,
            attachments=adapters.attachments,
            topic=statements_topic,
            partitions=settings.statement_partitions,
            consistency_margin=timedelta(seconds=settings.produce_timeout_seconds),
        ),
        clock=clock,
        documents=adapters.documents,
        activities=adapters.activities,
        agents=adapters.agents,
        tenants=adapters.tenants,
        teams=team_deps(settings, adapters.team_registry, adapters.bus, clock),
        progress=progress_deps(
            settings, adapters.progress, adapters.team_registry, adapters.hub, clock
        ),
        webhooks=adapters.webhooks,
        dead_letters=adapters.dead_letters,
        goals=goal_deps(settings, adapters.goals, adapters.goal_progress, adapters.bus, clock),
        erasure=adapters.erasure,
        erasure_records=adapters.erasure_records,
        organisation=adapters.organisation_progress,
    )


def team_deps(
    settings: LrsSettings, registry: TeamRegistry, bus: EventBus, clock: Callable[[], datetime]
) -> TeamDeps:
    return TeamDeps(registry=registry, bus=bus, clock=clock, topic=settings.topic(topics.TEAMS))


def goal_deps(
    settings: LrsSettings,
    store: GoalStore,
    progress: GoalProgressReader,
    bus: EventBus,
    clock: Callable[[], datetime],
) -> GoalDeps:
    return GoalDeps(
        store=store,
        progress=progress,
        bus=bus,
        clock=clock,
        goals_topic=settings.topic(topics.GOALS),
        changes_topic=settings.topic(topics.GOAL_CHANGES),
    )


def progress_deps(
    settings: LrsSettings,
    progress: ProgressReader,
    registry: TeamRegistry,
    hub: ProgressHub,
    clock: Callable[[], datetime],
) -> ProgressDeps:
    secret = settings.stream_token_secret
    return ProgressDeps(
        progress=progress,
        registry=registry,
        hub=hub,
        clock=clock,
        token_secret=secret.encode() if secret else secrets.token_bytes(32),
        token_ttl=timedelta(seconds=settings.stream_token_ttl_seconds),
        keepalive_seconds=settings.stream_keepalive_seconds,
        retry_ms=settings.stream_retry_ms,
    )


def create_app(
    settings: LrsSettings,
    *,
    adapters: Adapters | None = None,
    connect: Connect | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> FastAPI:
    """The app on `adapters`, or on those `connect` opens for the lifespan of the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bearer = await bearer_verifier(settings)
        with metrics.served_apart(settings.http_host, settings.metrics_port):
            if adapters is not None:
                app.state.services = build_services(settings, adapters, clock, bearer)
                yield
                return
            if connect is None:
                raise RuntimeError("create_app needs adapters or connect (lrs.wiring.api)")
            async with connect(settings) as real:
                app.state.services = build_services(settings, real, clock, bearer)
                yield

    app = FastAPI(
        title="xAPI Learning Record Store",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # lrs.api.openapi serves the docs pages without a CDN
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_docs(app)
    app.include_router(landing.router)
    install_error_handlers(app)
    for router in (about.router, statements.router, documents.router, health.router):
        app.include_router(router)
    if settings.metrics_port is None:
        app.include_router(health.metrics_router)
    app.include_router(agents_activities.router)
    for router in (
        teams.router,
        goals.router,
        organisation.router,
        progress.router,
        dashboard.router,
    ):
        app.include_router(router)
    app.include_router(admin.router)
    app.include_router(webhooks.router)
    app.include_router(export.router)
    install_middleware(app, settings)
    return app


def install_middleware(app: FastAPI, settings: LrsSettings) -> None:
    """Outermost first: the edge (version header, metrics), CORS, the alternate request syntax,
    HEAD as GET, then the error envelope for whatever a route lets out, so that every answer,
    a 500 or 503 included, carries the version and CORS headers. (Starlette adds its own
    last-resort error middleware outside all of these.)"""
    app.add_middleware(ErrorEnvelopeMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(AlternateSyntaxMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
    )
    app.add_middleware(EdgeMiddleware, default_version=settings.default_xapi_version)
