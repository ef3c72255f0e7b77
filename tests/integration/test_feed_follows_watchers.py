"""An API process's feed reads the progress topics only while a stream is open (docs/decisions/
0035), on the real broker: without one it fetches the stored statements only; the first stream
waits until the feed follows the progress topics from their end, then gets every change
published afterwards and none from before; the feed lets them go once the last stream closed.
A dozing feed (a doze of five minutes here) is woken by the stream, not by the doorbell. A
progress topic created after the feed started is found and read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from lrs import topics
from lrs.adapters.doorbell import Doorbell, doorbell_ringer, listening_doorbell
from lrs.adapters.kafka_bus import ensure_topics
from lrs.adapters.kafka_progress_feed import KafkaProgressFeed
from lrs.services.progress_hub import Change, HubSubscription, Kind, ProgressHub
from lrs.settings import LrsSettings
from tests.conftest import Infra, unique_name
from tests.support.polling import eventually
from tests.support.stack import prepared_settings

pytestmark = pytest.mark.integration
WITHIN = 20.0
FOLLOWED_WITHIN = 10.0  # far shorter than the hub's own wait (WITHIN)
DOZE_SECONDS = 300.0  # far beyond the test: only a stream (or a ring) ends a doze
DISCOVER_SECONDS = 0.2


class StoredIds:
    """The stored sink: the ids the feed told."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def stored(self, event_id: str, value: bytes | None = None) -> None:
        self.ids.append(event_id)

    def feed_up(self) -> None: ...

    def feed_down(self) -> None: ...


@pytest.fixture
async def settings(infra: Infra) -> LrsSettings:
    return await prepared_settings(infra, unique_name("follow"))


@asynccontextmanager
async def running_feed(
    settings: LrsSettings,
    hub: ProgressHub,
    stored: StoredIds,
    bell: Doorbell | None = None,
    learner_topic: str | None = None,
    organisation: bool = False,  # the organisation progress topic too
) -> AsyncIterator[KafkaProgressFeed]:
    assert settings.kafka_bootstrap
    read: dict[str, Kind] = {learner_topic or settings.topic(topics.LEARNER_PROGRESS): "learner"}
    if organisation:
        read[settings.topic(topics.ORGANISATION_PROGRESS)] = "organisation"
    feed = KafkaProgressFeed(
        settings.kafka_bootstrap,
        read,
        hub,
        stored=(settings.topic(topics.STORED_STATEMENTS), stored),
        unwatched_seconds=0.0,
        idle_after=0.2,
        bell=bell,
        doze_seconds=DOZE_SECONDS,
        discover_seconds=DISCOVER_SECONDS,
    )
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


