"""The administration API (`/admin`): tenants and credentials, for holders of the `admin`
scope (docs/decisions/0005). Thin handlers over lrs.services.admin; a secret is returned once,
in the answer to the credential's creation, and never again. Dead letters (docs/decisions/0008)
are listed and replayed from the broker's dead-letter topics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from lrs import topics
from lrs.api.deps import Services, ServicesDep, scope_guard
from lrs.erasure import record_view
from lrs.ports.credentials import Credential, Principal
from lrs.ports.dead_letters import DeadLetter, DeadLetterReader, Position, Selection
from lrs.ports.tenants import Tenant
from lrs.security import ADMIN_SCOPE
from lrs.services import admin, erasure
from lrs.services.admin import AdminDeps, CredentialSpec
from lrs.xapi.documents import parse_agent
from lrs.xapi.errors import BadRequest, Unavailable

router = APIRouter(prefix="/admin", tags=["admin"])
Admin = Annotated[Principal, Depends(scope_guard(ADMIN_SCOPE))]
TenantName = Annotated[str, Path(description="the tenant's name")]


class TenantIn(BaseModel):
    name: str = Field(description="1-63 of a-z 0-9 - _, starting with a letter or digit")
    label: str = Field(default="", description="a human-readable name")


class TenantOut(BaseModel):
    name: str = Field(description="the tenant's name (its credentials carry it)")
    label: str = Field(description="a human-readable name")
    disabled: bool = Field(description="a disabled tenant's credentials get 403")
    created_at: datetime

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls(
            name=tenant.name,
            label=tenant.label,
            disabled=tenant.disabled,
            created_at=tenant.created_at,
        )


class CredentialIn(BaseModel):
    tenant: str = Field(description="the tenant whose data the credential reaches")
    scopes: list[str] = Field(
        description="xAPI scopes (statements/write, statements/read, statements/read/mine,"
        " all/read, all, state, define, profile) and/or admin",
        min_length=1,
    )
    label: str = Field(default="", description="what the credential is for")
    expires_at: datetime | None = Field(
        default=None, description="when it stops working (with a time zone); none: never"
    )
    authority: dict[str, Any] | None = Field(
        default=None,
        description="the Agent set as `authority` of its statements (Data 2.4.9);"
        " default: an account on this LRS named by the key",
    )


class CredentialOut(BaseModel):
    key: str = Field(description="the public key (Basic auth user name)")
    tenant: str
    scopes: list[str]
    label: str
    authority: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None
    revoked: bool

    @classmethod
    def of(cls, credential: Credential) -> CredentialOut:
        return cls(
            key=credential.key,
            tenant=credential.tenant,
            scopes=sorted(credential.scopes),
            label=credential.label,
            authority=dict(credential.authority),
            created_at=credential.created_at,
            expires_at=credential.expires_at,
            revoked=credential.revoked,
        )


class CredentialCreated(CredentialOut):
    secret: str = Field(description="the secret (Basic auth password): shown this once only")


def admin_deps(services: Services) -> AdminDeps:
    return AdminDeps(
        tenants=services.tenants,
        credentials=services.credentials,
        clock=services.clock,
        base_url=services.settings.base_url(),
    )


@router.post("/tenants", status_code=201, response_model=TenantOut)
async def create_tenant(body: TenantIn, services: ServicesDep, who: Admin) -> TenantOut:
    """Create a tenant (an LRS "store" of one organisation)."""
    return TenantOut.of(await admin.create_tenant(admin_deps(services), body.name, body.label))


@router.get("/tenants", response_model=list[TenantOut])
async def list_tenants(services: ServicesDep, who: Admin) -> list[TenantOut]:
    """Every tenant, disabled ones included."""
    return [TenantOut.of(t) for t in await admin.list_tenants(admin_deps(services))]


@router.post("/tenants/{name}/disable", response_model=TenantOut)
async def disable_tenant(name: TenantName, services: ServicesDep, who: Admin) -> TenantOut:
    """Refuse the tenant's credentials (403) from now on; its data is kept."""
    tenant = await admin.set_tenant_disabled(admin_deps(services), name, True)
    services.authenticator.forget()
    return TenantOut.of(tenant)


