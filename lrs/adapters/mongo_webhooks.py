"""Webhook subscriptions, their outbox and their deliveries on MongoDB (docs/decisions/0016).

    webhook_subscriptions {_id: id, tenant, kind, url, secret, filter, paused, ...,
                           last_success_at, last_failure_at, last_error, delivered_total, ...}
    webhook_items         {_id: "<subscription>|<record position>", subscription, tenant, at,
                           partition, offset, kind, payload}    (the outbox: pending only)
    webhook_deliveries    {_id: delivery id, subscription, tenant, items: [item keys],
                           payloads, state, attempts, ..., created_at}

The consumer upserts items (insert-if-absent: a replayed batch adds nothing). A delivery
worker turns the oldest pending items of its subscription into a delivery whose id is a hash of
the subscription and the item keys, writes it, then removes the items; a delivery already
holding an item (a crash between the two writes) makes the worker drop the item instead of
sending it twice. Delivered deliveries keep their metadata (the delivery log) without payloads, for
LRS_WEBHOOKS_LOG_RETENTION_SECONDS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from lrs.ports.webhooks import NewId
from lrs.webhooks.filters import Filter, parse_filter
from lrs.webhooks.model import DEAD, DELIVERED, OPEN, Attempt, Delivery, Item, Status, Subscription

Doc = dict[str, Any]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class MongoWebhookStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._subs: AsyncCollection[Doc] = db["webhook_subscriptions"]
        self._items: AsyncCollection[Doc] = db["webhook_items"]
        self._deliveries: AsyncCollection[Doc] = db["webhook_deliveries"]

    async def create_indexes(self) -> None:
        await self._subs.create_index([("tenant", ASCENDING)])
        await self._items.create_index(
            [("subscription", ASCENDING), ("at", ASCENDING), ("partition", ASCENDING)]
        )
        await self._deliveries.create_index(
            [("subscription", ASCENDING), ("state", ASCENDING), ("created_at", ASCENDING)]
        )
        await self._deliveries.create_index([("items", ASCENDING)])

    # subscriptions

    async def insert_subscription(self, sub: Subscription) -> None:
        await self._subs.insert_one(_sub_doc(sub))

    async def list_subscriptions(self, tenant: str | None = None) -> list[Subscription]:
        query = {} if tenant is None else {"tenant": tenant}
        docs = await self._subs.find(query).sort("created_at", ASCENDING).to_list(None)
        return [_subscription(d) for d in docs]

    async def get_subscription(self, sub_id: str) -> Subscription | None:
        doc = await self._subs.find_one({"_id": sub_id})
        return _subscription(doc) if doc else None

    async def set_paused(self, sub_id: str, paused: bool) -> Subscription | None:
        doc = await self._subs.find_one_and_update(
            {"_id": sub_id}, {"$set": {"paused": paused}}, return_document=ReturnDocument.AFTER
        )
        return _subscription(doc) if doc else None

    async def delete_subscription(self, sub_id: str) -> bool:
        result = await self._subs.delete_one({"_id": sub_id})
        await self._items.delete_many({"subscription": sub_id})
        await self._deliveries.delete_many({"subscription": sub_id})
        return result.deleted_count > 0

    async def claim(self, sub_id: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take or renew the lease on sending for the subscription: one worker at a time sends
        it, whichever process it runs in. False while another holds an unexpired lease."""
        free = [{"lease_owner": owner}, {"lease_until": None}, {"lease_until": {"$lt": now}}]
        doc = await self._subs.find_one_and_update(
            {"_id": sub_id, "$or": free},
            {"$set": {"lease_owner": owner, "lease_until": until}},
            projection={"_id": 1},
        )
        return doc is not None

    async def release(self, sub_id: str, owner: str) -> None:
        await self._subs.update_one(
            {"_id": sub_id, "lease_owner": owner},
            {"$set": {"lease_owner": None, "lease_until": None}},
        )

    # the outbox

    async def add_items(self, items: Sequence[Item]) -> None:
        """Record items unless already there (a replayed batch changes nothing)."""
        if not items:
            return
        ops = [
            UpdateOne({"_id": f"{i.subscription}|{i.key}"}, {"$setOnInsert": _item_doc(i)}, True)
            for i in items
        ]
        await self._items.bulk_write(ops, ordered=False)

    async def next_delivery(self, sub_id: str, batch_max: int, new_id: NewId) -> Delivery | None:
        """The subscription's oldest open delivery, or a new one of its oldest pending items."""
        doc = await self._deliveries.find_one(
            {"subscription": sub_id, "state": OPEN}, sort=[("created_at", ASCENDING)]
        )
        if doc is not None:
            return _delivery(doc)
        return await self._new_delivery(sub_id, batch_max, new_id)

    async def _new_delivery(self, sub_id: str, batch_max: int, new_id: NewId) -> Delivery | None:
        order = [("at", ASCENDING), ("partition", ASCENDING), ("offset", ASCENDING)]
        docs = await self._items.find({"subscription": sub_id}).sort(order).to_list(batch_max)
        if not docs:
            return None
        keys = [d["key"] for d in docs]
        held = await self._deliveries.distinct(
            "items", {"subscription": sub_id, "items": {"$in": keys}}
        )
        if held:  # a crash left them after their delivery was written: drop, never resend
            await self._items.delete_many({"_id": {"$in": [f"{sub_id}|{k}" for k in held]}})
            return await self._new_delivery(sub_id, batch_max, new_id)
        first = docs[0]
        delivery = Delivery(
            id=new_id(sub_id, keys),
            subscription=sub_id,
            tenant=first["tenant"],
            items=keys,
            payloads=[orjson.loads(d["payload"]) for d in docs],
            created_at=_utc(first["at"]) or datetime.now(UTC),
        )
        learners = [d.get("learner", "") for d in docs]
        await self._deliveries.update_one(
            {"_id": delivery.id},
            {"$setOnInsert": {**_delivery_doc(delivery), "learners": learners}},
            upsert=True,
        )
        await self._items.delete_many({"_id": {"$in": [f"{sub_id}|{k}" for k in keys]}})
        return delivery

    # outcomes

    async def delivered(self, delivery: Delivery, attempt: Attempt, now: datetime) -> None:
        await self._deliveries.update_one(
            {"_id": delivery.id},
            {
                "$set": {
                    "state": DELIVERED,
                    "delivered_at": now,
                    "first_attempt_at": delivery.first_attempt_at or now,
                    "last_attempt_at": now,
                    "last_status": attempt.status,
                    "last_error": None,
                    "conflicts": list(attempt.conflicts),
                    "rejected": list(attempt.rejected),
                    "payloads": [],
                    "learners": [],
                },
                "$inc": {"attempts": 1},
            },
        )
        await self._subs.update_one(
            {"_id": delivery.subscription},
            {
                "$set": {"last_success_at": now},
                "$inc": {
                    "delivered_total": 1,
                    "conflicts_total": len(attempt.conflicts),
                    "rejected_total": len(attempt.rejected),
                },
            },
        )

    async def failed(
        self, delivery: Delivery, attempt: Attempt, now: datetime, retry_at: datetime | None
    ) -> None:
        """A failed attempt: retried at `retry_at`, or dead-lettered when it is None."""
        state = OPEN if retry_at is not None else DEAD
        await self._deliveries.update_one(
            {"_id": delivery.id},
            {
                "$set": {
                    "state": state,
                    "last_attempt_at": now,
                    "next_attempt_at": retry_at,
                    "first_attempt_at": delivery.first_attempt_at or now,
                    "last_status": attempt.status,
                    "last_error": attempt.error,
                },
                "$inc": {"attempts": 1},
            },
        )
        await self._subs.update_one(
            {"_id": delivery.subscription},
            {
                "$set": {"last_failure_at": now, "last_error": attempt.error},
                "$inc": {"failures_total": 1, "dead_total": 0 if retry_at else 1},
            },
        )

    # the delivery log

    async def deliveries(
        self, sub_id: str, state: str | None = None, limit: int = 100
    ) -> list[Delivery]:
        query: Doc = {"subscription": sub_id}
        if state is not None:
            query["state"] = state
        cursor = self._deliveries.find(query, {"payloads": 0})
        docs = await cursor.sort("created_at", DESCENDING).to_list(limit)
        return [_delivery(d) for d in docs]

    async def replay_dead(self, sub_id: str, ids: Sequence[str] | None = None) -> int:
        """Open dead deliveries again (all of the subscription's, or those named), with their
        retry clock and backoff reset; they keep their ids."""
        query: Doc = {"subscription": sub_id, "state": DEAD}
        if ids is not None:
            query["_id"] = {"$in": list(ids)}
        result = await self._deliveries.update_many(
            query,
            {
                "$set": {
                    "state": OPEN,
                    "attempts": 0,
                    "first_attempt_at": None,
                    "next_attempt_at": None,
                }
            },
        )
        return result.modified_count

    async def prune(self, delivered_before: datetime) -> int:
        """Forget delivered deliveries older than that (the log's retention)."""
        result = await self._deliveries.delete_many(
            {"state": DELIVERED, "delivered_at": {"$lt": delivered_before}}
        )
        return result.deleted_count

    async def forget_learners(self, tenant: str, identifiers: Sequence[str]) -> None:
        """Erasure (docs/erasure.md): drop what is still to be sent about these learners
        (canonical identifiers): their pending items, and their events in open or dead
        deliveries (which keep their ids; a delivery left empty is deleted). Delivered
        deliveries keep no payloads and no learners."""
        ids = list(identifiers)
        await self._items.delete_many({"tenant": tenant, "learner": {"$in": ids}})
        query = {"tenant": tenant, "state": {"$in": [OPEN, DEAD]}, "learners": {"$in": ids}}
        async for doc in self._deliveries.find(query):
            kept = [
                (key, payload, learner)
                for key, payload, learner in zip(
                    doc["items"], doc["payloads"], doc["learners"], strict=True
                )
                if learner not in ids
            ]
            if not kept:
                await self._deliveries.delete_one({"_id": doc["_id"]})
                continue
            keys, payloads, learners = (list(column) for column in zip(*kept, strict=True))
            change = {"items": keys, "payloads": payloads, "learners": learners}
            await self._deliveries.update_one({"_id": doc["_id"]}, {"$set": change})

    async def drop_orphans(self) -> None:
        """Remove the items and deliveries of deleted subscriptions (a consumer batch in flight
        while one was deleted may have recorded some). Only ids that have records but no
        subscription document are orphans: the consumer records only for subscriptions it
        has read, and ids are never reused, so a new subscription is never taken for one."""
        held = set(await self._items.distinct("subscription"))
        held |= set(await self._deliveries.distinct("subscription"))
        existing = await self._subs.distinct("_id", {"_id": {"$in": sorted(held)}})
        orphans = sorted(held - set(existing))
        if orphans:
            await self._items.delete_many({"subscription": {"$in": orphans}})
            await self._deliveries.delete_many({"subscription": {"$in": orphans}})

    async def status(self, sub_id: str) -> Status:
        sub = await self._subs.find_one({"_id": sub_id}) or {}
        oldest = await self._items.find_one(
            {"subscription": sub_id}, sort=[("at", ASCENDING)], projection={"at": 1}
        )
        return Status(
            pending_items=await self._items.count_documents({"subscription": sub_id}),
            open_deliveries=await self._count(sub_id, OPEN),
            dead_deliveries=await self._count(sub_id, DEAD),
            oldest_pending_at=_utc(oldest["at"]) if oldest else None,
            last_success_at=_utc(sub.get("last_success_at")),
            last_failure_at=_utc(sub.get("last_failure_at")),
            last_error=sub.get("last_error"),
            delivered_total=int(sub.get("delivered_total", 0)),
            failures_total=int(sub.get("failures_total", 0)),
            conflicts_total=int(sub.get("conflicts_total", 0)),
            rejected_total=int(sub.get("rejected_total", 0)),
        )

    async def _count(self, sub_id: str, state: str) -> int:
        return await self._deliveries.count_documents({"subscription": sub_id, "state": state})

    async def totals(self) -> dict[str, int]:
        """Across subscriptions, for /metrics: pending items, open and dead deliveries."""
        return {
            "pending_items": await self._items.count_documents({}),
            "open_deliveries": await self._deliveries.count_documents({"state": OPEN}),
            "dead_deliveries": await self._deliveries.count_documents({"state": DEAD}),
        }


