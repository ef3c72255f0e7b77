"""Fan-out of progress changes to live subscribers (the SSE streams of one API process).

A feed (`lrs.adapters.kafka_progress_feed`) publishes every `Change` it reads that the hub
`wants` (one some subscription watches: the feed decodes no other); the hub hands it to the
subscriptions registered for that (tenant, kind, entity), so a subscriber only ever sees
its own tenant's changes. Subscribers are learner streams and team channels (one per watched
team, lrs.services.team_channel, which fan out to their own listeners through the same kind of
queue). Each subscription has a bounded queue: a subscriber that falls behind is not allowed to
grow memory or slow the feed; its queue is dropped and it is told to re-read a snapshot instead
(`Overflow`), which is always correct because every value is a full summary, never a delta.

Goal progress (`lrs.progress.goal`, kind `goal`, entity = goal id) is also delivered to the
watchers of its owner (entity `learner:<id>`, `team:<id>` or `organisation`, the `?owner=` form)
and of every goal of the tenant (entity `*`): a goal stream does not know the goal ids it will
see (docs/decisions/0019-goals.md).

The feed reads a progress topic only while some subscription watches its kind
(docs/decisions/0035): they are most of what an API process's feed costs the broker, and most
of the time nobody watches, or only the organisation's figures (the dashboard's first view). A
stream therefore waits, before it reads its snapshot, until the feed says it is `following`
its kinds from their end (`followed`): a change published after that is delivered, one
published before is in the snapshot. Without a feed (tests, tools) the hub counts as followed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Generic, TypeVar

from lrs import metrics
from lrs.goals.learner import owner_key_of
from lrs.progress.changes import KINDS as KINDS
from lrs.progress.changes import Change as Change
from lrs.progress.changes import Kind as Kind

Key = tuple[str, str, str]  # (tenant, kind, entity)


class Overflow:
    """The subscriber's queue overflowed: changes were dropped, re-read a snapshot."""


class Closed:
    """The hub is shutting down: end the stream."""


class Wake:
    """Not a change: the subscription's owner nudges itself (a team channel with a new
    listener waiting for its snapshot, lrs.services.team_channel)."""


OVERFLOW = Overflow()
CLOSED = Closed()
WAKE = Wake()
T = TypeVar("T")


