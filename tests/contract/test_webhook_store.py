"""The webhook contract (lrs.ports.webhooks: `WebhookStore`, what the admin API reads and
writes, and `WebhookQueue`, what the webhook consumers and delivery workers use), run against
the in-memory fake and the MongoDB adapter on the real (embedded) store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest

from lrs.adapters.memory_webhooks import InMemoryWebhookStore
from lrs.adapters.mongo_webhooks import MongoWebhookStore
from lrs.ports.webhooks import WebhookQueue, WebhookStore
from lrs.webhooks.filters import parse_filter
from lrs.webhooks.model import DEAD, DELIVERED, OPEN, Attempt, Delivery, Item, Subscription
from tests.contract.conftest import KINDS, fresh_database

T0 = datetime(2026, 11, 30, 10, 0, 0, 123000, tzinfo=UTC)  # milliseconds, as stores keep


class Webhooks(WebhookStore, WebhookQueue, Protocol):
    """Both roles, as each adapter plays them."""


@pytest.fixture(params=KINDS)
async def hooks(request: pytest.FixtureRequest) -> AsyncIterator[Webhooks]:
    if request.param == "memory":
        yield InMemoryWebhookStore()
        return
    async with fresh_database(request) as db:
        store = MongoWebhookStore(db)
        await store.create_indexes()
        yield store


def sub(sub_id: str, tenant: str = "acme", minutes: int = 0) -> Subscription:
    created = T0 + timedelta(minutes=minutes)
    return Subscription(
        sub_id, tenant, "webhook", "https://x.example/", "s" * 16, parse_filter({}), created
    )


def item(sub_id: str, offset: int, *, seconds: int = 0, partition: int = 0, **payload: Any) -> Item:
    key = f"lrs.statements.stored/{partition}/{offset}"
    at = T0 + timedelta(seconds=seconds)
    body = payload or {"offset": offset}
    return Item(sub_id, "acme", key, at, partition, offset, "statement", body, "mbox:a")


def new_id(sub_id: str, keys: Sequence[str]) -> str:
    return f"{sub_id}:" + ",".join(keys)


async def pending_keys(hooks: Webhooks, sub_id: str) -> list[str]:
    """Every pending item's key, in the order deliveries take them (each delivered at once)."""
    keys: list[str] = []
    while (delivery := await hooks.next_delivery(sub_id, 1, new_id)) is not None:
        keys += delivery.items
        await hooks.delivered(delivery, Attempt(True, 200), T0)
    return keys


async def test_subscriptions_are_listed_oldest_first_paused_and_deleted(hooks: Webhooks) -> None:
    for made in (sub("b", minutes=2), sub("a", minutes=1), sub("c", "other")):
        await hooks.insert_subscription(made)
    assert [s.id for s in await hooks.list_subscriptions()] == ["c", "a", "b"]
    assert [s.id for s in await hooks.list_subscriptions("acme")] == ["a", "b"]
    assert await hooks.get_subscription("a") == sub("a", minutes=1)
    assert await hooks.get_subscription("nope") is None
    paused = await hooks.set_paused("a", True)
    assert paused is not None
    assert paused.paused
    assert (await hooks.get_subscription("a")) == paused
    assert await hooks.set_paused("nope", True) is None
    assert await hooks.delete_subscription("a")
    assert not await hooks.delete_subscription("a")
    assert await hooks.get_subscription("a") is None
    assert [s.id for s in await hooks.list_subscriptions("acme")] == ["b"]


async def test_deleting_a_subscription_forgets_its_items_and_deliveries(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("a"))
    await hooks.insert_subscription(sub("b"))
    await hooks.add_items([item("a", 1), item("a", 2), item("b", 1)])
    assert await hooks.next_delivery("a", 1, new_id) is not None
    await hooks.delete_subscription("a")
    assert await hooks.totals() == {"pending_items": 1, "open_deliveries": 0, "dead_deliveries": 0}
    assert await hooks.deliveries("a") == []


async def test_one_worker_holds_the_lease_until_it_expires_or_is_released(
    hooks: Webhooks,
) -> None:
    await hooks.insert_subscription(sub("a"))
    later = T0 + timedelta(seconds=30)
    assert await hooks.claim("a", "w1", T0, later)
    assert not await hooks.claim("a", "w2", T0 + timedelta(seconds=29), later)
    assert await hooks.claim("a", "w1", T0 + timedelta(seconds=10), later)  # a renewal
    await hooks.release("a", "w2")  # not the holder: nothing changes
    assert not await hooks.claim("a", "w2", T0 + timedelta(seconds=20), later)
    assert await hooks.claim("a", "w2", later + timedelta(seconds=1), later + timedelta(60))
    await hooks.release("a", "w2")
    assert await hooks.claim("a", "w3", T0, later)
    assert not await hooks.claim("nope", "w1", T0, later)


