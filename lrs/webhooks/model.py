"""The records of webhooks and forwarding: subscriptions, outbox items, deliveries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lrs.webhooks.filters import Filter

KINDS = ("webhook", "forward")
# A delivery is `open` (to send, or being retried), `delivered`, or `dead` (retried for
# LRS_WEBHOOKS_RETRY_FOR_SECONDS without success; `replay` opens it again).
OPEN, DELIVERED, DEAD = "open", "delivered", "dead"
STATES = (OPEN, DELIVERED, DEAD)


@dataclass(frozen=True)
class Subscription:
    id: str
    tenant: str
    kind: str  # "webhook" (signed JSON batches) or "forward" (xAPI Statement API)
    url: str
    secret: str  # HMAC key (webhook) or Basic password (forward)
    filter: Filter
    created_at: datetime
    paused: bool = False
    label: str = ""
    username: str | None = None  # forward: Basic user name
    xapi_version: str = "1.0.3"  # forward: X-Experience-API-Version


@dataclass(frozen=True)
class Item:
    """One event waiting for its subscription's delivery worker (the outbox): what a consumed
    record carries for the subscription. `key` (the record's position) makes it idempotent."""

    subscription: str
    tenant: str
    key: str
    at: datetime  # when the consumer recorded it (the order of delivery, with the key)
    partition: int
    offset: int
    kind: str  # "statement" | "progress"
    payload: dict[str, Any]
    learner: str = ""  # the learner it is about (its record's key), for erasure; "" a team


@dataclass
class Delivery:
    id: str
    subscription: str
    tenant: str
    items: list[str]
    payloads: list[dict[str, Any]]
    created_at: datetime
    state: str = OPEN
    attempts: int = 0
    first_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    conflicts: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Attempt:
    """The outcome of sending a delivery once."""

    ok: bool
    status: int | None = None
    error: str | None = None
    conflicts: tuple[str, ...] = ()  # forward: ids the target holds with other content (409)
    rejected: tuple[str, ...] = ()  # forward: ids the target refuses as invalid (400)


@dataclass(frozen=True)
class Status:
    """A subscription's delivery status (admin API, CLI)."""

    pending_items: int
    open_deliveries: int
    dead_deliveries: int
    oldest_pending_at: datetime | None
    last_success_at: datetime | None
    last_failure_at: datetime | None
    last_error: str | None
    delivered_total: int
    failures_total: int
    conflicts_total: int
    rejected_total: int
