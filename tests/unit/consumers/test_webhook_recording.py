"""What the webhooks consumer records (consumers.webhooks.WebhookHandler), on the in-memory
adapters of its stores: one outbox item per matching subscription and stored statement, keyed
by the record's position; the learner's registry teams for `teams` filters; nothing for another
tenant's subscriptions or for learner-refresh triggers; an unusable record is dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from consumers.webhooks import WebhookHandler
from lrs import topics
from lrs.adapters.memory_progress import InMemoryProgressStore
from lrs.adapters.memory_webhooks import InMemoryWebhookStore
from lrs.codec import encode_accepted
from lrs.ports.statements import AcceptedStatement
from lrs.progress.registry import Team
from lrs.webhooks.filters import parse_filter
from lrs.webhooks.model import Item, Subscription
from lrs.xapi.ifi import actor_ifi
from tests.support.factories import VERBS, statement
from tests.support.records import StubRecord

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def sub(sub_id: str, tenant: str = "acme", **flt: Any) -> Subscription:
    return Subscription(
        sub_id, tenant, "webhook", "https://x.example/", "s" * 16, parse_filter(flt), NOW
    )


def stored(doc: dict[str, Any], offset: int, tenant: str = "acme") -> StubRecord:
    lrs_set = {
        "stored": NOW.isoformat(),
        "version": "1.0.0",
        "authority": {"mbox": "mailto:a@example.org"},
    }
    full = {**doc, **lrs_set}
    record = AcceptedStatement(tenant, full, NOW, actor_ifi(full["actor"]))
    message = encode_accepted(record, source="test")
    return StubRecord(
        topics.STORED_STATEMENTS, 1, offset, message.key, message.value, message.headers
    )


def handler(
    store: InMemoryWebhookStore, teams: dict[str, tuple[str, ...]] | None = None
) -> WebhookHandler:
    """The handler, reading these registry teams (team: members) of `acme`."""
    progress = InMemoryProgressStore()
    for team, members in (teams or {}).items():
        progress.registry.teams["acme", team] = Team("acme", team, team, NOW, members)
    return WebhookHandler(store, progress, lambda: NOW)


async def with_subscriptions(*subs: Subscription) -> InMemoryWebhookStore:
    store = InMemoryWebhookStore()
    for made in subs:
        await store.insert_subscription(made)
    return store


def recorded(store: InMemoryWebhookStore) -> list[Item]:
    return list(store.items.values())


async def test_one_item_per_matching_subscription_keyed_by_position() -> None:
    store = await with_subscriptions(
        sub("all"), sub("passed", verbs=[VERBS["passed"]]), sub("other", "b")
    )
    outcome = await handler(store).handle(
        [stored(statement(1, "passed"), 7), stored(statement(2, "failed"), 8)]
    )
    assert outcome.poison == []
    got = sorted((i.subscription, i.key) for i in recorded(store))
    assert got == [
        ("all", "lrs.statements.stored/1/7"),
        ("all", "lrs.statements.stored/1/8"),
        ("passed", "lrs.statements.stored/1/7"),
    ]
    assert {
        i.payload["statement"]["verb"]["id"] for i in recorded(store) if i.subscription == "passed"
    } == {VERBS["passed"]}


async def test_teams_come_from_the_registry() -> None:
    store = await with_subscriptions(sub("blue", teams=["blue"]))
    teams = {"blue": ("mbox:mailto:learner2@example.org",)}
    await handler(store, teams).handle([stored(statement(1), 1), stored(statement(2), 2)])
    assert [i.offset for i in recorded(store)] == [2]


async def test_refresh_triggers_are_skipped_and_unusable_records_dead_lettered() -> None:
    store = await with_subscriptions(sub("all"))
    refresh = StubRecord(
        topics.STORED_STATEMENTS,
        0,
        1,
        b"k",
        b"{}",
        [(topics.HEADER_CE_TYPE, topics.LEARNER_REFRESH_TYPE.encode())],
    )
    garbage = StubRecord(topics.STORED_STATEMENTS, 0, 2, b"k", b"not json")
    outcome = await handler(store).handle([refresh, garbage])
    assert recorded(store) == []
    assert [p.record for p in outcome.poison] == [garbage]


async def test_nothing_is_read_without_subscriptions() -> None:
    store = await with_subscriptions()
    garbage = StubRecord(topics.STORED_STATEMENTS, 0, 2, b"k", b"not json")
    outcome = await handler(store).handle([garbage])
    assert outcome.poison == []
    assert recorded(store) == []