async def test_an_item_is_recorded_once_per_subscription_and_key(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("a"))
    await hooks.add_items([item("a", 1, seconds=5, first=True), item("a", 2, seconds=9)])
    await hooks.add_items([item("a", 1, seconds=1, first=False)])  # a replayed batch
    await hooks.add_items([])
    status = await hooks.status("a")
    assert (status.pending_items, status.oldest_pending_at) == (2, T0 + timedelta(seconds=5))
    delivery = await hooks.next_delivery("a", 10, new_id)
    assert delivery is not None
    assert delivery.payloads == [{"first": True}, {"offset": 2}]


async def test_a_delivery_takes_the_oldest_items_and_is_served_until_settled(
    hooks: Webhooks,
) -> None:
    await hooks.insert_subscription(sub("a"))
    assert await hooks.next_delivery("a", 2, new_id) is None
    await hooks.add_items(
        [
            item("a", 9, seconds=2),
            item("a", 4, seconds=1, partition=1),
            item("a", 7, seconds=1),
            item("a", 3, seconds=1),
        ]
    )
    first = await hooks.next_delivery("a", 2, new_id)
    assert first is not None
    keys = ["lrs.statements.stored/0/3", "lrs.statements.stored/0/7"]
    assert (first.id, first.items, first.tenant) == (new_id("a", keys), keys, "acme")
    assert (first.state, first.attempts, first.created_at) == (OPEN, 0, T0 + timedelta(seconds=1))
    assert first.payloads == [{"offset": 3}, {"offset": 7}]
    assert (await hooks.status("a")).pending_items == 2
    assert await hooks.next_delivery("a", 2, new_id) == first  # until it is settled
    await hooks.delivered(first, Attempt(True, 200), T0)
    assert await pending_keys(hooks, "a") == [
        "lrs.statements.stored/1/4",
        "lrs.statements.stored/0/9",
    ]


async def test_items_a_delivery_already_holds_are_never_sent_again(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("a"))
    batch = [item("a", 1), item("a", 2, seconds=1)]
    await hooks.add_items(batch)
    delivery = await hooks.next_delivery("a", 1, new_id)
    assert delivery is not None
    await hooks.delivered(delivery, Attempt(True, 200), T0)
    await hooks.add_items([*batch, item("a", 3, seconds=2)])  # the consumer's batch, again
    assert await pending_keys(hooks, "a") == [
        "lrs.statements.stored/0/2",
        "lrs.statements.stored/0/3",
    ]


async def test_a_delivered_delivery_is_logged_without_payloads(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("a"))
    await hooks.add_items([item("a", 1)])
    delivery = await hooks.next_delivery("a", 5, new_id)
    assert delivery is not None
    done = T0 + timedelta(seconds=3)
    await hooks.delivered(delivery, Attempt(True, 200, conflicts=("s1",), rejected=("s2",)), done)
    (logged,) = await hooks.deliveries("a")
    assert logged == Delivery(
        delivery.id,
        "a",
        "acme",
        delivery.items,
        [],
        T0,
        state=DELIVERED,
        attempts=1,
        first_attempt_at=done,
        last_attempt_at=done,
        last_status=200,
        delivered_at=done,
        conflicts=["s1"],
        rejected=["s2"],
    )
    status = await hooks.status("a")
    assert (status.last_success_at, status.delivered_total) == (done, 1)
    assert (status.conflicts_total, status.rejected_total, status.open_deliveries) == (1, 1, 0)
    assert await hooks.next_delivery("a", 5, new_id) is None


async def test_a_delivery_sent_after_a_failure_keeps_its_first_attempt(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("a"))
    await hooks.add_items([item("a", 1)])
    delivery = await hooks.next_delivery("a", 5, new_id)
    assert delivery is not None
    t1, retry, t2 = (T0 + timedelta(seconds=s) for s in (1, 5, 6))
    await hooks.failed(delivery, Attempt(False, 503, "busy"), t1, retry)
    again = await hooks.next_delivery("a", 5, new_id)
    assert again is not None
    await hooks.delivered(again, Attempt(True, 200), t2)
    (logged,) = await hooks.deliveries("a")
    assert (logged.state, logged.attempts) == (DELIVERED, 2)
    assert (logged.first_attempt_at, logged.last_attempt_at, logged.delivered_at) == (t1, t2, t2)


async def test_failures_are_retried_then_dead_and_replayed(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("a"))
    await hooks.add_items([item("a", 1)])
    delivery = await hooks.next_delivery("a", 5, new_id)
    assert delivery is not None
    t1, t2, retry = (T0 + timedelta(seconds=s) for s in (1, 9, 5))
    await hooks.failed(delivery, Attempt(False, 503, "busy"), t1, retry)
    again = await hooks.next_delivery("a", 5, new_id)
    assert again is not None
    assert (again.id, again.state, again.attempts, again.payloads) == (
        delivery.id,
        OPEN,
        1,
        delivery.payloads,
    )
    assert (again.first_attempt_at, again.next_attempt_at, again.last_attempt_at) == (
        t1,
        retry,
        t1,
    )
    assert (again.last_status, again.last_error) == (503, "busy")
    await hooks.failed(again, Attempt(False, None, "refused"), t2, None)
    (dead,) = await hooks.deliveries("a", DEAD)
    assert (dead.attempts, dead.first_attempt_at, dead.last_attempt_at) == (2, t1, t2)
    assert await hooks.next_delivery("a", 5, new_id) is None
    status = await hooks.status("a")
    assert (status.dead_deliveries, status.failures_total) == (1, 2)
    assert (status.last_failure_at, status.last_error) == (t2, "refused")

    assert await hooks.replay_dead("a", ["unknown"]) == 0
    assert await hooks.replay_dead("a") == 1
    assert await hooks.replay_dead("a") == 0
    reopened = await hooks.next_delivery("a", 5, new_id)
    assert reopened is not None
    assert (reopened.id, reopened.state, reopened.attempts) == (delivery.id, OPEN, 0)
    assert (reopened.first_attempt_at, reopened.next_attempt_at) == (None, None)
    assert reopened.payloads == delivery.payloads


