"""Webhook subscriptions, their outbox and their deliveries in memory: the reference fake of
`lrs.ports.webhooks` (`WebhookStore` and `WebhookQueue`), held to
`lrs.adapters.mongo_webhooks.MongoWebhookStore` by tests/contract/test_webhook_store.py.

Its rules are the MongoDB adapter's: an item is recorded once per (subscription, key); a new
delivery takes the oldest pending items (by time, partition, offset) and removes them, and an
item some delivery already holds is dropped instead of sent twice; the oldest open delivery is
served first; the log lists deliveries newest first, without their payloads. Payloads go
through JSON on the way in, so a caller's later change to a dict never reaches the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from lrs.ports.webhooks import NewId
from lrs.webhooks.model import DEAD, DELIVERED, OPEN, Attempt, Delivery, Item, Status, Subscription


@dataclass
class _Tally:
    """What a subscription's document carries besides the subscription: lease and counters."""

    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None
    delivered_total: int = 0
    failures_total: int = 0
    conflicts_total: int = 0
    rejected_total: int = 0
    dead_total: int = 0


@dataclass
class InMemoryWebhookStore:
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    items: dict[tuple[str, str], Item] = field(default_factory=dict)  # (subscription, key)
    stored_deliveries: dict[str, Delivery] = field(default_factory=dict)
    _tallies: dict[str, _Tally] = field(default_factory=dict)

    async def create_indexes(self) -> None:
        return None

    # subscriptions

    async def insert_subscription(self, sub: Subscription) -> None:
        if sub.id in self.subscriptions:
            raise KeyError(f"subscription {sub.id!r} exists")
        self.subscriptions[sub.id] = sub
        self._tallies[sub.id] = _Tally()

    async def list_subscriptions(self, tenant: str | None = None) -> list[Subscription]:
        chosen = [s for s in self.subscriptions.values() if tenant in (None, s.tenant)]
        return sorted(chosen, key=lambda s: s.created_at)

    async def get_subscription(self, sub_id: str) -> Subscription | None:
        return self.subscriptions.get(sub_id)

    async def set_paused(self, sub_id: str, paused: bool) -> Subscription | None:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            return None
        self.subscriptions[sub_id] = dataclasses.replace(sub, paused=paused)
        return self.subscriptions[sub_id]

    async def delete_subscription(self, sub_id: str) -> bool:
        existed = self.subscriptions.pop(sub_id, None) is not None
        self._tallies.pop(sub_id, None)
        self._forget_records(sub_id)
        return existed

    def _forget_records(self, sub_id: str) -> None:
        self.items = {k: i for k, i in self.items.items() if k[0] != sub_id}
        self.stored_deliveries = {
            k: d for k, d in self.stored_deliveries.items() if d.subscription != sub_id
        }

    async def claim(self, sub_id: str, owner: str, now: datetime, until: datetime) -> bool:
        tally = self._tallies.get(sub_id)
        if tally is None:
            return False
        free = tally.lease_owner == owner or tally.lease_until is None or tally.lease_until < now
        if free:
            tally.lease_owner, tally.lease_until = owner, until
        return free

    async def release(self, sub_id: str, owner: str) -> None:
        tally = self._tallies.get(sub_id)
        if tally is not None and tally.lease_owner == owner:
            tally.lease_owner, tally.lease_until = None, None

    # the outbox

    async def add_items(self, items: Sequence[Item]) -> None:
        for item in items:
            copy = dataclasses.replace(item, payload=_json_copy(item.payload))
            self.items.setdefault((item.subscription, item.key), copy)

    async def next_delivery(self, sub_id: str, batch_max: int, new_id: NewId) -> Delivery | None:
        opened = [d for d in self.stored_deliveries.values() if _is(d, sub_id, OPEN)]
        if opened:
            return _copy(min(opened, key=lambda d: d.created_at))
        return self._new_delivery(sub_id, batch_max, new_id)

    def _new_delivery(self, sub_id: str, batch_max: int, new_id: NewId) -> Delivery | None:
        oldest = self._oldest_items(sub_id, batch_max)
        held = self._held(sub_id, [i.key for i in oldest])
        if held:  # a crash left them after their delivery was written: drop, never resend
            for key in held:
                del self.items[sub_id, key]
            return self._new_delivery(sub_id, batch_max, new_id)
        if not oldest:
            return None
        keys = [i.key for i in oldest]
        delivery = Delivery(
            id=new_id(sub_id, keys),
            subscription=sub_id,
            tenant=oldest[0].tenant,
            items=keys,
            payloads=[_json_copy(i.payload) for i in oldest],
            created_at=oldest[0].at,
        )
        self.stored_deliveries.setdefault(delivery.id, _copy(delivery))
        for key in keys:
            del self.items[sub_id, key]
        return delivery

    def _oldest_items(self, sub_id: str, limit: int) -> list[Item]:
        pending = [i for (s, _), i in self.items.items() if s == sub_id]
        return sorted(pending, key=lambda i: (i.at, i.partition, i.offset))[:limit]

    def _held(self, sub_id: str, keys: Sequence[str]) -> set[str]:
        """Those of `keys` a delivery of the subscription already holds."""
        wanted = set(keys)
        return {
            key
            for d in self.stored_deliveries.values()
            if d.subscription == sub_id
            for key in d.items
            if key in wanted
        }

    # outcomes

    async def delivered(self, delivery: Delivery, attempt: Attempt, now: datetime) -> None:
        stored = self.stored_deliveries.get(delivery.id)
        if stored is not None:
            stored.state, stored.delivered_at, stored.last_attempt_at = DELIVERED, now, now
            stored.first_attempt_at = delivery.first_attempt_at or now
            stored.last_status, stored.last_error = attempt.status, None
            stored.conflicts, stored.rejected = list(attempt.conflicts), list(attempt.rejected)
            stored.payloads = []
            stored.attempts += 1
        tally = self._tallies.get(delivery.subscription)
        if tally is not None:
            tally.last_success_at = now
            tally.delivered_total += 1
            tally.conflicts_total += len(attempt.conflicts)
            tally.rejected_total += len(attempt.rejected)

    async def failed(
        self, delivery: Delivery, attempt: Attempt, now: datetime, retry_at: datetime | None
    ) -> None:
        stored = self.stored_deliveries.get(delivery.id)
        if stored is not None:
            stored.state = OPEN if retry_at is not None else DEAD
            stored.last_attempt_at, stored.next_attempt_at = now, retry_at
            stored.first_attempt_at = delivery.first_attempt_at or now
            stored.last_status, stored.last_error = attempt.status, attempt.error
            stored.attempts += 1
        tally = self._tallies.get(delivery.subscription)
        if tally is not None:
            tally.last_failure_at, tally.last_error = now, attempt.error
            tally.failures_total += 1
            tally.dead_total += 0 if retry_at else 1

    # the delivery log

    async def deliveries(
        self, sub_id: str, state: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        chosen = [
            d
            for d in self.stored_deliveries.values()
            if d.subscription == sub_id and state in (None, d.state)
        ]
        newest = sorted(chosen, key=lambda d: d.created_at, reverse=True)[:limit]
        return [dataclasses.replace(_copy(d), payloads=[]) for d in newest]

    async def replay_dead(self, sub_id: str, ids: Sequence[str] | None = None) -> int:
        chosen = [
            d
            for d in self.stored_deliveries.values()
            if _is(d, sub_id, DEAD) and (ids is None or d.id in ids)
        ]
        for d in chosen:
            d.state, d.attempts, d.first_attempt_at, d.next_attempt_at = OPEN, 0, None, None
        return len(chosen)

    async def prune(self, delivered_before: datetime) -> int:
        old = [
            k
            for k, d in self.stored_deliveries.items()
            if d.state == DELIVERED
            and d.delivered_at is not None
            and d.delivered_at < delivered_before
        ]
        for key in old:
            del self.stored_deliveries[key]
        return len(old)

    async def drop_orphans(self) -> None:
        held = {s for s, _ in self.items} | {
            d.subscription for d in self.stored_deliveries.values()
        }
        for orphan in held - set(self.subscriptions):
            self._forget_records(orphan)

    async def status(self, sub_id: str) -> Status:
        tally = self._tallies.get(sub_id) or _Tally()
        pending = [i.at for (s, _), i in self.items.items() if s == sub_id]
        return Status(
            pending_items=len(pending),
            open_deliveries=self._count(sub_id, OPEN),
            dead_deliveries=self._count(sub_id, DEAD),
            oldest_pending_at=min(pending, default=None),
            last_success_at=tally.last_success_at,
            last_failure_at=tally.last_failure_at,
            last_error=tally.last_error,
            delivered_total=tally.delivered_total,
            failures_total=tally.failures_total,
            conflicts_total=tally.conflicts_total,
            rejected_total=tally.rejected_total,
        )

    def _count(self, sub_id: str | None, state: str) -> int:
        return sum(
            1
            for d in self.stored_deliveries.values()
            if sub_id in (None, d.subscription) and d.state == state
        )

    async def totals(self) -> dict[str, int]:
        return {
            "pending_items": len(self.items),
            "open_deliveries": self._count(None, OPEN),
            "dead_deliveries": self._count(None, DEAD),
        }


def _is(delivery: Delivery, sub_id: str, state: str) -> bool:
    return delivery.subscription == sub_id and delivery.state == state


def _json_copy(payload: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = orjson.loads(orjson.dumps(payload))
    return copied


def _copy(delivery: Delivery) -> Delivery:
    """A copy whose lists the caller may change without changing the stored delivery."""
    return dataclasses.replace(
        delivery,
        items=list(delivery.items),
        payloads=[_json_copy(p) for p in delivery.payloads],
        conflicts=list(delivery.conflicts),
        rejected=list(delivery.rejected),
    )
