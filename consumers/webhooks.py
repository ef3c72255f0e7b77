"""Webhooks and forwarding (docs/decisions/0016): the `webhooks` consumer and its delivery
workers, in one process.

The consumer (`WebhookHandler`, on the shared runner) reads `lrs.statements.stored` and only
RECORDS, per matching subscription, one outbox item per statement (idempotent by subscription
and record position), then the runner commits. It never talks to a receiver, so a slow or dead
receiver cannot hold the partition, ingest or any other subscription.

The delivery pool (`DeliveryPool`, the consumer's companion task) runs one worker per active
subscription. A worker sends its subscription's deliveries one at a time, oldest first (so a
learner's statements arrive in their order), each with a stable id, signed (lrs.webhooks.signing);
a failure is retried with exponential backoff (LRS_WEBHOOKS_RETRY_*) by that worker alone, and
after LRS_WEBHOOKS_RETRY_FOR_SECONDS the delivery is dead-lettered (replayable) and the next one
is sent. Before every attempt the target's address is checked again (lrs.webhooks.targets).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from prometheus_client import Counter, Gauge, Histogram

from consumers.runner import NoWatermarks, Outcome, Poison, Record
from lrs import topics
from lrs.background import backoff_delay
from lrs.codec import UnusableMessage, decode_accepted, header
from lrs.ports.progress import RegistryMembership
from lrs.ports.webhooks import WebhookQueue
from lrs.progress import learner_id
from lrs.services.erasure import ErasedAgents, screen_records
from lrs.services.webhooks import Resolver, check_target, resolve
from lrs.settings import LrsSettings
from lrs.webhooks import signing
from lrs.webhooks.filters import ProgressEvent, matches_progress, matches_statement, needs_teams
from lrs.webhooks.model import Attempt, Delivery, Item, Subscription
from lrs.webhooks.targets import pinned
from lrs.xapi.errors import BadRequest

log = logging.getLogger("lrs.webhooks")
Clock = Callable[[], datetime]

DELIVERIES = Counter(
    "lrs_webhook_deliveries_total",
    "Delivery attempts by subscription kind and outcome (delivered, failed, dead_lettered)",
    ["kind", "outcome"],
)
CONFLICTS = Counter(
    "lrs_webhook_conflicts_total", "Forwarded statements the target refused with 409", ["kind"]
)
REJECTED = Counter(
    "lrs_webhook_rejected_total", "Forwarded statements the target refused with 400", ["kind"]
)
LATENCY = Histogram(
    "lrs_webhook_request_seconds", "Duration of one delivery's HTTP request(s)", ["kind"]
)
PENDING_ITEMS = Gauge("lrs_webhook_pending_items", "Events recorded but not yet in a delivery")
OPEN_DELIVERIES = Gauge("lrs_webhook_open_deliveries", "Deliveries waiting to be sent or retried")
DEAD_DELIVERIES = Gauge("lrs_webhook_dead_deliveries", "Dead-lettered deliveries (replayable)")
HOUSEKEEPING_SECONDS = 15.0
SUBSCRIPTIONS = Gauge("lrs_webhook_subscriptions", "Subscriptions by state", ["state"])


class WebhookHandler(NoWatermarks):
    """Runner handler of the `webhooks` consumer (group `<prefix>-webhooks`)."""

    name = "webhooks"

    def __init__(
        self,
        store: WebhookQueue,
        progress: RegistryMembership,
        clock: Clock,
        erased: ErasedAgents | None = None,  # erased learners (docs/erasure.md)
    ) -> None:
        self._store = store
        self._progress = progress
        self._clock = clock
        self._erased = erased
        self._ready = False

    async def handle(self, records: Sequence[Record]) -> Outcome:
        if not self._ready:
            await self._store.create_indexes()
            self._ready = True
        subs = [s for s in await self._store.list_subscriptions() if s.filter.statements]
        if not subs:
            return Outcome()
        records = await screen_records(self._erased, records)  # erased learners' old records
        by_tenant, poison = _statements_by_tenant(records)
        now = self._clock()
        items: list[Item] = []
        for tenant, found in by_tenant.items():
            mine = [s for s in subs if s.tenant == tenant]
            if mine:
                items += await self._items(tenant, mine, found, now)
        await self._store.add_items(items)
        return Outcome(poison=poison)

    async def _items(
        self,
        tenant: str,
        subs: Sequence[Subscription],
        found: Sequence[tuple[Record, dict[str, Any]]],
        now: datetime,
    ) -> list[Item]:
        teams: Mapping[str, set[str]] = {}
        if any(needs_teams(s.filter) for s in subs):
            learners = {learner_id(statement) for _, statement in found}
            teams = await self._progress.registry_teams_of(tenant, learners)
        items = []
        for record, statement in found:
            its_teams = frozenset(teams.get(learner_id(statement), ()))
            key = signing.item_key(topics.STORED_STATEMENTS, record.partition, record.offset)
            for sub in subs:
                if matches_statement(sub.filter, statement, its_teams):
                    payload = {"type": "statement", "statement": statement}
                    items.append(_item(sub, record, key, now, "statement", payload))
        return items


class ProgressWebhookHandler(NoWatermarks):
    """Runner handler of the `webhooks-learner-progress` / `webhooks-team-progress` consumers:
    records, per subscription with `progress` in its filter, the learner's or team's new
    progress value (`lrs.progress.learner` / `lrs.progress.team`, docs/decisions/0006)."""

    def __init__(
        self,
        store: WebhookQueue,
        clock: Clock,
        kind: str,
        erased: ErasedAgents | None = None,  # learners only: a team key names no learner
    ) -> None:
        self.name = f"webhooks-{kind}-progress"
        self._store, self._clock, self._kind = store, clock, kind
        self._erased = erased
        self._topic = topics.LEARNER_PROGRESS if kind == "learner" else topics.TEAM_PROGRESS

    async def handle(self, records: Sequence[Record]) -> Outcome:
        subs = [s for s in await self._store.list_subscriptions() if s.filter.progress]
        if not subs:
            return Outcome()
        records = await screen_records(self._erased, records)
        poison: list[Poison] = []
        items: list[Item] = []
        now = self._clock()
        for record in records:
            try:
                found = self._event(record)
            except ValueError as exc:  # orjson's decode error is one
                poison.append(Poison(record, exc))
                continue
            if found is None:
                continue
            tenant, event, value = found
            key = signing.item_key(self._topic, record.partition, record.offset)
            payload = {"type": f"{self._kind}-progress", "progress": value}
            for sub in subs:
                if sub.tenant == tenant and matches_progress(sub.filter, event):
                    items.append(_item(sub, record, key, now, self._kind, payload))
        await self._store.add_items(items)
        return Outcome(poison=poison)

    def _event(self, record: Record) -> tuple[str, ProgressEvent, dict[str, Any]] | None:
        """(tenant, event, value); None for a tombstone (an erased learner or team)."""
        if record.value is None or record.key is None:
            return None
        tenant, entity = topics.split_key(record.key)
        value = orjson.loads(record.value)
        if not isinstance(value, dict):
            raise UnusableMessage("a progress value is a JSON object")
        if self._kind == "team":
            return tenant, ProgressEvent("team", team=entity), value
        teams = frozenset(t for t in value.get("teams") or () if isinstance(t, str))
        return tenant, ProgressEvent("learner", learner=entity, teams=teams), value


Found = list[tuple[Record, dict[str, Any]]]


def _statements_by_tenant(records: Sequence[Record]) -> tuple[dict[str, Found], list[Poison]]:
    """The stored statements of a batch by tenant, and the records that cannot be used."""
    poison: list[Poison] = []
    by_tenant: dict[str, Found] = {}
    for record in records:
        try:
            tenant, statement = _statement_of(record)
        except ValueError as exc:
            poison.append(Poison(record, exc))
            continue
        if tenant is not None and statement is not None:
            by_tenant.setdefault(tenant, []).append((record, statement))
    return by_tenant, poison


def _item(
    sub: Subscription, record: Record, key: str, now: datetime, kind: str, payload: dict[str, Any]
) -> Item:
    learner = topics.split_key(record.key)[1] if record.key and kind != "team" else ""
    item_kind = "statement" if kind == "statement" else "progress"
    return Item(
        sub.id, sub.tenant, key, now, record.partition, record.offset, item_kind, payload, learner
    )


def _statement_of(record: Record) -> tuple[str | None, dict[str, Any] | None]:
    """(tenant, statement) of a stored statement; (None, None) for another record type
    (learner-refresh triggers share the topic). ValueError: unusable."""
    kind = header(record.headers, topics.HEADER_CE_TYPE)
    if kind == topics.LEARNER_REFRESH_TYPE:
        return None, None
    if kind not in (None, topics.STATEMENT_ACCEPTED_TYPE):
        raise UnusableMessage(f"unknown record type {kind!r}")
    accepted = decode_accepted(record.value, record.headers)
    return accepted.tenant, dict(accepted.statement)


@dataclass(frozen=True)
class DeliveryConfig:
    batch_max: int = 100
    retry_initial_seconds: float = 10.0
    retry_max_seconds: float = 600.0
    retry_for_seconds: float = 24 * 3600.0
    timeout_seconds: float = 10.0
    poll_seconds: float = 1.0
    allow_private: bool = False
    lease_seconds: float = 60.0
    log_retention_seconds: float = 7 * 24 * 3600.0

    @classmethod
    def of(cls, s: LrsSettings) -> DeliveryConfig:
        return cls(
            batch_max=s.webhooks_batch_max,
            retry_initial_seconds=s.webhooks_retry_initial_seconds,
            retry_max_seconds=s.webhooks_retry_max_seconds,
            retry_for_seconds=s.webhooks_retry_for_seconds,
            timeout_seconds=s.webhooks_timeout_seconds,
            poll_seconds=s.webhooks_poll_seconds,
            allow_private=s.webhooks_allow_private_targets,
            lease_seconds=s.webhooks_lease_seconds,
            log_retention_seconds=s.webhooks_log_retention_seconds,
        )


class Sender:
    """Sends one delivery once: a signed webhook batch or an xAPI forward."""

    def __init__(
        self, client: httpx.AsyncClient, config: DeliveryConfig, resolver: Resolver = resolve
    ) -> None:
        self._client = client
        self._config = config
        self._resolver = resolver

    async def send(self, sub: Subscription, delivery: Delivery, now: datetime) -> Attempt:
        try:
            addresses = await check_target(sub.url, self._config.allow_private, self._resolver)
        except BadRequest as exc:
            return Attempt(ok=False, error=exc.message)
        address = addresses[0]
        started = time.perf_counter()
        try:
            if sub.kind == "forward":
                return await self._forward(sub, delivery, address)
            return await self._webhook(sub, delivery, now, address)
        except httpx.HTTPError as exc:
            return Attempt(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        finally:
            LATENCY.labels(sub.kind).observe(time.perf_counter() - started)

    async def _webhook(
        self, sub: Subscription, delivery: Delivery, now: datetime, address: str
    ) -> Attempt:
        body = webhook_body(sub, delivery)
        stamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            signing.HEADER_ID: delivery.id,
            signing.HEADER_TIMESTAMP: str(stamp),
            signing.HEADER_SIGNATURE: signing.signature(sub.secret, stamp, body),
            signing.HEADER_SUBSCRIPTION: sub.id,
        }
        to = pinned(sub.url, address)
        answer = await self._client.post(
            to.url, content=body, headers={**headers, **to.headers}, extensions=to.extensions
        )
        return _plain(answer)

    async def _forward(self, sub: Subscription, delivery: Delivery, address: str) -> Attempt:
        """xAPI Communication 2.1.2: POST the batch with its ids. A 409 (one of them conflicts
        with a stored statement) or a 400 (one of them is refused, e.g. its attachment is not
        sent) refuses the whole batch: it is narrowed down with one PUT per statement, so the
        others are stored and the refused ones recorded, never retried."""
        statements = forwarded_statements(delivery)
        to = pinned(sub.url.rstrip("/") + "/statements", address)
        url, extensions = to.url, to.extensions
        auth = httpx.BasicAuth(sub.username or "", sub.secret)
        headers = {"X-Experience-API-Version": sub.xapi_version, **to.headers}
        answer = await self._client.post(
            url, json=statements, headers=headers, auth=auth, extensions=extensions
        )
        if answer.status_code not in (400, 409):
            return _plain(answer)
        conflicts: list[str] = []
        rejected: list[str] = []
        for statement in statements:
            one = await self._client.put(
                url,
                params={"statementId": statement["id"]},
                json=statement,
                headers=headers,
                auth=auth,
                extensions=extensions,
            )
            if one.status_code == 409:
                conflicts.append(statement["id"])
            elif one.status_code == 400:
                rejected.append(statement["id"])
            elif not one.is_success:
                return _plain(one)
        return Attempt(
            ok=True,
            status=answer.status_code,
            conflicts=tuple(conflicts),
            rejected=tuple(rejected),
        )


def _plain(answer: httpx.Response) -> Attempt:
    if answer.is_success:
        return Attempt(ok=True, status=answer.status_code)
    return Attempt(ok=False, status=answer.status_code, error=f"HTTP {answer.status_code}")


def webhook_body(sub: Subscription, delivery: Delivery) -> bytes:
    """The JSON a webhook receives (docs/webhooks.md)."""
    return orjson.dumps(
        {
            "delivery_id": delivery.id,
            "subscription": sub.id,
            "tenant": delivery.tenant,
            "statements": [p["statement"] for p in delivery.payloads if "statement" in p],
            "progress": [
                {"type": p["type"], "value": p["progress"]}
                for p in delivery.payloads
                if "progress" in p
            ],
        }
    )


def forwarded_statements(delivery: Delivery) -> list[dict[str, Any]]:
    """The statements as the target LRS gets them: with their ids, without `stored` (the
    target sets its own, Data 2.4.8)."""
    return [
        {k: v for k, v in p["statement"].items() if k != "stored"}
        for p in delivery.payloads
        if "statement" in p
    ]


class SubscriptionWorker:
    """Sends one subscription's deliveries in order, with its own backoff."""

    def __init__(
        self,
        store: WebhookQueue,
        sender: Sender,
        config: DeliveryConfig,
        clock: Clock,
        sub: Subscription,
        owner: str,
    ) -> None:
        self._store, self._sender, self._config = store, sender, config
        self._clock, self.sub, self._owner = clock, sub, owner

    async def release(self) -> None:
        """Give up the lease (a graceful stop): another process may take over at once."""
        await self._store.release(self.sub.id, self._owner)

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                wait = await self.step()
                failures = 0
            except Exception:  # the store unreachable, a bug: this subscription waits, alone
                failures += 1
                log.exception("webhooks: worker of %s failed (%d in a row)", self.sub.id, failures)
                wait = backoff_delay(failures, self._config.poll_seconds, 60.0)
            await asyncio.sleep(wait)

    async def step(self) -> float:
        """Send the next delivery if one is due; how long to wait before the next step."""
        cfg = self._config
        start = self._clock()
        lease_end = start + timedelta(seconds=cfg.lease_seconds)
        if not await self._store.claim(self.sub.id, self._owner, start, lease_end):
            return cfg.poll_seconds  # another process's worker sends this subscription
        delivery = await self._store.next_delivery(self.sub.id, cfg.batch_max, signing.delivery_id)
        if delivery is None:
            return cfg.poll_seconds
        now = self._clock()
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return min(cfg.poll_seconds, (delivery.next_attempt_at - now).total_seconds())
        attempt = await self._sender.send(self.sub, delivery, now)
        done = self._clock()
        if attempt.ok:
            await self._store.delivered(delivery, attempt, done)
            DELIVERIES.labels(self.sub.kind, "delivered").inc()
            CONFLICTS.labels(self.sub.kind).inc(len(attempt.conflicts))
            REJECTED.labels(self.sub.kind).inc(len(attempt.rejected))
            return 0.0
        retry_at = self._retry_at(delivery, done)
        await self._store.failed(delivery, attempt, done, retry_at)
        DELIVERIES.labels(self.sub.kind, "failed" if retry_at else "dead_lettered").inc()
        log.warning("webhooks: delivery %s to %s failed: %s", delivery.id, self.sub.id, attempt)
        return 0.0

    def _retry_at(self, delivery: Delivery, now: datetime) -> datetime | None:
        """When to try again, or None: retried long enough, dead-letter it."""
        cfg = self._config
        first = delivery.first_attempt_at or now
        if (now - first).total_seconds() >= cfg.retry_for_seconds:
            return None
        delay = backoff_delay(
            delivery.attempts + 1, cfg.retry_initial_seconds, cfg.retry_max_seconds
        )
        return now + timedelta(seconds=delay)