async def test_replay_opens_only_the_dead_deliveries_named(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("a"))
    await hooks.add_items([item("a", 1), item("a", 2, seconds=1)])
    dead_ids = []
    for _ in range(2):
        delivery = await hooks.next_delivery("a", 1, new_id)
        assert delivery is not None
        await hooks.failed(delivery, Attempt(False, 500, "down"), T0, None)
        dead_ids.append(delivery.id)
    assert await hooks.replay_dead("a", [dead_ids[1]]) == 1
    assert [d.id for d in await hooks.deliveries("a", OPEN)] == [dead_ids[1]]
    assert [d.id for d in await hooks.deliveries("a", DEAD)] == [dead_ids[0]]


async def test_the_log_is_newest_first_by_state_and_limited(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("a"))
    await hooks.add_items([item("a", n, seconds=n) for n in range(4)])
    for n in range(4):  # delivered, dead, delivered, left open
        delivery = await hooks.next_delivery("a", 1, new_id)
        assert delivery is not None
        if n == 1:
            await hooks.failed(delivery, Attempt(False, 500), T0, None)
        elif n != 3:
            await hooks.delivered(delivery, Attempt(True, 200), T0)
    logged = await hooks.deliveries("a")
    assert [d.items for d in logged] == [[f"lrs.statements.stored/0/{n}"] for n in (3, 2, 1, 0)]
    assert [d.state for d in logged] == [OPEN, DELIVERED, DEAD, DELIVERED]
    assert all(d.payloads == [] for d in logged)
    assert [d.created_at for d in await hooks.deliveries("a", limit=2)] == [
        T0 + timedelta(seconds=3),
        T0 + timedelta(seconds=2),
    ]
    delivered = await hooks.deliveries("a", DELIVERED)
    assert [d.created_at for d in delivered] == [T0 + timedelta(seconds=2), T0]
    assert [d.state for d in await hooks.deliveries("a", DEAD)] == [DEAD]
    assert await hooks.deliveries("nope") == []


async def test_pruning_forgets_only_deliveries_delivered_before(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("a"))
    await hooks.add_items([item("a", n, seconds=n) for n in range(3)])
    for n, outcome in enumerate(("early", "late", "failed")):
        delivery = await hooks.next_delivery("a", 1, new_id)
        assert delivery is not None
        at = T0 + timedelta(minutes=n)
        if outcome == "failed":
            await hooks.failed(delivery, Attempt(False, 500), at, None)
        else:
            await hooks.delivered(delivery, Attempt(True, 200), at)
    assert await hooks.prune(T0 + timedelta(seconds=30)) == 1
    assert await hooks.prune(T0 + timedelta(seconds=30)) == 0
    remaining = await hooks.deliveries("a")
    assert [(d.state, d.delivered_at) for d in remaining] == [
        (DEAD, None),
        (DELIVERED, T0 + timedelta(minutes=1)),
    ]


async def test_orphans_of_deleted_subscriptions_are_dropped(hooks: Webhooks) -> None:
    await hooks.insert_subscription(sub("kept"))
    await hooks.add_items([item("kept", 1), item("kept", 2, seconds=1), item("gone", 1)])
    assert await hooks.next_delivery("kept", 1, new_id) is not None
    assert await hooks.next_delivery("gone", 1, new_id) is not None  # recorded while deleted
    await hooks.add_items([item("gone", 2)])
    assert await hooks.totals() == {"pending_items": 2, "open_deliveries": 2, "dead_deliveries": 0}
    status = await hooks.status("kept")
    assert (status.pending_items, status.open_deliveries) == (1, 1)
    await hooks.drop_orphans()
    assert await hooks.totals() == {"pending_items": 1, "open_deliveries": 1, "dead_deliveries": 0}
    assert (await hooks.status("kept")).pending_items == 1


async def test_the_status_of_an_unknown_subscription_is_empty(hooks: Webhooks) -> None:
    status = await hooks.status("nope")
    assert (status.pending_items, status.open_deliveries, status.dead_deliveries) == (0, 0, 0)
    assert (status.oldest_pending_at, status.last_success_at, status.last_error) == (
        None,
        None,
        None,
    )
    assert (status.delivered_total, status.failures_total) == (0, 0)