@router.post("/tenants/{name}/enable", response_model=TenantOut)
async def enable_tenant(name: TenantName, services: ServicesDep, who: Admin) -> TenantOut:
    """Accept the tenant's credentials again."""
    tenant = await admin.set_tenant_disabled(admin_deps(services), name, False)
    services.authenticator.forget()
    return TenantOut.of(tenant)


@router.post("/credentials", status_code=201, response_model=CredentialCreated)
async def create_credential(
    body: CredentialIn, services: ServicesDep, who: Admin
) -> CredentialCreated:
    """Create a credential; the answer holds its secret, which is never shown again."""
    spec = CredentialSpec(
        tenant=body.tenant,
        scopes=frozenset(body.scopes),
        label=body.label,
        expires_at=body.expires_at,
        authority=body.authority,
    )
    credential, secret = await admin.create_credential(admin_deps(services), spec)
    return CredentialCreated(**CredentialOut.of(credential).model_dump(), secret=secret)


@router.get("/credentials", response_model=list[CredentialOut])
async def list_credentials(
    services: ServicesDep,
    who: Admin,
    tenant: Annotated[str | None, Query(description="only this tenant's")] = None,
) -> list[CredentialOut]:
    """Credentials (never their secrets), revoked ones included."""
    found = await admin.list_credentials(admin_deps(services), tenant)
    return [CredentialOut.of(c) for c in found]


@router.post("/credentials/{key}/revoke", response_model=CredentialOut)
async def revoke_credential(
    key: Annotated[str, Path(description="the credential's key")], services: ServicesDep, who: Admin
) -> CredentialOut:
    """Revoke a credential for good: requests with it get 401."""
    credential = await admin.revoke_credential(admin_deps(services), key)
    services.authenticator.forget()
    return CredentialOut.of(credential)


# --- dead letters ---------------------------------------------------------------------------


async def dead_letters(services: ServicesDep) -> DeadLetterReader:
    """The dead-letter topics of this LRS (a dependency: tests may replace it)."""
    if services.dead_letters is None:
        raise Unavailable("no broker is configured")
    return services.dead_letters


DeadLetters = Annotated[DeadLetterReader, Depends(dead_letters)]
ConsumedTopic = Annotated[
    str | None, Query(description=f"of this consumed topic: {', '.join(topics.CONSUMED)}")
]


class DeadLetterOut(BaseModel):
    topic: str = Field(description="the dead-letter topic")
    partition: int
    offset: int = Field(description="the dead letter's offset (`lrs dlq replay --offset`)")
    time: datetime = Field(description="when it was dead-lettered")
    consumer: str | None = Field(description="the consumer that failed on it")
    error_class: str | None
    error_message: str | None
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    key: str | None = Field(description="the record's key (UTF-8, invalid bytes replaced)")
    value_bytes: int = Field(description="size of the record's value")
    replayable: bool = Field(description="false when the value was too large to keep")

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        return cls(
            topic=letter.topic,
            partition=letter.partition,
            offset=letter.offset,
            time=letter.time,
            consumer=letter.consumer,
            error_class=letter.error_class,
            error_message=letter.error_message,
            original_topic=letter.original_topic,
            original_partition=letter.original_partition,
            original_offset=letter.original_offset,
            key=letter.key.decode("utf-8", "replace") if letter.key is not None else None,
            value_bytes=len(letter.value or b""),
            replayable=letter.replayable,
        )


class DeadLetterPage(BaseModel):
    dead_letters: list[DeadLetterOut]
    more: str | None = Field(
        description="pass as `cursor` for the next page (a page that read for 30 s ends early"
        " with fewer than `limit`); null at the end"
    )