def _sub_doc(sub: Subscription) -> Doc:
    return {
        "_id": sub.id,
        "tenant": sub.tenant,
        "kind": sub.kind,
        "url": sub.url,
        "secret": sub.secret,
        "filter": sub.filter.as_dict(),
        "created_at": sub.created_at,
        "paused": sub.paused,
        "label": sub.label,
        "username": sub.username,
        "xapi_version": sub.xapi_version,
    }


def _subscription(doc: Mapping[str, Any]) -> Subscription:
    flt: Filter = parse_filter(doc.get("filter"))
    return Subscription(
        id=doc["_id"],
        tenant=doc["tenant"],
        kind=doc["kind"],
        url=doc["url"],
        secret=doc["secret"],
        filter=flt,
        created_at=_utc(doc["created_at"]) or datetime.now(UTC),
        paused=bool(doc.get("paused")),
        label=doc.get("label", ""),
        username=doc.get("username"),
        xapi_version=doc.get("xapi_version", "1.0.3"),
    )


def _item_doc(item: Item) -> Doc:
    return {
        "subscription": item.subscription,
        "tenant": item.tenant,
        "key": item.key,
        "at": item.at,
        "partition": item.partition,
        "offset": item.offset,
        "kind": item.kind,
        "payload": Binary(orjson.dumps(item.payload)),
        "learner": item.learner,
    }


