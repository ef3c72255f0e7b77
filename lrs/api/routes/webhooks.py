"""`/admin/webhooks`: webhook and forwarding subscriptions, their status, delivery log and
dead letters, for holders of the `admin` scope (docs/decisions/0005, 0016). Thin handlers over
lrs.services.webhooks; a subscription's secret is returned once, in the answer to its
creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field

from lrs.api.deps import ServicesDep, scope_guard
from lrs.ports.credentials import Principal
from lrs.security import ADMIN_SCOPE
from lrs.services import webhooks
from lrs.services.webhooks import SubscriptionSpec, WebhookDeps
from lrs.webhooks.model import Delivery, Status, Subscription
from lrs.xapi.errors import Unavailable

router = APIRouter(prefix="/admin/webhooks", tags=["admin"])
Admin = Annotated[Principal, Depends(scope_guard(ADMIN_SCOPE))]
SubscriptionId = Annotated[str, Path(description="the subscription's id")]


async def webhook_deps(services: ServicesDep) -> WebhookDeps:
    store = services.webhooks
    if store is None:
        raise Unavailable("webhooks need the MongoDB store")
    return WebhookDeps(
        store=store,
        clock=services.clock,
        allow_private=services.settings.webhooks_allow_private_targets,
    )


Deps = Annotated[WebhookDeps, Depends(webhook_deps)]


class SubscriptionIn(BaseModel):
    url: str = Field(description="webhook: where batches are POSTed; forward: the xAPI endpoint")
    kind: Literal["webhook", "forward"] = "webhook"
    tenant: str | None = Field(default=None, description="default: the caller's tenant")
    filter: dict[str, Any] | None = Field(
        default=None,
        description="verbs, activities, related_activities, actors, teams, registrations,"
        " statements, progress (docs/webhooks.md); none: every statement",
    )
    secret: str | None = Field(
        default=None,
        description="webhook: HMAC key (at least 16 characters; default: generated);"
        " forward: the Basic password",
    )
    username: str | None = Field(default=None, description="forward: the Basic user name")
    xapi_version: str = Field(default="1.0.3", description="forward: 1.0.3 or 2.0.0")
    label: str = ""


class SubscriptionOut(BaseModel):
    id: str
    tenant: str
    kind: str
    url: str
    filter: dict[str, Any]
    paused: bool
    label: str
    username: str | None
    xapi_version: str
    created_at: datetime

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls(
            id=sub.id,
            tenant=sub.tenant,
            kind=sub.kind,
            url=sub.url,
            filter=sub.filter.as_dict(),
            paused=sub.paused,
            label=sub.label,
            username=sub.username,
            xapi_version=sub.xapi_version,
            created_at=sub.created_at,
        )


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="the signing secret (webhook): shown this once only")


class StatusOut(BaseModel):
    pending_items: int = Field(description="events recorded, not yet in a delivery")
    open_deliveries: int = Field(description="deliveries being sent or waiting for a retry")
    dead_deliveries: int = Field(description="dead-lettered deliveries (POST .../replay)")
    lag_seconds: float | None = Field(description="age of the oldest pending event")
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    delivered_total: int
    failures_total: int
    conflicts_total: int = Field(description="forward: statements the target refused with 409")
    rejected_total: int = Field(description="forward: statements the target refused with 400")

    @classmethod
    def of(cls, status: Status, now: datetime) -> StatusOut:
        oldest = status.oldest_pending_at
        return cls(
            lag_seconds=(now - oldest).total_seconds() if oldest else None,
            **{k: v for k, v in vars(status).items() if k != "oldest_pending_at"},
        )


class DeliveryOut(BaseModel):
    id: str = Field(description="the delivery id (header X-LRS-Webhook-Id)")
    state: str = Field(description="open, delivered or dead")
    items: int = Field(description="events in the delivery")
    attempts: int
    created_at: datetime
    first_attempt_at: datetime | None
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    conflicts: list[str] = Field(description="forward: statement ids the target refused (409)")
    rejected: list[str] = Field(description="forward: statement ids the target refused (400)")

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        left_out = ("items", "payloads", "subscription", "tenant")
        fields = {k: v for k, v in vars(d).items() if k not in left_out}
        return cls(items=len(d.items), **fields)


class ReplayIn(BaseModel):
    deliveries: list[str] | None = Field(default=None, description="these ids; none: all dead")


class ReplayOut(BaseModel):
    replayed: int


@router.post("", status_code=201, response_model=SubscriptionCreated)
async def create(body: SubscriptionIn, deps: Deps, who: Admin) -> SubscriptionCreated:
    """Subscribe a URL to the tenant's statements (webhook) or forward them to another LRS."""
    spec = SubscriptionSpec(
        tenant=body.tenant or who.tenant,
        url=body.url,
        kind=body.kind,
        filter=body.filter,
        secret=body.secret,
        label=body.label,
        username=body.username,
        xapi_version=body.xapi_version,
    )
    sub = await webhooks.create_subscription(deps, spec)
    return SubscriptionCreated(**SubscriptionOut.of(sub).model_dump(), secret=sub.secret)


@router.get("", response_model=list[SubscriptionOut])
async def list_all(
    deps: Deps,
    who: Admin,
    tenant: Annotated[str | None, Query(description="only this tenant's")] = None,
) -> list[SubscriptionOut]:
    """Subscriptions (never their secrets)."""
    return [SubscriptionOut.of(s) for s in await webhooks.list_subscriptions(deps, tenant)]


@router.get("/{sub_id}", response_model=SubscriptionOut)
async def get_one(sub_id: SubscriptionId, deps: Deps, who: Admin) -> SubscriptionOut:
    return SubscriptionOut.of(await webhooks.get_subscription(deps, sub_id))


@router.post("/{sub_id}/pause", response_model=SubscriptionOut)
async def pause(sub_id: SubscriptionId, deps: Deps, who: Admin) -> SubscriptionOut:
    """Stop sending; matching events are still recorded and sent on resume."""
    return SubscriptionOut.of(await webhooks.set_paused(deps, sub_id, True))


@router.post("/{sub_id}/resume", response_model=SubscriptionOut)
async def resume(sub_id: SubscriptionId, deps: Deps, who: Admin) -> SubscriptionOut:
    return SubscriptionOut.of(await webhooks.set_paused(deps, sub_id, False))


@router.delete("/{sub_id}", status_code=204)
async def delete(sub_id: SubscriptionId, deps: Deps, who: Admin) -> Response:
    """Delete the subscription with its pending events and delivery log."""
    await webhooks.delete_subscription(deps, sub_id)
    return Response(status_code=204)


@router.get("/{sub_id}/status", response_model=StatusOut)
async def status(sub_id: SubscriptionId, deps: Deps, who: Admin) -> StatusOut:
    """Pending events, lag, last success and failures of the subscription."""
    return StatusOut.of(await webhooks.status(deps, sub_id), deps.clock())


@router.get("/{sub_id}/deliveries", response_model=list[DeliveryOut])
async def deliveries(
    sub_id: SubscriptionId,
    deps: Deps,
    who: Admin,
    state: Annotated[str | None, Query(description="open, delivered or dead")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryOut]:
    """The delivery log, newest first."""
    return [DeliveryOut.of(d) for d in await webhooks.deliveries(deps, sub_id, state, limit)]


@router.post("/{sub_id}/replay", response_model=ReplayOut)
async def replay(sub_id: SubscriptionId, body: ReplayIn, deps: Deps, who: Admin) -> ReplayOut:
    """Send dead-lettered deliveries again, with their original ids."""
    return ReplayOut(replayed=await webhooks.replay(deps, sub_id, body.deliveries))