class Subscription(Generic[T]):
    """A bounded queue of items of type T; on overflow the backlog is dropped and `Overflow`
    is queued instead (the reader then re-reads a snapshot)."""

    def __init__(self, tenant: str, maxsize: int) -> None:
        self.tenant = tenant
        self.keys: set[Key] = set()
        self.kinds: set[Kind] = set()  # every kind it watched (a hub subscription)
        self._queue: asyncio.Queue[T | Overflow | Closed] = asyncio.Queue(maxsize)
        self._overflowed = False
        self._closed = False

    def offer(self, item: T | Closed) -> None:
        if self._closed:
            return
        if isinstance(item, Closed):
            self._closed = True
            self._drain()
            self._queue.put_nowait(item)
            return
        if self._overflowed:
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.resync()

    def resync(self) -> None:
        """Drop what is queued and tell the reader to re-read a snapshot (`Overflow`)."""
        if self._closed or self._overflowed:
            return
        self._overflowed = True
        self._drain()
        self._queue.put_nowait(OVERFLOW)

    async def next_within(self, seconds: float) -> T | Overflow | Closed | None:
        """The next item, or None when nothing came within `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                item = await self._queue.get()
        except TimeoutError:
            return None
        return self._taken(item)

    async def next(self) -> T | Overflow | Closed:
        return self._taken(await self._queue.get())

    def ready(self) -> list[T | Overflow | Closed]:
        """Every item queued now, without waiting."""
        items = []
        while not self._queue.empty():
            items.append(self._taken(self._queue.get_nowait()))
        return items

    def _taken(self, item: T | Overflow | Closed) -> T | Overflow | Closed:
        if isinstance(item, Overflow):
            self._overflowed = False
        return item

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()


ALL_GOALS = "*"


HubItem = Change | Wake
HubSubscription = Subscription[HubItem]


class ProgressHub:
    def __init__(self, queue_size: int = 256, follow_wait_seconds: float = 10.0) -> None:
        self._queue_size = queue_size
        self._by_key: dict[Key, set[HubSubscription]] = {}
        self._all: set[HubSubscription] = set()
        self._goal_keys: dict[str, int] = {}  # tenant -> its watched goal keys
        self.published = 0
        self._following = KINDS  # the kinds the feed reads (all until a feed says otherwise)
        self._moved = asyncio.Event()  # set, then replaced, whenever `_following` changes
        self._kinds: dict[Kind, int] = {}  # kind -> the subscriptions that watch it
        self._closed = False
        self._follow_wait = follow_wait_seconds
        self._unsynced: set[HubSubscription] = set()  # read a snapshot the feed did not follow
        self._running: set[HubSubscription] = set()  # past `followed`: reading its snapshot
        self.wake_feed = asyncio.Event()  # set by a stream waiting for the feed to follow

    @property
    def watched_kinds(self) -> frozenset[Kind]:
        """The kinds some open subscription watches (the feed reads the topics of these only)."""
        return frozenset(self._kinds)

    def following(self, kinds: frozenset[Kind]) -> None:
        """The feed says it reads the topics of these kinds from here on (from their end when
        it starts again), and no others. A stream that gave up waiting for its kinds re-reads
        its snapshot once they are followed (`Overflow`): what changed in between is in that
        read. So does a running stream whose kind the feed let go (it should not: the feed
        keeps every kind watched), and the feed is woken to follow it again."""
        for kind in KINDS:
            metrics.PROGRESS_FEED_FOLLOWING.labels(kind).set(int(kind in kinds))
        self._following = kinds
        self._moved.set()
        self._moved = asyncio.Event()
        dropped = {s for s in self._running if not self._is_followed(s)}
        if dropped:  # the feed let go of a kind a running stream watches: it is to re-read
            self._unsynced |= dropped
            self.wake_feed.set()
        synced = {s for s in self._unsynced if self._is_followed(s)}
        for subscription in synced:
            subscription.resync()
        self._unsynced -= synced

    def _is_followed(self, subscription: HubSubscription) -> bool:
        return self._closed or subscription.kinds <= self._following

    async def followed(self, subscription: HubSubscription) -> None:
        """Returns once the feed reads every change of the subscription's kinds published from
        now on, so that a snapshot read afterwards misses nothing. Waits at most
        `follow_wait_seconds` (the broker may be down): the subscription then re-reads its
        snapshot when the feed does follow."""
        if not self._is_followed(subscription):
            await self._wait_followed(subscription)
        if subscription in self._all:
            self._running.add(subscription)

    async def _wait_followed(self, subscription: HubSubscription) -> None:
        self.wake_feed.set()
        try:
            async with asyncio.timeout(self._follow_wait):
                while not self._is_followed(subscription):
                    await self._moved.wait()
        except TimeoutError:
            if not self._is_followed(subscription):  # it may have come in the same turn
                self._unsynced.add(subscription)

    @property
    def queue_size(self) -> int:
        return self._queue_size

    def subscribe(self, tenant: str) -> HubSubscription:
        subscription: HubSubscription = Subscription(tenant, self._queue_size)
        self._all.add(subscription)
        return subscription

    def watch(self, subscription: HubSubscription, kind: Kind, entities: Iterable[str]) -> None:
        """Deliver to `subscription` the changes of these entities of its tenant (replacing the
        entities of that kind it watched before). Its kinds are kept until it unsubscribes (a
        kind watched with no entity yet counts: the feed follows it). A kind watched once the
        stream runs, which the feed does not follow yet, wakes the feed; the subscription
        re-reads its snapshot when the feed follows it."""
        if kind not in subscription.kinds:
            subscription.kinds.add(kind)
            self._kinds[kind] = self._kinds.get(kind, 0) + 1
            if subscription in self._running and not self._is_followed(subscription):
                self._unsynced.add(subscription)
                self.wake_feed.set()
        wanted = {(subscription.tenant, kind, entity) for entity in entities}
        current = {key for key in subscription.keys if key[1] == kind}
        for key in current - wanted:
            self._forget(subscription, key)
        for key in wanted - current:
            if key not in self._by_key and kind == "goal":
                self._goal_keys[key[0]] = self._goal_keys.get(key[0], 0) + 1
            self._by_key.setdefault(key, set()).add(subscription)
        subscription.keys = (subscription.keys - current) | wanted

    def unsubscribe(self, subscription: HubSubscription) -> None:
        for key in list(subscription.keys):
            self._forget(subscription, key)
        subscription.keys = set()
        for kind in subscription.kinds:
            self._kinds[kind] -= 1
            if not self._kinds[kind]:
                del self._kinds[kind]
        subscription.kinds = set()
        self._all.discard(subscription)
        self._unsynced.discard(subscription)
        self._running.discard(subscription)

    def wants(self, kind: Kind, tenant: str, entity: str) -> bool:
        """Whether a change of this entity would reach a subscriber: the feed decodes only
        those (a goal's owner is in its value, so any goal watcher of the tenant wants every
        goal change of it)."""
        if kind == "goal":
            return tenant in self._goal_keys
        return (tenant, kind, entity) in self._by_key

    def publish(self, change: Change) -> None:
        self.published += 1
        if change.kind == "goal":
            self._publish_goal(change)
            return
        for subscription in list(self._by_key.get((change.tenant, change.kind, change.entity), ())):
            subscription.offer(change)

    def _publish_goal(self, change: Change) -> None:
        """Once to each watcher of the goal, of its owner or of all the tenant's goals."""
        entities = {change.entity, ALL_GOALS, owner_key_of(change.value)}
        subscribers: set[HubSubscription] = set()
        for entity in entities:
            subscribers.update(self._by_key.get((change.tenant, "goal", entity), ()))
        for subscription in list(subscribers):
            subscription.offer(change)

    def close(self) -> None:
        """Every stream ends; one waiting for the feed stops waiting (none will follow)."""
        self._closed = True
        self._moved.set()
        for subscription in list(self._all):
            subscription.offer(CLOSED)

    @property
    def subscribers(self) -> int:
        return len(self._all)

    def _forget(self, subscription: HubSubscription, key: Key) -> None:
        subscribers = self._by_key.get(key)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers and self._by_key.pop(key, None) is not None:
                self._forgot(key)

    def _forgot(self, key: Key) -> None:
        """No subscription watches `key` any more."""
        tenant, kind, _ = key
        if kind == "goal":
            left = self._goal_keys.pop(tenant, 1) - 1
            if left:
                self._goal_keys[tenant] = left