def _delivery_doc(d: Delivery) -> Doc:
    return {
        "subscription": d.subscription,
        "tenant": d.tenant,
        "items": d.items,
        "payloads": [Binary(orjson.dumps(p)) for p in d.payloads],
        "created_at": d.created_at,
        "state": d.state,
        "attempts": 0,
        "first_attempt_at": None,
        "next_attempt_at": None,
        "last_attempt_at": None,
        "last_status": None,
        "last_error": None,
        "delivered_at": None,
        "conflicts": [],
        "rejected": [],
    }


def _delivery(doc: Mapping[str, Any]) -> Delivery:
    return Delivery(
        id=doc["_id"],
        subscription=doc["subscription"],
        tenant=doc["tenant"],
        items=list(doc.get("items") or []),
        payloads=[orjson.loads(p) for p in doc.get("payloads") or []],
        created_at=_utc(doc["created_at"]) or datetime.now(UTC),
        state=doc.get("state", OPEN),
        attempts=int(doc.get("attempts", 0)),
        first_attempt_at=_utc(doc.get("first_attempt_at")),
        next_attempt_at=_utc(doc.get("next_attempt_at")),
        last_attempt_at=_utc(doc.get("last_attempt_at")),
        last_status=doc.get("last_status"),
        last_error=doc.get("last_error"),
        delivered_at=_utc(doc.get("delivered_at")),
        conflicts=list(doc.get("conflicts") or []),
        rejected=list(doc.get("rejected") or []),
    )
