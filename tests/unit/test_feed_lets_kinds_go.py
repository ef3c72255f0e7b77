"""When the progress feed follows a kind and when it lets one go (docs/decisions/0035): the
switch to a newly watched kind awaits the broker, and a stream may open meanwhile."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from lrs.adapters.kafka_progress_feed import KafkaProgressFeed
from lrs.services.progress_hub import ProgressHub

LEARNERS, TEAMS = TopicPartition("learners", 0), TopicPartition("teams", 0)


class SwitchingConsumer:
    """The part of a consumer the switch uses; `seek_to_end` waits until `let_seek` is set."""

    def __init__(self) -> None:
        self.paused: set[TopicPartition] = {LEARNERS, TEAMS}
        self.seeking = asyncio.Event()
        self.let_seek = asyncio.Event()

    def assignment(self) -> set[TopicPartition]:
        return {LEARNERS, TEAMS}

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        self.seeking.set()
        await self.let_seek.wait()

    async def position(self, partition: TopicPartition) -> int:
        return 7

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused -= set(partitions)


async def following_learners_unwatched_long_ago(
    hub: ProgressHub, consumer: SwitchingConsumer
) -> KafkaProgressFeed:
    """A feed that followed a learner stream, closed at 0 s (the switches it made: let through)."""
    feed = KafkaProgressFeed(
        "unused:9092", {"learners": "learner", "teams": "team"}, hub, unwatched_seconds=30.0
    )
    learner_stream = hub.subscribe("acme")
    hub.watch(learner_stream, "learner", ["ann"])
    consumer.let_seek.set()
    await feed._follow_if_watched(consumer, 0.0)
    hub.unsubscribe(learner_stream)
    await feed._follow_if_watched(consumer, 0.0)
    assert consumer.paused == {TEAMS}  # the learners' partitions are being fetched
    consumer.seeking.clear()
    consumer.let_seek.clear()
    return feed


async def test_a_stream_opened_during_the_switch_keeps_its_kind_followed() -> None:
    hub = ProgressHub()
    consumer = SwitchingConsumer()
    feed = await following_learners_unwatched_long_ago(hub, consumer)
    team_stream = hub.subscribe("acme")
    hub.watch(team_stream, "team", ["red"])
    switching = asyncio.create_task(feed._follow_if_watched(consumer, 100.0))
    await asyncio.wait_for(consumer.seeking.wait(), 5.0)
    learner_stream = hub.subscribe("acme")  # opens while the feed waits for the broker
    hub.watch(learner_stream, "learner", ["ann"])
    consumer.let_seek.set()
    await asyncio.wait_for(switching, 5.0)
    assert feed._following == {"learner", "team"}
    assert consumer.paused == set()  # both kinds fetched: the new stream misses nothing
    await asyncio.wait_for(hub.followed(learner_stream), 5.0)
    assert learner_stream.ready() == []  # nothing to read again


async def test_a_kind_nobody_watches_is_let_go_after_the_switch() -> None:
    hub = ProgressHub()
    consumer = SwitchingConsumer()
    feed = await following_learners_unwatched_long_ago(hub, consumer)
    team_stream = hub.subscribe("acme")
    hub.watch(team_stream, "team", ["red"])
    consumer.let_seek.set()
    await asyncio.wait_for(feed._follow_if_watched(consumer, 100.0), 5.0)
    assert feed._following == {"team"}
    assert consumer.paused == {LEARNERS}