class ReplayIn(BaseModel):
    topic: str = Field(description=f"the consumed topic: {', '.join(topics.CONSUMED)}")
    consumer: str | None = Field(default=None, description="only this consumer's")
    error_class: str | None = Field(default=None, description="only with this error class")
    offsets: list[int] | None = Field(
        default=None, description="these offsets of the dead-letter topic (`--offset`)"
    )
    all: bool = Field(
        default=False, description="every selected dead letter of the topic (`--all`)"
    )

    def explicit_offsets(self) -> list[int] | None:
        """The offsets to replay, None for all: as `lrs dlq replay`, the caller says which
        (`offsets`) or says all (`"all": true`), never both, never neither."""
        if self.all == (self.offsets is not None) or self.offsets == []:
            raise BadRequest(
                'say which dead letters to replay: "offsets": [...] or "all": true (not both)'
            )
        return self.offsets


class ReplayOut(BaseModel):
    replayed: int = Field(description="dead letters produced again for their consumer")
    not_replayable: int = Field(description="selected dead letters whose value was not kept")


def selection(
    topic: str | None,
    consumer: str | None = None,
    error_class: str | None = None,
    offsets: list[int] | None = None,
) -> Selection:
    try:
        chosen = frozenset(offsets) if offsets is not None else None
        return Selection(topic, consumer, error_class, chosen)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


def resume_at(cursor: str | None) -> Position | None:
    try:
        return Position.parse(cursor) if cursor else None
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc


@router.get("/dead-letters", response_model=DeadLetterPage)
async def list_dead_letters(
    who: Admin,
    letters: DeadLetters,
    topic: ConsumedTopic = None,
    consumer: Annotated[str | None, Query(description="of this consumer")] = None,
    error_class: Annotated[str | None, Query(description="with this error class")] = None,
    cursor: Annotated[str | None, Query(description="`more` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeadLetterPage:
    """Dead letters of every consumer, oldest first per dead-letter topic, a page at a time."""
    chosen = selection(topic, consumer, error_class)
    page = await letters.page(chosen, resume_at(cursor), limit)
    more = page.more.token() if page.more else None
    return DeadLetterPage(dead_letters=[DeadLetterOut.of(d) for d in page.letters], more=more)


@router.post("/dead-letters/replay", response_model=ReplayOut)
async def replay_dead_letters(who: Admin, letters: DeadLetters, body: ReplayIn) -> ReplayOut:
    """Send the selected dead letters back to the consumer that failed on them (after a fix)."""
    chosen = selection(body.topic, body.consumer, body.error_class, body.explicit_offsets())
    found = await letters.all(chosen)
    replayed = await letters.replay(found)
    return ReplayOut(replayed=replayed, not_replayable=len(found) - replayed)


# --- erasure of a learner (docs/erasure.md) -------------------------------------------------


class ErasureOut(BaseModel):
    id: str = Field(description="the audit record's id")
    tenant: str
    agent_hash: str = Field(description="SHA-256 of tenant, U+001F, identifier: never the Agent")
    requested_by: str = Field(description="the key of the credential that asked")
    started_at: datetime
    completed_at: datetime | None = Field(description="none while it runs (or if it died)")
    counts: dict[str, int] = Field(description="what was removed or changed, per kind")


@router.delete("/agents", response_model=ErasureOut)
async def erase_agent(
    services: ServicesDep,
    who: Admin,
    agent: Annotated[str, Query(description="the learner: an Agent as JSON (one identifier)")],
    tenant: Annotated[str | None, Query(description="default: the caller's tenant")] = None,
) -> ErasureOut:
    """Erase a learner: their statements, documents, Person and progress (docs/erasure.md).
    Idempotent: run it again to complete an erasure that was interrupted."""
    tenant = tenant or who.tenant
    admin.check_tenant_name(tenant)
    canonical, _ = parse_agent(agent, services.settings.statement_limits())
    async with services.erasure(services.settings, services.clock) as deps:
        record = await erasure.erase_agent(deps, tenant, canonical, who.key)
    return ErasureOut.model_validate(record_view(record))


@router.get("/erasures", response_model=list[ErasureOut])
async def list_erasures(
    services: ServicesDep,
    who: Admin,
    tenant: Annotated[str | None, Query(description="only this tenant's")] = None,
) -> list[ErasureOut]:
    """The audit records of erasures, newest first (no identifier, no content)."""
    async with services.erasure_records(services.settings) as store:
        records = await store.list_erasures(tenant)
    return [ErasureOut.model_validate(record_view(r)) for r in records]