class DeliveryPool:
    """One worker task per active subscription, started, stopped (paused, deleted) and
    counted every `poll_seconds`."""

    def __init__(
        self,
        store: WebhookQueue,
        config: DeliveryConfig,
        clock: Clock,
        resolver: Resolver = resolve,
    ) -> None:
        self._store, self._config, self._clock = store, config, clock
        self._resolver = resolver
        self._owner = uuid.uuid4().hex  # this pool's name on the leases it holds
        self._ready = False
        self._next_housekeeping = 0.0
        self._workers: dict[str, tuple[SubscriptionWorker, asyncio.Task[None]]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        timeout = httpx.Timeout(self._config.timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            sender = Sender(client, self._config, self._resolver)
            try:
                while not stop.is_set():
                    try:
                        await self._reconcile(sender)
                    except Exception:  # the store unreachable: the workers wait on their own
                        log.exception("webhooks: listing subscriptions failed")
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._config.poll_seconds):
                            await stop.wait()
            except asyncio.CancelledError:
                await self._stop_all(release=False)  # as a kill would: the leases run out
                raise
            await self._stop_all(release=True)

    async def _reconcile(self, sender: Sender) -> None:
        if not self._ready:
            await self._store.create_indexes()
            self._ready = True
        subs = await self._store.list_subscriptions()
        active = {s.id: s for s in subs if not s.paused}
        for sub_id in [i for i in self._workers if i not in active]:
            worker, task = self._workers.pop(sub_id)
            await _cancel(task)
            await worker.release()
        for sub_id, sub in active.items():
            running = self._workers.get(sub_id)
            if running is None or running[1].done():
                worker = SubscriptionWorker(
                    self._store, sender, self._config, self._clock, sub, self._owner
                )
                self._workers[sub_id] = (worker, asyncio.create_task(worker.run()))
        SUBSCRIPTIONS.labels("active").set(len(active))
        SUBSCRIPTIONS.labels("paused").set(len(subs) - len(active))
        if time.monotonic() >= self._next_housekeeping:
            await self._housekeeping()
            self._next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS

    async def _housekeeping(self) -> None:
        """The delivery log's retention, orphans, and the gauges (counting is not free: not
        on every look for work)."""
        retention = timedelta(seconds=self._config.log_retention_seconds)
        await self._store.prune(self._clock() - retention)
        await self._store.drop_orphans()
        totals = await self._store.totals()
        PENDING_ITEMS.set(totals["pending_items"])
        OPEN_DELIVERIES.set(totals["open_deliveries"])
        DEAD_DELIVERIES.set(totals["dead_deliveries"])

    async def _stop_all(self, *, release: bool) -> None:
        workers, self._workers = list(self._workers.values()), {}
        for worker, task in workers:
            await _cancel(task)
            if release:
                with contextlib.suppress(Exception):
                    await worker.release()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
