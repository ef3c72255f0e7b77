"""Webhook subscriptions and forwarding, for the `/admin/webhooks` API and `lrs webhooks`
(docs/decisions/0016). Thin over the store; the rules are in lrs.webhooks."""

from __future__ import annotations

import asyncio
import secrets
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lrs.ports.webhooks import WebhookStore
from lrs.webhooks.filters import parse_filter
from lrs.webhooks.model import KINDS, STATES, Delivery, Status, Subscription
from lrs.webhooks.targets import check_addresses, target_host
from lrs.xapi.errors import BadRequest, NotFound

Resolver = Callable[[str, int], Awaitable[list[str]]]
FORWARD_VERSIONS = ("1.0.3", "2.0.0")
MAX_LABEL_CHARS = 200


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (none when it does not resolve)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


@dataclass
class WebhookDeps:
    store: WebhookStore
    clock: Callable[[], datetime]
    allow_private: bool = False  # LRS_WEBHOOKS_ALLOW_PRIVATE_TARGETS
    resolver: Resolver = resolve
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class SubscriptionSpec:
    tenant: str
    url: str
    kind: str = "webhook"
    filter: dict[str, Any] | None = None
    secret: str | None = None  # webhook: generated when absent; forward: the Basic password
    label: str = ""
    username: str | None = None
    xapi_version: str = "1.0.3"


async def check_target(url: str, allow_private: bool, resolver: Resolver = resolve) -> list[str]:
    """The SSRF rule (lrs.webhooks.targets), on what the URL's host resolves to now; the
    addresses checked (a sender connects to one of them, not to a new DNS answer)."""
    host, port = target_host(url)
    addresses = await resolver(host, port)
    check_addresses(host, addresses, allow_private)
    return addresses


def _check_spec(spec: SubscriptionSpec) -> None:
    if spec.kind not in KINDS:
        raise BadRequest(f"webhook kind: one of {', '.join(KINDS)}")
    if len(spec.label) > MAX_LABEL_CHARS:
        raise BadRequest(f"webhook label: at most {MAX_LABEL_CHARS} characters")
    if spec.kind == "forward":
        if not spec.username or not spec.secret:
            raise BadRequest("forwarding needs `username` and `secret` (Basic credentials)")
        if spec.xapi_version not in FORWARD_VERSIONS:
            raise BadRequest(f"forwarding xapi_version: one of {', '.join(FORWARD_VERSIONS)}")
    elif spec.secret is not None and len(spec.secret) < 16:
        raise BadRequest("webhook secret: at least 16 characters (or none: one is generated)")


async def create_subscription(deps: WebhookDeps, spec: SubscriptionSpec) -> Subscription:
    """A new subscription; its secret is in the answer (the API shows it this once)."""
    _check_spec(spec)
    flt = parse_filter(spec.filter)
    if spec.kind == "forward" and flt.progress:
        raise BadRequest("forwarding sends statements only: its filter cannot ask for progress")
    await check_target(spec.url, deps.allow_private, deps.resolver)
    sub = Subscription(
        id=deps.new_id(),
        tenant=spec.tenant,
        kind=spec.kind,
        url=spec.url,
        secret=spec.secret or secrets.token_urlsafe(32),
        filter=flt,
        created_at=deps.clock(),
        label=spec.label,
        username=spec.username if spec.kind == "forward" else None,
        xapi_version=spec.xapi_version,
    )
    await deps.store.insert_subscription(sub)
    return sub


async def list_subscriptions(deps: WebhookDeps, tenant: str | None) -> list[Subscription]:
    return await deps.store.list_subscriptions(tenant)


async def get_subscription(deps: WebhookDeps, sub_id: str) -> Subscription:
    sub = await deps.store.get_subscription(sub_id)
    if sub is None:
        raise NotFound(f"no webhook subscription {sub_id!r}")
    return sub


async def set_paused(deps: WebhookDeps, sub_id: str, paused: bool) -> Subscription:
    sub = await deps.store.set_paused(sub_id, paused)
    if sub is None:
        raise NotFound(f"no webhook subscription {sub_id!r}")
    return sub


async def delete_subscription(deps: WebhookDeps, sub_id: str) -> None:
    if not await deps.store.delete_subscription(sub_id):
        raise NotFound(f"no webhook subscription {sub_id!r}")


async def deliveries(
    deps: WebhookDeps, sub_id: str, state: str | None, limit: int
) -> list[Delivery]:
    if state is not None and state not in STATES:
        raise BadRequest(f"delivery state: one of {', '.join(STATES)}")
    await get_subscription(deps, sub_id)
    return await deps.store.deliveries(sub_id, state, limit)


async def replay(deps: WebhookDeps, sub_id: str, ids: Sequence[str] | None) -> int:
    """Send dead-lettered deliveries again (with their ids); how many were reopened."""
    await get_subscription(deps, sub_id)
    return await deps.store.replay_dead(sub_id, ids)


async def status(deps: WebhookDeps, sub_id: str) -> Status:
    await get_subscription(deps, sub_id)
    return await deps.store.status(sub_id)