async def produce(
    settings: LrsSettings, *records: tuple[str, bytes, list[tuple[str, bytes]]], entity: str = "ann"
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for topic, value, headers in records:
            key = f"default{topics.KEY_SEPARATOR}{entity}".encode()
            await producer.send_and_wait(topic, value, key=key, partition=0, headers=headers)
    finally:
        await producer.stop()


def progress(
    settings: LrsSettings, version: int, topic: str | None = None
) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    topic = topic or settings.topic(topics.LEARNER_PROGRESS)
    return (topic, orjson.dumps({"version": version}), [])


def stored_statement(
    settings: LrsSettings, event_id: str
) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    headers = [
        (topics.HEADER_CE_ID, event_id.encode()),
        (topics.HEADER_CE_TYPE, topics.STATEMENT_ACCEPTED_TYPE.encode()),
    ]
    return (settings.topic(topics.STORED_STATEMENTS), b"{}", headers)


async def versions_within(subscription: HubSubscription, count: int) -> list[int]:
    """The versions of the next `count` changes (fewer if they do not come in time)."""
    seen: list[int] = []
    while len(seen) < count:
        item = await subscription.next_within(WITHIN)
        if item is None:
            break
        assert isinstance(item, Change), item
        seen.append(item.version)
    return seen


async def watching_ann(
    hub: ProgressHub, kind: Kind = "learner", entity: str = "ann"
) -> HubSubscription:
    subscription = hub.subscribe("default")
    hub.watch(subscription, kind, [entity])
    async with asyncio.timeout(FOLLOWED_WITHIN):  # the wake works: no wait for a timeout
        await hub.followed(subscription)
    return subscription


async def test_the_progress_topics_are_read_while_a_stream_is_open_and_from_their_end(
    settings: LrsSettings,
) -> None:
    hub, stored = ProgressHub(follow_wait_seconds=WITHIN), StoredIds()
    learner_topic = settings.topic(topics.LEARNER_PROGRESS)
    stored_topic = settings.topic(topics.STORED_STATEMENTS)
    async with running_feed(settings, hub, stored) as feed:
        assert feed.fetched_topics() == {stored_topic}
        await produce(settings, progress(settings, 1), stored_statement(settings, "s1"))

        async def told() -> list[str]:
            return stored.ids

        assert await eventually(told, bool, within=WITHIN, every=0.05) == ["s1"]

        first = await watching_ann(hub)
        assert feed.fetched_topics() == {stored_topic, learner_topic}
        await produce(settings, progress(settings, 2))
        assert await versions_within(first, 1) == [2]  # not 1: published before the stream
        hub.unsubscribe(first)

        async def assigned() -> set[str]:
            return feed.fetched_topics()

        assert await eventually(assigned, lambda t: t == {stored_topic}, within=WITHIN) == {
            stored_topic
        }
        await produce(settings, progress(settings, 3))
        second = await watching_ann(hub)
        await produce(settings, progress(settings, 4), progress(settings, 5))
        assert await versions_within(second, 2) == [4, 5]


async def test_a_stream_wakes_a_dozing_feed(settings: LrsSettings, tmp_path: Path) -> None:
    hub, stored = ProgressHub(follow_wait_seconds=WITHIN), StoredIds()
    bell = listening_doorbell(tmp_path / "bells", "api", 0.2)
    assert bell is not None
    dozes: list[float] = []
    original = bell.wait

    async def counted(seconds: float) -> bool:
        dozes.append(seconds)
        return await original(seconds)

    bell.wait = counted  # type: ignore[method-assign]
    try:
        async with running_feed(settings, hub, stored, bell):

            async def dozing() -> list[float]:
                return dozes

            assert await eventually(dozing, bool, within=WITHIN, every=0.05) == [DOZE_SECONDS]
            subscription = await watching_ann(hub)
            await produce(settings, progress(settings, 7))
            ring = doorbell_ringer(tmp_path / "bells", 0.2)
            assert ring is not None
            ring()  # as the progress consumer does after producing: the feed dozes again
            assert await versions_within(subscription, 1) == [7]
    finally:
        bell.close()


async def test_a_progress_topic_created_after_the_start_is_found(settings: LrsSettings) -> None:
    assert settings.kafka_bootstrap
    hub, stored = ProgressHub(follow_wait_seconds=WITHIN), StoredIds()
    late, stored_topic = unique_name("late-progress"), settings.topic(topics.STORED_STATEMENTS)
    async with running_feed(settings, hub, stored, learner_topic=late) as feed:
        subscription = await watching_ann(hub)  # followed: the topic has no partition yet
        await ensure_topics(settings.kafka_bootstrap, [topics.TopicSpec(late, 1)], 1)

        async def fetched() -> set[str]:
            return feed.fetched_topics()

        assert await eventually(fetched, lambda t: late in t, within=WITHIN) == {
            stored_topic,
            late,
        }
        await produce(settings, progress(settings, 3, late), stored_statement(settings, "s3"))
        assert await versions_within(subscription, 1) == [3]

        async def told() -> list[str]:
            return stored.ids

        assert await eventually(told, bool, within=WITHIN, every=0.05) == ["s3"]


async def test_only_the_kinds_some_stream_watches_are_read(settings: LrsSettings) -> None:
    """An organisation stream (the dashboard's first view) makes the feed read the
    organisation's topic, not the learners'; a learner stream adds the learners' until it
    closes. A stream of a kind the feed reads no topic of does not wait for it."""
    hub, stored = ProgressHub(follow_wait_seconds=WITHIN), StoredIds()
    learner_topic = settings.topic(topics.LEARNER_PROGRESS)
    org_topic = settings.topic(topics.ORGANISATION_PROGRESS)
    stored_topic = settings.topic(topics.STORED_STATEMENTS)
    org_entity = topics.ORGANISATION_ENTITY
    async with running_feed(settings, hub, stored, organisation=True) as feed:
        assert feed.fetched_topics() == {stored_topic}
        team = hub.subscribe("default")
        hub.watch(team, "team", ["red"])
        await hub.followed(team)  # a kind this feed reads no topic of: nothing to wait for
        assert not hub.wake_feed.is_set()
        hub.unsubscribe(team)
        org = await watching_ann(hub, "organisation", org_entity)
        assert feed.fetched_topics() == {stored_topic, org_topic}
        await produce(settings, (org_topic, orjson.dumps({"version": 1}), []), entity=org_entity)
        assert await versions_within(org, 1) == [1]

        ann = await watching_ann(hub)
        assert feed.fetched_topics() == {stored_topic, org_topic, learner_topic}
        await produce(settings, progress(settings, 2))
        assert await versions_within(ann, 1) == [2]
        hub.unsubscribe(ann)

        async def fetched() -> set[str]:
            return feed.fetched_topics()

        assert await eventually(fetched, lambda t: learner_topic not in t, within=WITHIN) == {
            stored_topic,
            org_topic,
        }
        await produce(settings, (org_topic, orjson.dumps({"version": 3}), []), entity=org_entity)
        assert await versions_within(org, 1) == [3]


async def test_after_a_rewind_while_nobody_watches_a_stream_gets_only_what_follows(
    settings: LrsSettings,
) -> None:
    """A rewind (the embedded broker restarted) assigns every partition anew, from its
    beginning: the progress ones stay paused, and a stream opened afterwards starts at their
    end."""
    hub, stored = ProgressHub(follow_wait_seconds=WITHIN), StoredIds()
    stored_topic = settings.topic(topics.STORED_STATEMENTS)
    async with running_feed(settings, hub, stored) as feed:
        await produce(settings, progress(settings, 1), stored_statement(settings, "s1"))

        async def told() -> list[str]:
            return stored.ids

        assert await eventually(told, bool, within=WITHIN, every=0.05) == ["s1"]
        feed.rewind()
        assert await eventually(told, lambda ids: len(ids) == 2, within=WITHIN, every=0.05) == [
            "s1",
            "s1",
        ]  # read again from the beginning
        assert feed.fetched_topics() == {stored_topic}
        ann = await watching_ann(hub)
        await produce(settings, progress(settings, 2))
        assert await versions_within(ann, 1) == [2]
